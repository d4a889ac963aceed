package store_test

import (
	"math/big"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// TestListsEndAtTheContiguousHeight stores blocks out of order, as several partitions do, and
// checks that lists show blocks only up to the first one still missing: a page token past
// block 2 must not pass over block 3 stored later.
func TestListsEndAtTheContiguousHeight(t *testing.T) {
	t.Parallel()
	_, st := openInitialized(t)
	ctx := t.Context()
	writeBlocks := func(numbers ...uint64) {
		t.Helper()
		var blocks []store.Block
		for _, n := range numbers {
			blocks = append(blocks, store.Block{Number: n, Hash: []byte{byte(n)}, Parent: []byte{byte(n - 1)}, Time: time.UnixMilli(int64(n) * 1000),
				TimestampMS: n * 1000, GasUsed: new(big.Int)})
		}
		write(t, st, func(tx *store.Tx) error { return tx.WriteBase(ctx, blocks, nil, nil, 0) })
	}
	listed := func() []uint64 {
		t.Helper()
		got, _, err := st.Blocks(ctx, store.Span{}, store.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, b := range got {
			out = append(out, b.Number)
		}
		return out
	}
	if got := listed(); len(got) != 0 {
		t.Fatalf("no block stored: listed %v", got)
	}
	writeBlocks(0, 1, 2, 4, 5)
	if got := listed(); len(got) != 3 || got[2] != 2 {
		t.Fatalf("blocks 0-2 and 4-5 stored: listed %v, want 0 1 2", got)
	}
	writeBlocks(6)
	if got := listed(); len(got) != 3 {
		t.Fatalf("block 3 still missing: listed %v, want 0 1 2", got)
	}
	writeBlocks(3)
	if got := listed(); len(got) != 7 || got[6] != 6 {
		t.Fatalf("every block 0-6 stored: listed %v, want 0 to 6", got)
	}
}
