package state_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
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

// TestBlockDigestHashesTheEncoding checks that the digest, which hashes the encoding as it is
// produced, is SHA-256 of AppendEncoding's bytes for a change-set far larger than its buffer.
func TestBlockDigestHashesTheEncoding(t *testing.T) {
	tables := []state.Table{
		{Name: "t_big", KeyField: "k", Fields: []string{"v", "w"}},
		{Name: "_sys_tx_hash_2_block_", KeyField: "hash", Fields: []string{"value", "index"}},
	}
	for i := range 5000 {
		for j := range tables {
			tables[j].Rows = append(tables[j].Rows, state.Row{ID: uint64(5000 - i), Status: uint8(i % 2),
				Key:    state.Value{Data: fmt.Appendf(nil, "key-%05d", i*7919%5000), Set: true},
				Values: []state.Value{{Data: bytes.Repeat([]byte{byte(i)}, i%97), Set: true}, {Set: i%3 == 0}}})
		}
	}
	var hash [32]byte
	hash[0] = 9
	enc := state.AppendEncoding(nil, 77, hash, true, tables)
	if len(enc) < 256<<10 {
		t.Fatalf("encoding of %d bytes does not exercise the digest's buffering", len(enc))
	}
	if got, want := state.BlockDigest(77, hash, true, tables), state.Digest(sha256.Sum256(enc)); got != want {
		t.Fatalf("BlockDigest = %x, SHA-256 of the encoding = %x", got, want)
	}
}
