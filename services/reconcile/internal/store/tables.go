package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// A run with a grouping strategy keeps its business rows and chain records in two tables of
// its own (migration 004): UNLOGGED (a crash loses them, and a run a crash interrupted loads
// again anyway), without indexes (the matching reads all of them and hash-joins), created by
// the run and dropped when it ends. Every name starts with run_<id>_ (earlier versions also
// kept a one-to-one run's matching in parts, run_<id>_<what>_<part>).

func businessTable(id int64) string { return "run_" + strconv.FormatInt(id, 10) + "_business" }
func chainTable(id int64) string    { return "run_" + strconv.FormatInt(id, 10) + "_chain" }

func qualified(table string) string { return Schema + "." + table }

// BusinessTable names the run's business table, schema-qualified.
func BusinessTable(id int64) string { return qualified(businessTable(id)) }

// ChainTable names the run's chain table, schema-qualified.
func ChainTable(id int64) string { return qualified(chainTable(id)) }

// DropRunTables drops the run's tables, however many parts its matching had.
func DropRunTables(ctx context.Context, tx pgx.Tx, id int64) error {
	rows, err := tx.Query(ctx, `SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables
		WHERE schemaname = $1 AND tablename LIKE $2`, Schema, "run\\_"+strconv.FormatInt(id, 10)+"\\_%")
	if err != nil {
		return fmt.Errorf("drop tables of run %d: %w", id, err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		return err
	}
	if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+strings.Join(tables, ", ")); err != nil {
		return fmt.Errorf("drop tables of run %d: %w", id, err)
	}
	return nil
}

// createBusinessTable creates the run's business table: a row per line of the file, malformed
// ones included, with the canonical texts of the job's comparators: keys (and key, them joined
// with KeySep) and fields in the job's order, raw the values as read.
func createBusinessTable(ctx context.Context, tx pgx.Tx, id int64) error {
	return createRunTable(ctx, tx, businessTable(id), `
    line   integer NOT NULL,
    key    text    NOT NULL,
    keys   text[]  NOT NULL,
    fields text[]  NOT NULL,
    raw    text[]  NOT NULL,
    amount numeric,
    error  text -- a malformed row: file, line, column, reason; its key is empty`)
}

// createChainTable creates the run's chain table: the chain records of its window projected
// onto the job's fields as canonical texts.
func createChainTable(ctx context.Context, tx pgx.Tx, id int64) error {
	return createRunTable(ctx, tx, chainTable(id), `
    transaction_hash text    NOT NULL,
    log_index        integer NOT NULL,
    block_number     bigint  NOT NULL,
    key              text    NOT NULL,
    keys             text[]  NOT NULL,
    fields           text[]  NOT NULL,
    raw              text[]  NOT NULL,
    amount           numeric`)
}

func createRunTable(ctx context.Context, tx pgx.Tx, table, columns string) error {
	q := `DROP TABLE IF EXISTS ` + qualified(table) + `;
CREATE UNLOGGED TABLE ` + qualified(table) + ` (` + columns + `
)`
	if _, err := tx.Exec(ctx, q); err != nil {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	return nil
}
