package verify

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	libverify "github.com/bcosdata/bcosdata/libs/fisco/verify"
	"github.com/bcosdata/bcosdata/services/stash/internal/state"
)

// Tip is where a chain of verified blocks ends: what the next block is checked against.
type Tip struct {
	// Next is the number of the next block.
	Next uint64
	// Known says whether Hash and Timestamp describe block Next-1; false for the first block a
	// stash ingests.
	Known     bool
	Hash      common.Hash
	Timestamp uint64
	// Checkpoint is the checkpoint of block Next-1 (zero before the first block).
	Checkpoint state.Digest
	// Sealers is the sealer set in force for block Next, valid with SealersKnown. A stash that
	// did not see the chain from its genesis (or reads it over JSON-RPC) does not know it, and
	// the sealer-set check does not run. From genesis the set is learnt from block 0.
	Sealers      []cryptosuite.PublicKey
	SealersKnown bool
}

// Chain runs the stateful checks on blocks in order. It is not safe for concurrent use.
type Chain struct {
	tip Tip
	lib *libverify.Verifier
	err error // from libverify.New: no suite
}

// NewChain returns a Chain continuing from tip.
func NewChain(tip Tip, suite *cryptosuite.Suite) *Chain {
	var opts []libverify.Option
	if tip.Known && tip.Next > 0 {
		opts = append(opts, libverify.WithParent(libverify.Parent{Number: tip.Next - 1, Hash: tip.Hash}))
	}
	if tip.SealersKnown && tip.Next > 0 {
		opts = append(opts, libverify.WithSealers(tip.Sealers))
	}
	lib, err := libverify.New(suite, opts...)
	return &Chain{tip: tip, lib: lib, err: err}
}

// Accept runs the stateful checks on b, the next block, and on success extends the chain: it
// sets b.Checkpoint and records b as the parent of the next block. A Chain that failed must be
// replaced (NewChain from the last good tip). Errors are *CheckError.
func (c *Chain) Accept(b *Block) error {
	if b == nil || b.Block == nil {
		return &CheckError{Check: CheckDecode, Err: errors.New("no block")}
	}
	t := &c.tip
	failB := func(check string, err error) error {
		return &CheckError{Block: b.Number, Hash: b.Hash, Check: check, Source: b.Source, Err: err}
	}
	if c.err != nil {
		return failB(CheckDecode, c.err)
	}
	if b.Number != t.Next {
		return failB(CheckGap, fmt.Errorf("expected block %d", t.Next))
	}
	h := b.Block.Header
	if b.HasState && b.prepared != nil {
		// Numbers, the parent link and the sealer set replayed from _sys_consensus_.
		res, err := c.lib.Commit(b.prepared)
		if le, ok := errors.AsType[*CheckError](err); ok {
			return failB(le.Check, le.Err)
		}
		if err != nil {
			return failB(CheckDecode, err)
		}
		if res.Linked {
			b.Checks = append(b.Checks, CheckNumber, CheckParentLink)
		}
		if res.SealersChecked {
			b.Checks = append(b.Checks, CheckSealerSet)
		}
	} else if t.Known {
		// A block without its record (JSON-RPC) carries no _sys_consensus_ rows: only its
		// link to the parent can be checked.
		if h.ParentHash != t.Hash {
			return failB(CheckParentLink, fmt.Errorf("parentHash %s, block %d is %s", h.ParentHash.Hex(), b.Number-1, t.Hash.Hex()))
		}
		b.Checks = append(b.Checks, CheckNumber, CheckParentLink)
	}
	if t.Known {
		if h.Timestamp <= t.Timestamp {
			return failB(CheckTimestamp, fmt.Errorf("timestamp %d ms is not after block %d's %d ms", h.Timestamp, b.Number-1, t.Timestamp))
		}
		b.Checks = append(b.Checks, CheckTimestamp)
	}
	b.Checkpoint = state.NextCheckpoint(t.Checkpoint, b.Digest)
	t.Next, t.Known, t.Hash, t.Timestamp, t.Checkpoint = b.Number+1, true, b.Hash, h.Timestamp, b.Checkpoint
	return nil
}

// ConsensusRow is a _sys_consensus_ row as stored: a node and its role.
type ConsensusRow = libverify.ConsensusRow

// SealersFor returns the sealers in force for block n given the _sys_consensus_ rows stored
// up to block n-1, with the node's rule as the shared verifier applies it.
func SealersFor(rows []ConsensusRow, n uint64) ([]cryptosuite.PublicKey, error) {
	return libverify.SealersFor(rows, n)
}

// IsCheckError reports the check of a *CheckError in err's chain, or "".
func IsCheckError(err error) (string, bool) { return libverify.IsCheckError(err) }
