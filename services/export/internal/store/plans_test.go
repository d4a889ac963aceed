package store_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// TestListPagesArePlannedOnce checks that the query API's sessions plan a list's page once
// and reuse the plan, instead of planning it again at every request: with the page's
// LIMIT and block bound as parameters, PostgreSQL's default (auto) judged the generic plan
// dearer than one for the values at hand, and planning a page cost more than reading it.
func TestListPagesArePlannedOnce(t *testing.T) {
	t.Parallel()
	_, st := openInitialized(t)
	ctx := t.Context()
	tb := transferTable()
	var rows []store.TypedRow
	for i := range 30 {
		rows = append(rows, store.TypedRow{Table: tb, BlockNumber: uint64(i / 3), BlockTime: time.Unix(int64(i), 0),
			TxHash: append(make([]byte, 31), byte(i)), TxIndex: uint32(i % 3), ContractAddress: make([]byte, 20), Values: []any{int64(i)}})
	}
	write(t, st, func(tx *store.Tx) error {
		if _, err := tx.CreateTypedTable(ctx, tb); err != nil {
			return err
		}
		return tx.WriteTyped(ctx, rows)
	})

	// More pages than the executions after which PostgreSQL's default settles on a plan (5).
	const pages = 12
	for i := range pages {
		from := uint64(i % 10)
		q := store.TypedQuery{Tables: []*contract.Table{tb}, Span: store.Span{FromBlock: &from},
			Conds: []store.Cond{{Column: "amount", Op: ">=", Value: "1", Cast: "numeric"}}}
		if _, _, err := st.Decoded(ctx, q, store.Page{Limit: 2 + i%3}); err != nil {
			t.Fatal(err)
		}
	}

	// Every session of the API's pool, held at once so that each is asked once.
	reads := st.ReadPool()
	var held []*pgxpool.Conn
	defer func() {
		for _, c := range held {
			c.Release()
		}
	}()
	var generic, custom int64
	for range store.ReadConns {
		c, err := reads.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		var g, cu int64
		if err := c.QueryRow(ctx, `SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0)
			FROM pg_prepared_statements WHERE statement LIKE $1`, `%export."token_transfer"%`).Scan(&g, &cu); err != nil {
			t.Fatal(err)
		}
		generic, custom = generic+g, custom+cu
	}
	if generic+custom != pages {
		t.Fatalf("the sessions ran %d pages (generic %d, custom %d), want %d", generic+custom, generic, custom, pages)
	}
	if custom != 0 {
		t.Fatalf("%d of %d pages were planned for their values (custom plans); want every one run on the statement's generic plan", custom, pages)
	}
}
