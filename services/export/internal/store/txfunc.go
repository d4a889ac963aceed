package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/bcosdata/bcosdata/services/export/internal/contract"
)

// TxTables are a registry's typed tables as TransactionDetail reads a transaction's rows in
// them: in the same round trip as the transaction and its logs, through a PL/pgSQL function
// generated from the tables. The function picks the tables as the registry does when it
// decodes (the constructor's, or the method's of the selector, of the contract deployed at
// the address called or created; the event's of each log's topic 0 of the contract deployed
// at the log's address) and runs one static statement per picked table, each keeping its
// cached plan. A single statement over every table cost PostgreSQL more than the round trip
// it saved (it opens every table each time). The function is named by its text, so instances
// with different registries share a database, and created the first time it is needed.
// Build TxTables once per registry.
type TxTables struct {
	tables []*contract.Table
	fn     string // the function's qualified name; empty without tables
	ddl    string
	query  string // the statement TransactionDetail reads the rows with
}

// How the function tells the kinds of typed tables apart.
const (
	txKindMethod = iota
	txKindConstructor
	txKindEvent
)

// NewTxTables prepares the look-up of a transaction's rows in tables.
func NewTxTables(tables []*contract.Table) *TxTables {
	tt := &TxTables{tables: tables}
	if len(tables) == 0 {
		return tt
	}
	var picks, branches []string
	for i, t := range tables {
		kind := txKindMethod
		switch t.Kind {
		case contract.ConstructorTable:
			kind = txKindConstructor
		case contract.EventTable:
			kind = txKindEvent
		}
		picks = append(picks, fmt.Sprintf("(%d, '%s', %d, '\\x%s'::bytea)", i, strings.ReplaceAll(t.Contract, "'", "''"), kind, hex.EncodeToString(t.ID)))
		order := ""
		if t.Kind == contract.EventTable {
			order = " ORDER BY r.log_index"
		}
		branches = append(branches, fmt.Sprintf(`    WHEN %d THEN RETURN QUERY SELECT %s
        FROM export.%s r WHERE r.block_number = f.bn AND r.transaction_index = f.ti%s;`,
			i, decodedColumns(i, t), pgx.Identifier{t.Name}.Sanitize(), order))
	}
	// The function's variables are qualified by its block's label and its argument is $1: a
	// typed table's column may have any of their names, and an unqualified name is the column
	// (use_column, so that the result's column names, which decodedColumns' unqualified names
	// share, do not shadow the tables').
	body := fmt.Sprintf(`
#variable_conflict use_column
<<f>>
DECLARE bn bigint; ti integer; toa bytea; ca bytea; sel bytea; k integer;
BEGIN
  SELECT x.block_number, x.transaction_index, x.to_address, x.contract_address, x.selector INTO f.bn, f.ti, f.toa, f.ca, f.sel
    FROM export.transactions x WHERE x.hash = $1 ORDER BY x.block_number LIMIT 1;
  IF NOT FOUND THEN RETURN; END IF;
  FOR f.k IN
    SELECT DISTINCT r.i FROM (VALUES %s) AS r(i, contract, kind, id) JOIN (
      SELECT d.contract, CASE WHEN f.toa IS NULL THEN %d ELSE %d END AS kind, CASE WHEN f.toa IS NULL THEN '\x'::bytea ELSE f.sel END AS id
        FROM export.deployments d WHERE d.address = coalesce(f.toa, f.ca)
      UNION ALL
      SELECT d.contract, %d, l.topics[1] FROM export.logs l JOIN export.deployments d ON d.address = l.address
        WHERE l.block_number = f.bn AND l.transaction_hash = $1) p
    ON p.contract = r.contract AND p.kind = r.kind AND p.id = r.id ORDER BY r.i
  LOOP
    CASE f.k
%s
    END CASE;
  END LOOP;
END f`, strings.Join(picks, ", "), txKindConstructor, txKindMethod, txKindEvent, strings.Join(branches, "\n"))
	tag := "$body$" // quotes the body: one that no contract name in it contains
	for i := 0; strings.Contains(body, tag); i++ {
		tag = fmt.Sprintf("$body%d$", i)
	}
	sum := sha256.Sum256([]byte(body))
	tt.fn = "export." + pgx.Identifier{"transaction_decoded_" + hex.EncodeToString(sum[:8])}.Sanitize()
	tt.ddl = `CREATE FUNCTION ` + tt.fn + `(h bytea) RETURNS TABLE (t integer, block_number bigint, block_time timestamptz,
	transaction_hash bytea, transaction_index integer, log_index integer, from_address bytea, status integer,
	contract_address bytea, vals text[]) LANGUAGE plpgsql STABLE AS ` + tag + body + tag
	tt.query = fmt.Sprintf(`SELECT * FROM %s($1) ORDER BY log_index LIMIT %d`, tt.fn, MaxDecodedPerTx)
	return tt
}

// functionLockKey is the advisory lock under which instances create TxTables' functions
// (concurrent CREATE FUNCTIONs of one name race in the catalog).
const functionLockKey = int64(0x62636f7366756e31) // "bcosfun1"

// decodedFunction returns tt's function ("" without tables), created unless it exists.
func (s *Store) decodedFunction(ctx context.Context, tt *TxTables) (string, error) {
	if tt == nil || tt.fn == "" {
		return "", nil
	}
	if _, made := s.functions.Load(tt.fn); made {
		return tt.fn, nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, functionLockKey); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regprocedure($1) IS NOT NULL`, tt.fn+"(bytea)").Scan(&exists); err != nil || exists {
			return err
		}
		_, err := tx.Exec(ctx, tt.ddl)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("create the function reading transactions' typed rows: %w", err)
	}
	s.functions.Store(tt.fn, true)
	return tt.fn, nil
}
