package state_test

import (
	"slices"
	"testing"

	"github.com/bcosdata/bcosdata/services/stash/internal/state"
)

func clone(ts []state.Table) []state.Table {
	out := slices.Clone(ts)
	for i := range out {
		out[i].Fields = slices.Clone(out[i].Fields)
		out[i].Rows = slices.Clone(out[i].Rows)
		for j := range out[i].Rows {
			out[i].Rows[j].Values = slices.Clone(out[i].Rows[j].Values)
		}
	}
	return out
}

// TestDigestCoversWhatNodesAgreeOn checks that the digest ignores exactly what honest nodes may
// store differently for one block (their sealer signature subsets, the ids of
// _sys_tx_hash_2_block_ rows, the order things are listed in) and changes with everything else.
func TestDigestCoversWhatNodesAgreeOn(t *testing.T) {
	n, hash, base := exampleBlock()
	want := state.BlockDigest(n, hash, true, base)
	cases := []struct {
		name string
		edit func([]state.Table)
		same bool
	}{
		{"tables listed in another order", func(ts []state.Table) { slices.Reverse(ts) }, true},
		{"rows listed in another order", func(ts []state.Table) { slices.Reverse(ts[0].Rows) }, true},
		{"another signature subset in the block value", func(ts []state.Table) { ts[2].Rows[0].Values[0] = state.Value{Data: []byte("other"), Set: true} }, true},
		{"transaction rows with other ids", func(ts []state.Table) { ts[1].Rows[0].ID, ts[1].Rows[1].ID = 5, 7 }, true},
		{"a row marked dirty instead of new", func(ts []state.Table) { ts[0].Rows[1].Kind = state.KindDirty }, true},
		{"a contract value", func(ts []state.Table) { ts[0].Rows[0].Values[0] = state.Value{Data: []byte("v3"), Set: true} }, false},
		{"an absent field made empty", func(ts []state.Table) { ts[0].Rows[1].Values[0] = state.Value{Data: []byte{}, Set: true} }, false},
		{"a row deleted", func(ts []state.Table) { ts[0].Rows[0].Status = 1 }, false},
		{"a row id", func(ts []state.Table) { ts[0].Rows[0].ID = 4 }, false},
		{"a transaction index", func(ts []state.Table) { ts[1].Rows[0].Values[1] = state.Value{Data: []byte("2"), Set: true} }, false},
		{"a table dropped", func(ts []state.Table) { ts[0].Rows = nil }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := clone(base)
			tc.edit(ts)
			got := state.BlockDigest(n, hash, true, ts)
			if (got == want) != tc.same {
				t.Errorf("digest changed = %v, want %v", got != want, !tc.same)
			}
		})
	}
	if state.BlockDigest(n, hash, false, nil) == want {
		t.Error("a block without its change-set has the digest of one with it")
	}
}

// TestCheckpointChains checks that each checkpoint depends on the whole history.
func TestCheckpointChains(t *testing.T) {
	a := state.NextCheckpoint(state.Digest{}, state.Digest{1})
	b := state.NextCheckpoint(a, state.Digest{2})
	b2 := state.NextCheckpoint(state.NextCheckpoint(state.Digest{}, state.Digest{9}), state.Digest{2})
	if b == b2 {
		t.Fatal("the same block on different histories gives the same checkpoint")
	}
}
