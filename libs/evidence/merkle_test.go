package evidence_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bcosdata/bcosdata/libs/evidence"
)

// The reference below is RFC 6962 §2.1 written as the RFC states it (MTH and PATH by recursion
// on k, the largest power of two below n), independent of the library under test.

func refLeaf(entry []byte) [32]byte { return sha256.Sum256(append([]byte{0}, entry...)) }

func refNode(l, r [32]byte) [32]byte {
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func splitK(n int) int {
	k := 1
	for k*2 < n {
		k *= 2
	}
	return k
}

func refMTH(leaves [][32]byte) [32]byte {
	switch n := len(leaves); n {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	default:
		k := splitK(n)
		return refNode(refMTH(leaves[:k]), refMTH(leaves[k:]))
	}
}

func refPath(m int, leaves [][32]byte) [][32]byte {
	n := len(leaves)
	if n <= 1 {
		return nil
	}
	k := splitK(n)
	if m < k {
		return append(refPath(m, leaves[:k]), refMTH(leaves[k:]))
	}
	return append(refPath(m-k, leaves[k:]), refMTH(leaves[:k]))
}

func leavesOf(n int) [][32]byte {
	out := make([][32]byte, n)
	for i := range out {
		out[i] = refLeaf([]byte{byte(i), byte(i >> 8), 0xee})
	}
	return out
}

type vectors struct {
	LeafInputs []string `json:"leaf_inputs"`
	Roots      []string `json:"roots"`
	Paths      []struct {
		Index, Size uint64
		Path        []string
	} `json:"paths"`
}

func h32(t *testing.T, s string) [32]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad hash %q in testdata", s)
	}
	return [32]byte(b)
}

func TestRFC6962KnownAnswers(t *testing.T) {
	raw, err := os.ReadFile("testdata/rfc6962.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	leaves := make([][32]byte, len(v.LeafInputs))
	for i, in := range v.LeafInputs {
		b, _ := hex.DecodeString(in)
		leaves[i] = evidence.LeafHashOf(b, nil)
	}
	for n, want := range v.Roots {
		if got := evidence.Root(leaves[:n]); got != h32(t, want) {
			t.Errorf("root of %d leaves = %x, want %s", n, got, want)
		}
		if got := refMTH(leaves[:n]); got != h32(t, want) {
			t.Errorf("reference root of %d leaves = %x, want %s (the reference is wrong)", n, got, want)
		}
	}
	for _, pv := range v.Paths {
		want := make([][32]byte, len(pv.Path))
		for i, s := range pv.Path {
			want[i] = h32(t, s)
		}
		got, err := evidence.InclusionPath(leaves[:pv.Size], pv.Index)
		if err != nil {
			t.Fatalf("path %d/%d: %v", pv.Index, pv.Size, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("path of leaf %d in %d (-want +got):\n%s", pv.Index, pv.Size, diff)
		}
		if err := evidence.VerifyInclusion(leaves[pv.Index], pv.Index, pv.Size, want, h32(t, v.Roots[pv.Size])); err != nil {
			t.Errorf("verify known path %d/%d: %v", pv.Index, pv.Size, err)
		}
	}
}

func TestTreeMatchesReference(t *testing.T) {
	for n := 0; n <= 70; n++ {
		leaves := leavesOf(n)
		tree := evidence.NewTree(leaves)
		want := refMTH(leaves)
		if tree.Root() != want || evidence.Root(leaves) != want {
			t.Fatalf("size %d: root %x / %x, reference %x", n, tree.Root(), evidence.Root(leaves), want)
		}
		for i := range n {
			got, err := tree.InclusionPath(uint64(i))
			if err != nil {
				t.Fatalf("size %d leaf %d: %v", n, i, err)
			}
			if diff := cmp.Diff(refPath(i, leaves), got, cmp.Comparer(func(a, b [][32]byte) bool {
				return len(a) == len(b) && (len(a) == 0 || cmp.Equal(a, b))
			})); diff != "" {
				t.Fatalf("size %d leaf %d path (-ref +got):\n%s", n, i, diff)
			}
			if err := evidence.VerifyInclusion(leaves[i], uint64(i), uint64(n), got, want); err != nil {
				t.Fatalf("size %d leaf %d: own path rejected: %v", n, i, err)
			}
		}
		if _, err := tree.InclusionPath(uint64(n)); err == nil {
			t.Fatalf("size %d: path of leaf %d (out of range) accepted", n, n)
		}
	}
}

func TestVerifyInclusionRejectsTampering(t *testing.T) {
	leaves := leavesOf(13)
	root := evidence.Root(leaves)
	const idx = 6
	path, err := evidence.InclusionPath(leaves, idx)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(h [32]byte) [32]byte { h[7] ^= 0x40; return h }
	tampered := func(i int) [][32]byte {
		p := append([][32]byte(nil), path...)
		p[i] = flip(p[i])
		return p
	}
	cases := map[string]func() error{
		"leaf":        func() error { return evidence.VerifyInclusion(flip(leaves[idx]), idx, 13, path, root) },
		"other leaf":  func() error { return evidence.VerifyInclusion(leaves[idx+1], idx, 13, path, root) },
		"root":        func() error { return evidence.VerifyInclusion(leaves[idx], idx, 13, path, flip(root)) },
		"path[0]":     func() error { return evidence.VerifyInclusion(leaves[idx], idx, 13, tampered(0), root) },
		"path[last]":  func() error { return evidence.VerifyInclusion(leaves[idx], idx, 13, tampered(len(path)-1), root) },
		"short path":  func() error { return evidence.VerifyInclusion(leaves[idx], idx, 13, path[:len(path)-1], root) },
		"long path":   func() error { return evidence.VerifyInclusion(leaves[idx], idx, 13, append(path, root), root) },
		"index":       func() error { return evidence.VerifyInclusion(leaves[idx], idx+1, 13, path, root) },
		"size":        func() error { return evidence.VerifyInclusion(leaves[idx], idx, 7, path, root) },
		"index>=size": func() error { return evidence.VerifyInclusion(leaves[idx], 13, 13, path, root) },
	}
	if err := evidence.VerifyInclusion(leaves[idx], idx, 13, path, root); err != nil {
		t.Fatalf("untampered path rejected: %v", err)
	}
	for name, verify := range cases {
		t.Run(name, func(t *testing.T) {
			if err := verify(); !errors.Is(err, evidence.ErrNotIncluded) {
				t.Fatalf("tampered %s: err = %v, want ErrNotIncluded", name, err)
			}
		})
	}
}
