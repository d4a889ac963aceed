// Package verify decides whether a block the stash read may be stored and published. It wraps
// the shared verifier (libs/fisco/verify) and adds what the stash needs around it.
//
// Verification has two halves. Check is stateless and runs on many blocks at once: the shared
// verifier rebuilds the block from a binlog record (or takes the block an RPC source rebuilt
// from JSON) and checks the record's CRC, the header hash, the ledger rows against the block,
// the transaction and receipt roots, every sealer signature and their quorum, and recovers
// every transaction's sender, once, for the publisher to reuse; the stash adds the nonces row,
// block limits and, for RPC sources, the senders the node claimed, and computes the change-set
// digest. Chain is stateful and sees blocks in order: the shared verifier's block numbers,
// parent links and sealer set (replayed from _sys_consensus_), then timestamps and the
// checkpoint chain.
//
// Every failure is a *CheckError naming the block and the check, so the stream can stop at the
// last good block and say why.
package verify

import (
	"bytes"
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	libverify "github.com/bcosdata/bcosdata/libs/fisco/verify"
	"github.com/bcosdata/bcosdata/services/stash/internal/state"
)

// Names of the checks, as reported in errors, Status and metrics: the shared verifier's one
// list (libs/fisco/verify), under the names the stash's packages use.
const (
	CheckCRC          = libverify.CheckCRC
	CheckDecode       = libverify.CheckDecode
	CheckNumber       = libverify.CheckNumber
	CheckHeaderHash   = libverify.CheckHeaderHash
	CheckParentLink   = libverify.CheckParentLink
	CheckTxHash       = libverify.CheckTxHash
	CheckTxIndex      = libverify.CheckTxIndex
	CheckTxRoot       = libverify.CheckTxRoot
	CheckReceiptRoot  = libverify.CheckReceiptRoot
	CheckSignatures   = libverify.CheckSignatures
	CheckSealerSet    = libverify.CheckSealerSet
	CheckSender       = libverify.CheckSender
	CheckRecord       = libverify.CheckRecord
	CheckTruncated    = libverify.CheckTruncated
	CheckGap          = libverify.CheckGap
	CheckNonces       = libverify.CheckNonces
	CheckBlockLimit   = libverify.CheckBlockLimit
	CheckTimestamp    = libverify.CheckTimestamp
	CheckSenderClaim  = libverify.CheckSenderClaim
	CheckDisagreement = libverify.CheckDisagreement
	CheckSource       = libverify.CheckSource
)

// ErrCheck is matched (errors.Is) by every *CheckError.
var ErrCheck = libverify.ErrInvalidBlock

// CheckError reports a block that failed a check: the shared verifier's error, with the
// source, file and offset the block came from.
type CheckError = libverify.CheckError

// Candidate is a block as one source delivered it, not yet verified.
type Candidate struct {
	// Number is the block number the source says this is.
	Number uint64
	// Source names the source.
	Source string
	// File and Offset locate a binlog record.
	File   string
	Offset int64
	// Record is set for binlog sources.
	Record *binlog.Record
	// Block and Raw (its RLP) are set for sources without binlog (JSON-RPC), which rebuild the
	// block themselves.
	Block *block.Block
	Raw   []byte
	// ClaimedSenders are the senders the source reported, checked against the recovered ones
	// when set.
	ClaimedSenders []common.Address
}

// HasState reports whether the candidate carries a storage change-set.
func (c *Candidate) HasState() bool { return c.Record != nil }

// Block is a verified block with everything derived while verifying it.
type Block struct {
	Number uint64
	Hash   common.Hash
	// Block is the decoded block; Raw its RLP as stored by the node (binlog) or rebuilt (RPC).
	Block *block.Block
	Raw   []byte
	// TxHashes, ReceiptHashes and Senders are parallel to the block's transactions.
	TxHashes      []common.Hash
	ReceiptHashes []common.Hash
	Senders       []common.Address
	// HasState tells whether State is the block's change-set (binlog) or absent (RPC).
	HasState bool
	State    []state.Table
	// Source names the source the block was taken from.
	Source string
	// RootRule is the rule the roots matched.
	RootRule block.RootRule
	// ValidSignatures and SealerCount describe the quorum that was checked.
	ValidSignatures int
	SealerCount     int
	// Checks lists the checks that ran and passed, in order.
	Checks []string
	// Digest is the canonical digest of the change-set (state.BlockDigest).
	Digest state.Digest
	// Checkpoint is the checkpoint chained up to this block; set by Chain.Accept.
	Checkpoint state.Digest

	// prepared is the shared verifier's stateless result, committed by Chain.Accept.
	prepared *libverify.Prepared
}

// TxCount returns the number of transactions.
func (b *Block) TxCount() int { return len(b.Block.Transactions) }

// Timestamp returns the header timestamp in milliseconds.
func (b *Block) Timestamp() uint64 { return b.Block.Header.Timestamp }

// ParentHash returns the header's parent hash.
func (b *Block) ParentHash() common.Hash { return b.Block.Header.ParentHash }

func fail(c *Candidate, check string, err error) *CheckError {
	return &CheckError{Block: c.Number, Check: check, Source: c.Source, File: c.File, Offset: c.Offset, Err: err}
}

// StoredCandidate turns a block loaded from storage back into a candidate, so it can be
// re-verified with every check a freshly read block gets. A change-set is re-encoded as a
// binlog record (with a fresh CRC: the original bytes are not kept).
func StoredCandidate(b *Block) (*Candidate, error) {
	c := &Candidate{Number: b.Number, Source: b.Source}
	if !b.HasState {
		c.Block, c.Raw = b.Block, b.Raw
		return c, nil
	}
	raw, err := binlog.AppendRecord(binlog.AppendHeader(nil), state.ToRecord(b.Number, b.State))
	if err != nil {
		return nil, fmt.Errorf("re-encode block %d: %w", b.Number, err)
	}
	rec, err := binlog.NewReader(bytes.NewReader(raw), binlog.Options{Name: "stored block"}).Next()
	if err != nil {
		return nil, fmt.Errorf("re-read block %d: %w", b.Number, err)
	}
	c.Record = rec
	return c, nil
}
