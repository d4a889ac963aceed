package store

import (
	"fmt"
	"slices"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fixtures"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	"github.com/bcosdata/bcosdata/services/stash/internal/state"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// TestLoadKeepsEachBlocksFieldList stores the real 0.binlog with one table's field list
// changed part-way, as a node upgrade changes a table: a field added from block 8 on (inside the
// first batch) and the fields reordered from block 15 on (in the second). Every stored block
// must come back with the field list its record had, also after the store is reopened, so that
// republishing and re-verifying it give the same bytes.
func TestLoadKeepsEachBlocksFieldList(t *testing.T) {
	recs, err := binlog.ReadFile(fixtures.Path(t, "binlog", "0.binlog"), binlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := verify.NewVerifier(cryptosuite.ECDSA())
	const table = "_sys_current_state_"
	var blocks []*verify.Block
	for _, rec := range recs {
		b, err := v.Check(&verify.Candidate{Number: rec.BlockNumber, Record: rec})
		if err != nil {
			t.Fatal(err)
		}
		st := state.Find(b.State, table)
		if st == nil {
			t.Fatalf("block %d does not write %s", b.Number, table)
		}
		if b.Number >= 8 {
			st.Fields = append(slices.Clone(st.Fields), "upgrade_note")
			for i := range st.Rows {
				st.Rows[i].Values = append(slices.Clone(st.Rows[i].Values), state.Value{Data: fmt.Appendf(nil, "n%d", b.Number), Set: true})
			}
		}
		if b.Number >= 15 {
			slices.Reverse(st.Fields)
			for i := range st.Rows {
				slices.Reverse(st.Rows[i].Values)
			}
		}
		blocks = append(blocks, b)
	}

	pool := pgtest.NewPool(t)
	ctx := t.Context()
	s, err := Open(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Init(ctx, "chain0", 1); err != nil {
		t.Fatal(err)
	}
	for _, batch := range [][]*verify.Block{blocks[:12], blocks[12:]} {
		if err := s.Apply(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	reopened, err := Open(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []*Store{s, reopened} {
		for _, want := range blocks {
			got, err := st.Load(ctx, want.Number)
			if err != nil {
				t.Fatal(err)
			}
			w, g := state.Find(want.State, table), state.Find(got.State, table)
			if g == nil {
				t.Fatalf("block %d: %s not loaded", want.Number, table)
			}
			if g.KeyField != w.KeyField || !slices.Equal(g.Fields, w.Fields) {
				t.Errorf("block %d: loaded %s with key %q fields %q, the record had key %q fields %q",
					want.Number, table, g.KeyField, g.Fields, w.KeyField, w.Fields)
				continue
			}
			if gd, wd := state.BlockDigest(want.Number, want.Hash, true, got.State), state.BlockDigest(want.Number, want.Hash, true, want.State); gd != wd {
				t.Errorf("block %d: change-set loaded back digests to %x, stored %x", want.Number, gd, wd)
			}
		}
	}
}
