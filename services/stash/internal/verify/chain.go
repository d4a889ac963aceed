package verify

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

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
}

// NewChain returns a Chain continuing from tip.
func NewChain(tip Tip, suite *cryptosuite.Suite) *Chain {
	cfg := libverify.Config{Crypto: suite.Name()}
	if tip.Known && tip.Next > 0 {
		cfg.Parent = &libverify.Parent{Number: tip.Next - 1, Hash: tip.Hash}
	}
	if tip.SealersKnown && tip.Next > 0 {
		cfg.Sealers = append([]cryptosuite.PublicKey{}, tip.Sealers...)
	}
	lib, err := libverify.New(cfg)
	if err != nil {
		panic(err) // The suite came from cryptosuite.New: its name is valid.
	}
	return &Chain{tip: tip, lib: lib}
}

// Accept runs the stateful checks on b, the next block, and on success extends the chain: it
// sets b.Checkpoint and records b as the parent of the next block. A Chain that failed must be
// replaced (NewChain from the last good tip). Errors are *CheckError.
func (c *Chain) Accept(b *Block) error {
	t := &c.tip
	failB := func(check string, err error) error {
		return &CheckError{Block: b.Number, Check: check, Source: b.Source, Err: err}
	}
	if b.Number != t.Next {
		return failB(CheckGap, fmt.Errorf("expected block %d", t.Next))
	}
	h := b.Block.Header
	if b.HasState && b.prepared != nil {
		// Numbers, the parent link and the sealer set replayed from _sys_consensus_.
		res, err := c.lib.Commit(b.prepared)
		var le *libverify.CheckError
		if errors.As(err, &le) {
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
type ConsensusRow struct {
	ID     uint64
	Status uint8
	// Type is "sealer", "wSealer" (rPBFT working sealer) or "observer".
	Type string
	// NodeID is the node's 64-byte public key as hex.
	NodeID string
	// EnableNum is the enable_num field as written (decimal).
	EnableNum string
}

// SealersFor returns the sealers in force for block n given the _sys_consensus_ rows stored
// up to block n-1, with the node's rule (as libs/fisco/verify applies it): rows of type sealer
// or wSealer, not deleted, whose enable_num is at most n-1.
func SealersFor(rows []ConsensusRow, n uint64) ([]cryptosuite.PublicKey, error) {
	parent := uint64(0)
	if n > 0 {
		parent = n - 1
	}
	out := []cryptosuite.PublicKey{}
	for _, r := range rows {
		if r.Status != 0 || (r.Type != "sealer" && r.Type != "wSealer") {
			continue
		}
		en, err := strconv.ParseUint(strings.TrimSpace(r.EnableNum), 10, 64)
		if err != nil || en > parent {
			continue
		}
		pk, err := cryptosuite.ParsePublicKey(strings.TrimPrefix(strings.ToLower(r.NodeID), "0x"))
		if err != nil {
			return nil, fmt.Errorf("_sys_consensus_ row %d node_id: %w", r.ID, err)
		}
		out = append(out, pk)
	}
	return out, nil
}

// IsCheckError reports the check of a *CheckError in err's chain, or "".
func IsCheckError(err error) (string, bool) {
	var ce *CheckError
	if errors.As(err, &ce) {
		return ce.Check, true
	}
	return "", false
}
