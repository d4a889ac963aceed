package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// A run keeps its business rows and chain records in two tables of its own (migration 004),
// and the matching its keys and staged results, part by part, in others (StageMatch):
// UNLOGGED (a crash loses them, and a run a crash interrupted loads again anyway), without
// indexes (the matching reads all of them and hash-joins), created by the run and dropped
// when it ends. Every name starts with run_<id>_.

func businessTable(id int64) string { return "run_" + strconv.FormatInt(id, 10) + "_business" }
func chainTable(id int64) string    { return "run_" + strconv.FormatInt(id, 10) + "_chain" }
func partTable(id int64, what string, part int) string {
	return "run_" + strconv.FormatInt(id, 10) + "_" + what + "_" + strconv.Itoa(part)
}

func qualified(table string) string { return Schema + "." + table }

// BusinessTable and ChainTable name the run's tables, schema-qualified.
func BusinessTable(id int64) string { return qualified(businessTable(id)) }

// ChainTable names the run's chain table, schema-qualified.
func ChainTable(id int64) string { return qualified(chainTable(id)) }

// KeyTable names a part's key table (StageMatch), schema-qualified.
func KeyTable(id int64, part int) string { return qualified(partTable(id, "keys", part)) }

// businessPart and chainPart name a part's partition of the run's business and chain tables.
func businessPart(id int64, part int) string { return qualified(partTable(id, "business", part)) }
func chainPart(id int64, part int) string    { return qualified(partTable(id, "chain", part)) }

// StageTable names a part's staged chain-only results (StageMatch), schema-qualified.
func StageTable(id int64, part int) string { return qualified(partTable(id, "stage", part)) }

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
// with KeySep) and fields in the job's order, raw the values as read. It is hash-partitioned
// on key into parts UNLOGGED partitions (partitionRunTable), one per part of the matching.
func createBusinessTable(ctx context.Context, tx pgx.Tx, id int64, parts int) error {
	return createRunTable(ctx, tx, id, "business", parts, `
    line   integer NOT NULL,
    key    text    NOT NULL,
    keys   text[]  NOT NULL,
    fields text[]  NOT NULL,
    raw    text[]  NOT NULL,
    amount numeric,
    error  text -- a malformed row: file, line, column, reason; its key is empty`)
}

// CreateChainTable creates the run's chain table: the chain records of its window projected
// onto the job's fields as canonical texts, hash-partitioned on key as the business table is.
// fix marks a record ProjectChain left to the caller.
func CreateChainTable(ctx context.Context, tx pgx.Tx, id int64, parts int) error {
	return createRunTable(ctx, tx, id, "chain", parts, `
    transaction_hash text    NOT NULL,
    log_index        integer NOT NULL,
    block_number     bigint  NOT NULL,
    key              text    NOT NULL,
    keys             text[]  NOT NULL,
    fields           text[]  NOT NULL,
    raw              text[]  NOT NULL,
    amount           numeric,
    fix              boolean NOT NULL DEFAULT false`)
}

// createRunTable creates run_<id>_<what> partitioned by hash of key into parts UNLOGGED
// partitions run_<id>_<what>_<p> (a partitioned table itself cannot be UNLOGGED; it holds no
// rows). A part of the matching reads its partition of each side only.
func createRunTable(ctx context.Context, tx pgx.Tx, id int64, what string, parts int, columns string) error {
	parts = max(parts, 1)
	parent := qualified("run_" + strconv.FormatInt(id, 10) + "_" + what)
	q := `DROP TABLE IF EXISTS ` + parent + `;
CREATE TABLE ` + parent + ` (` + columns + `
) PARTITION BY HASH (key);`
	for p := range parts {
		q += fmt.Sprintf("\nCREATE UNLOGGED TABLE %s PARTITION OF %s FOR VALUES WITH (MODULUS %d, REMAINDER %d);",
			qualified(partTable(id, what, p)), parent, parts, p)
	}
	if _, err := tx.Exec(ctx, q); err != nil {
		return fmt.Errorf("create %s table of run %d: %w", what, id, err)
	}
	return nil
}

// Selection selects the records of a job's chain side in a window.
type Selection struct {
	Kind, Contract, Name string
	Start, End           int64 // block time [Start, End) in ms
}

// ProjectedColumn is a key or field of a projection in SQL over reconcile.records (alias r).
type ProjectedColumn struct {
	// Value is the chain field's text, NULL when the record has no such field.
	Value string
	// Canonical returns the comparator's canonical text of a text expression, NULL where SQL
	// does not decide it (such a record is left to the caller, see ProjectChain).
	Canonical func(v string) string
}

// ProjectedFilter keeps records whose Value, in ASCII lower case, is one of Lower (ASCII
// lower-case texts); records whose value is not ASCII are left to the caller.
type ProjectedFilter struct {
	Value string
	Lower []string
}

// Projection is a job's chain side in SQL.
type Projection struct {
	Selection
	Keys, Fields []ProjectedColumn
	Filters      []ProjectedFilter
	Amount       int // index of the amount in Fields, -1 for none
	// Sealed is the prefix of values ingest stored encrypted (fieldcrypt.SealedPrefix); a
	// record with such a value among those projected is left to the caller. Empty: none.
	Sealed string
}

// ProjectChain projects the records p selects into the run's chain table (CreateChainTable)
// in one INSERT … SELECT, canonical texts computed in SQL. Records with a value SQL does not
// canonicalize, or a filter value it does not decide, are taken out again and handed to fix as
// rows of reconcile.records (the columns RecordColumns names), for the caller to project in Go
// and add with CopyChainRows.
func ProjectChain(ctx context.Context, tx pgx.Tx, id int64, p Projection, fix func(pgx.Rows) error) error {
	// Three layers, each evaluated once per record (OFFSET 0 keeps a layer from being inlined
	// into the next): the values read from the record (a parameter's ->> once, not once per
	// use in its canonical expression), their canonical texts, and the row.
	var vals, cols, canon, checks, where []string
	sealed := func(string) string { return "false" }
	if p.Sealed != "" {
		sealed = func(v string) string {
			return "coalesce(starts_with(" + v + ", " + quoteLiteral(p.Sealed) + "), false)"
		}
	}
	for i, k := range p.Keys {
		n := strconv.Itoa(i)
		vals = append(vals, k.Value+" AS kv"+n)
		cols = append(cols, k.Canonical("coalesce(kv"+n+", '')")+" AS k"+n, sealed("kv"+n)+" AS s"+n)
		canon = append(canon, "k"+n)
		checks = append(checks, "k"+n+" IS NULL", "s"+n)
	}
	var fields, raws []string
	for i, f := range p.Fields {
		n := strconv.Itoa(i)
		vals = append(vals, f.Value+" AS v"+n)
		cols = append(cols, "v"+n, f.Canonical("v"+n)+" AS f"+n)
		fields = append(fields, "f"+n)
		raws = append(raws, "coalesce(v"+n+", '')")
		checks = append(checks, "(f"+n+" IS NULL AND v"+n+" IS NOT NULL)", sealed("v"+n))
	}
	for i, f := range p.Filters {
		n := strconv.Itoa(i)
		v := "uv" + n
		vals = append(vals, f.Value+" AS "+v)
		ascii := "octet_length(" + v + ") = char_length(" + v + ")"
		lits := make([]string, len(f.Lower))
		for j, l := range f.Lower {
			lits[j] = quoteLiteral(l)
		}
		in := "false"
		if len(lits) > 0 {
			in = "lower(" + v + ` COLLATE "C") IN (` + strings.Join(lits, ", ") + ")"
		}
		undecided := "(NOT (" + ascii + ") OR " + sealed(v) + ")"
		cols = append(cols, undecided+" AS u"+n)
		where = append(where, "("+v+" IS NOT NULL AND ("+undecided+" OR "+in+"))")
		checks = append(checks, "u"+n)
	}
	key := "''"
	if len(canon) > 0 {
		key = strings.Join(canon, " || E'\\x1f' || ")
	}
	amount := "NULL::numeric"
	if p.Amount >= 0 {
		amount = "f" + strconv.Itoa(p.Amount) + "::numeric"
	}
	fix0 := "false"
	if len(checks) > 0 {
		fix0 = strings.Join(checks, " OR ")
	}
	arr := func(xs []string) string {
		if len(xs) == 0 {
			return "'{}'::text[]"
		}
		return "ARRAY[" + strings.Join(xs, ", ") + "]"
	}
	keysArr := arr(canon)
	whereClause := ""
	if len(where) > 0 {
		whereClause = "\n\tWHERE " + strings.Join(where, " AND ")
	}
	q := `INSERT INTO ` + ChainTable(id) + ` (transaction_hash, log_index, block_number, key, keys, fields, raw, amount, fix)
SELECT transaction_hash, log_index, block_number, coalesce(` + key + `, ''), coalesce(` + keysArr + `, '{}'), ` + arr(fields) + `, ` + arr(raws) + `, ` +
		`CASE WHEN ` + fix0 + ` THEN NULL ELSE ` + amount + ` END, ` + fix0 + `
FROM (SELECT transaction_hash, log_index, block_number` + prefixComma(cols) + `
	FROM (SELECT r.transaction_hash, r.log_index, r.block_number` + prefixComma(vals) + `
		FROM reconcile.records r
		WHERE r.kind = $1 AND r.contract_name = $2 AND (r.name = $3 OR r.signature = $3) AND r.block_timestamp_ms >= $4 AND r.block_timestamp_ms < $5
		OFFSET 0) v` + whereClause + `
	OFFSET 0) s`
	// The planner's costs of these expressions are far over the mark: JIT compiling them
	// takes longer than running them.
	if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
		return fmt.Errorf("project chain records of run %d: %w", id, err)
	}
	if _, err := tx.Exec(ctx, q, p.Kind, p.Contract, p.Name, p.Start, p.End); err != nil {
		return fmt.Errorf("project chain records of run %d: %w", id, err)
	}
	rows, err := tx.Query(ctx, `WITH d AS (DELETE FROM `+ChainTable(id)+` WHERE fix RETURNING transaction_hash, log_index)
SELECT `+RecordColumns+` FROM reconcile.records r JOIN d USING (transaction_hash, log_index)
WHERE r.kind = $1 AND r.contract_name = $2 AND (r.name = $3 OR r.signature = $3)
ORDER BY r.block_number, r.log_index, r.transaction_hash`, p.Kind, p.Contract, p.Name)
	if err != nil {
		return fmt.Errorf("project chain records of run %d: %w", id, err)
	}
	defer rows.Close()
	if err := fix(rows); err != nil {
		return err
	}
	return AnalyzeChain(ctx, tx, id)
}

// AnalyzeChain gathers the statistics of the run's chain table once it is filled.
func AnalyzeChain(ctx context.Context, tx pgx.Tx, id int64) error {
	return analyze(ctx, tx, ChainTable(id))
}

// RecordColumns are the columns of reconcile.records (alias r) a projection in Go reads.
const RecordColumns = `r.transaction_hash, r.log_index, r.block_number, r.block_timestamp_ms, r.contract_address, r.contract_name, r.name,
	r.from_address, r.status, r.params`

func prefixComma(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return ", " + strings.Join(xs, ", ")
}
