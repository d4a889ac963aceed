package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// TestTypedTablesAreKeyedInPageOrder checks that a typed table's primary key is the order the
// API pages it in, so that PostgreSQL reads a page as a range of the index instead of reading
// and sorting every row of the page's first block; and that a table an older export created
// keyed by transaction hash is rekeyed, once, keeping its rows.
func TestTypedTablesAreKeyedInPageOrder(t *testing.T) {
	t.Parallel()
	pool, st := openInitialized(t)
	ctx := t.Context()
	tb := transferTable()
	newKey := "PRIMARY KEY (block_number, transaction_index, log_index)"
	oldDDL := strings.Replace(store.TableDDL(tb), newKey, "PRIMARY KEY (block_number, transaction_hash, log_index)", 1)
	if oldDDL == store.TableDDL(tb) {
		t.Fatalf("TableDDL does not declare %s:\n%s", newKey, oldDDL)
	}
	if _, err := pool.Exec(ctx, oldDDL); err != nil {
		t.Fatal(err)
	}
	// One block whose transactions' hashes run opposite to their indexes.
	var rows []store.TypedRow
	for i := range 6 {
		rows = append(rows, store.TypedRow{Table: tb, BlockNumber: 1, BlockTime: time.Unix(1, 0), TxHash: append(make([]byte, 31), byte(100-i)),
			TxIndex: uint32(i), LogIndex: 0, ContractAddress: make([]byte, 20), Values: []any{int64(i)}})
	}
	write(t, st, func(tx *store.Tx) error { return tx.WriteTyped(ctx, rows) })
	if plan := pagePlan(t, pool, tb.Name); !strings.Contains(plan, "Sort") {
		t.Fatalf("keyed by hash, a page sorts the block (the test's premise); the plan does not:\n%s", plan)
	}

	for i, want := range []bool{true, false} {
		var rekeyed bool
		write(t, st, func(tx *store.Tx) (err error) {
			rekeyed, err = tx.CreateTypedTable(ctx, tb)
			return err
		})
		if rekeyed != want {
			t.Fatalf("CreateTypedTable #%d rekeyed the table: %v, want %v", i+1, rekeyed, want)
		}
	}
	if plan := pagePlan(t, pool, tb.Name); strings.Contains(plan, "Sort") {
		t.Fatalf("a page of the rekeyed table still sorts:\n%s", plan)
	}
	stored, err := pool.Query(ctx, `SELECT ARRAY[transaction_index, amount::int] FROM export.token_transfer ORDER BY block_number, transaction_index, log_index`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(stored, pgx.RowTo[[]int32])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rows) {
		t.Fatalf("rekeyed table holds %d rows, want %d", len(got), len(rows))
	}
	for i, r := range got {
		if len(r) != 2 || r[0] != int32(i) || r[1] != int32(i) {
			t.Fatalf("row %d: transaction %d, amount %d; want %d, %d", i, r[0], r[1], i, i)
		}
	}
	// A row written again after the rekey is not a second copy.
	write(t, st, func(tx *store.Tx) error { return tx.WriteTyped(ctx, rows[:1]) })
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM export.token_transfer`).Scan(&n); err != nil || n != len(rows) {
		t.Fatalf("after writing a stored row again: %d rows (%v), want %d", n, err, len(rows))
	}
}

// transferTable is a typed table of Token's Transfer(uint256) events, token_transfer.
func transferTable() *contract.Table {
	return &contract.Table{Name: "token_transfer", Kind: contract.EventTable, Contract: "Token", Item: "Transfer",
		Signature: "Transfer(uint256)", ID: make([]byte, 32), Columns: []contract.Column{{Name: "amount", Param: "amount", ABIType: "uint256", SQLType: "numeric(78,0)"}}}
}

// write runs f in a store transaction and commits it.
func write(t *testing.T, st *store.Store, f func(tx *store.Tx) error) {
	t.Helper()
	tx, err := st.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	if err := f(tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// pagePlan explains a page of table in the natural order from a block, with sorts and
// sequential scans discouraged so that a table of a few rows plans as a large one would.
func pagePlan(t *testing.T, pool *pgxpool.Pool, table string) string {
	t.Helper()
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	if _, err := tx.Exec(t.Context(), `SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off`); err != nil {
		t.Fatal(err)
	}
	var plan []string
	rows, err := tx.Query(t.Context(), `EXPLAIN (COSTS OFF) SELECT * FROM export.`+pgx.Identifier{table}.Sanitize()+`
		WHERE block_number >= 1 ORDER BY block_number, transaction_index, log_index LIMIT 3`)
	if err != nil {
		t.Fatal(err)
	}
	if plan, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}
