package evidence

import (
	"crypto/sha256"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// LeafHash returns the RFC 6962 leaf hash of r: SHA-256(0x00 ‖ SigningBytes ‖ Signature). It
// does not depend on the payload, only on its hash, so it survives erasure.
func LeafHash(r *Record) [32]byte {
	return LeafHashOf(r.SigningBytes(), r.Signature)
}

// LeafHashOf is LeafHash over an already encoded record and its signature.
func LeafHashOf(signingBytes, signature []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{rfc6962.RFC6962LeafHashPrefix})
	h.Write(signingBytes)
	h.Write(signature)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Tree is the RFC 6962 Merkle tree over the leaf hashes of one batch. It keeps every perfect
// subtree hash, so proofs for many leaves of one batch cost no rehashing.
type Tree struct {
	size   uint64
	root   [32]byte
	levels [][][]byte // levels[l][i] is the hash of perfect subtree (l, i)
}

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// NewTree builds the tree over leaves, in order.
func NewTree(leaves [][32]byte) *Tree {
	t := &Tree{size: uint64(len(leaves))}
	if len(leaves) == 0 {
		copy(t.root[:], rfc6962.DefaultHasher.EmptyRoot())
		return t
	}
	rng := rangeFactory.NewEmptyRange(0)
	visit := func(id compact.NodeID, hash []byte) {
		for uint(len(t.levels)) <= id.Level {
			t.levels = append(t.levels, nil)
		}
		// Append reports nodes left to right on each level, so the index is the next slot.
		t.levels[id.Level] = append(t.levels[id.Level], hash)
	}
	for i := range leaves {
		// Append never fails on a range that starts at 0 and only grows by appends.
		if err := rng.Append(leaves[i][:], visit); err != nil {
			panic(fmt.Sprintf("evidence: append leaf %d: %v", i, err))
		}
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		panic(fmt.Sprintf("evidence: root of %d leaves: %v", len(leaves), err))
	}
	copy(t.root[:], root)
	return t
}

// Size returns the number of leaves.
func (t *Tree) Size() uint64 { return t.size }

// Root returns the RFC 6962 root hash; SHA-256 of nothing for an empty tree.
func (t *Tree) Root() [32]byte { return t.root }

// InclusionPath returns the RFC 6962 audit path of the leaf at index, lowest sibling first.
func (t *Tree) InclusionPath(index uint64) ([][32]byte, error) {
	nodes, err := proof.Inclusion(index, t.size)
	if err != nil {
		return nil, fmt.Errorf("inclusion path of leaf %d in a tree of %d: %w", index, t.size, err)
	}
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		if id.Level >= uint(len(t.levels)) || id.Index >= uint64(len(t.levels[id.Level])) {
			return nil, fmt.Errorf("inclusion path of leaf %d in a tree of %d: node (%d, %d) missing", index, t.size, id.Level, id.Index)
		}
		hashes[i] = t.levels[id.Level][id.Index]
	}
	path, err := nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("inclusion path of leaf %d in a tree of %d: %w", index, t.size, err)
	}
	out := make([][32]byte, len(path))
	for i, p := range path {
		copy(out[i][:], p)
	}
	return out, nil
}

// Root returns the RFC 6962 root of leaves.
func Root(leaves [][32]byte) [32]byte {
	if len(leaves) == 0 {
		var r [32]byte
		copy(r[:], rfc6962.DefaultHasher.EmptyRoot())
		return r
	}
	rng := rangeFactory.NewEmptyRange(0)
	for i := range leaves {
		if err := rng.Append(leaves[i][:], nil); err != nil {
			panic(fmt.Sprintf("evidence: append leaf %d: %v", i, err))
		}
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		panic(fmt.Sprintf("evidence: root of %d leaves: %v", len(leaves), err))
	}
	var r [32]byte
	copy(r[:], root)
	return r
}

// InclusionPath returns the audit path of leaves[index]. Building a Tree once is cheaper when
// several paths of one batch are needed.
func InclusionPath(leaves [][32]byte, index uint64) ([][32]byte, error) {
	return NewTree(leaves).InclusionPath(index)
}

// VerifyInclusion checks that path leads from leaf at index in a tree of size leaves to root.
// It returns an error wrapping ErrNotIncluded otherwise.
func VerifyInclusion(leaf [32]byte, index, size uint64, path [][32]byte, root [32]byte) error {
	p := make([][]byte, len(path))
	for i := range path {
		p[i] = path[i][:]
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaf[:], p, root[:]); err != nil {
		return fmt.Errorf("leaf %d of %d: %w: %w", index, size, ErrNotIncluded, err)
	}
	return nil
}
