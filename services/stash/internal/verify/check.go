package verify

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	libverify "github.com/bcosdata/bcosdata/libs/fisco/verify"
	"github.com/bcosdata/bcosdata/services/stash/internal/state"
)

// Verifier runs the stateless checks. It is safe for concurrent use.
type Verifier struct {
	suite *cryptosuite.Suite
	lib   *libverify.Verifier // only Prepare, which is stateless, is called on it
	err   error               // from libverify.New: no suite
}

// NewVerifier returns a Verifier for a chain of the given crypto suite.
func NewVerifier(suite *cryptosuite.Suite) *Verifier {
	lib, err := libverify.New(suite)
	return &Verifier{suite: suite, lib: lib, err: err}
}

// Suite returns the verifier's crypto suite.
func (v *Verifier) Suite() *cryptosuite.Suite { return v.suite }

// Check verifies a candidate on its own (see the package comment) and returns the verified
// block, to be passed to Chain.Accept in order. Errors are *CheckError.
func (v *Verifier) Check(c *Candidate) (*Block, error) {
	if c == nil {
		return nil, &CheckError{Check: CheckDecode, Err: errors.New("no candidate")}
	}
	if v.err != nil {
		return nil, fail(c, CheckDecode, v.err)
	}
	var p *libverify.Prepared
	switch {
	case c.Record != nil:
		// The shared verifier checks the record's CRC too (the reader reports bad ones itself).
		p = v.lib.Prepare(c.Record, nil)
	case c.Raw != nil:
		p = v.lib.PrepareBlock(c.Raw)
	default:
		return nil, fail(c, CheckDecode, errors.New("candidate carries neither a record nor a block"))
	}
	if err := p.Err(); err != nil {
		return nil, libFail(c, err)
	}
	res := p.Result()
	if res.Number != c.Number {
		return nil, fail(c, CheckNumber, fmt.Errorf("the source delivered block %d as block %d", res.Number, c.Number))
	}
	blk := res.Block
	b := &Block{
		Number: c.Number, Hash: res.Hash, Block: blk, Source: c.Source, HasState: c.Record != nil,
		TxHashes: res.TxHashes, Senders: res.Senders, RootRule: res.Roots,
		ValidSignatures: len(res.Signers), SealerCount: len(blk.Header.SealerList), prepared: p,
	}
	if c.Record != nil {
		b.Raw = res.Raw // the row value, hex already decoded
		b.Checks = append(b.Checks, CheckCRC)
	} else {
		b.Raw = c.Raw
	}
	b.Checks = append(b.Checks, CheckDecode, CheckHeaderHash)
	if c.Record != nil {
		b.Checks = append(b.Checks, CheckTxHash, CheckTxIndex)
	}
	b.ReceiptHashes = res.ReceiptHashes // computed once by the shared verifier
	if b.Number == 0 {
		// Genesis carries zero roots, no sealers and no signatures; its trust is the chain's
		// own configuration.
		b.Checks = append(b.Checks, CheckTxRoot, CheckReceiptRoot)
	} else {
		b.Checks = append(b.Checks, CheckTxRoot, CheckReceiptRoot, CheckSignatures, CheckSender)
		if err := libverify.VerifyBlockLimits(b.Number, blk.Transactions, b.TxHashes); err != nil {
			return nil, fail(c, CheckBlockLimit, err)
		}
		b.Checks = append(b.Checks, CheckBlockLimit)
	}
	if c.Record != nil {
		if err := libverify.VerifyNonces(c.Record, blk.Transactions); err != nil {
			return nil, fail(c, CheckNonces, err)
		}
		if c.Record.Table(libverify.TableBlock2Nonces) != nil {
			b.Checks = append(b.Checks, CheckNonces)
		}
		b.State = state.FromRecord(c.Record)
	}
	if c.ClaimedSenders != nil {
		if err := libverify.VerifySenderClaims(c.ClaimedSenders, b.Senders); err != nil {
			return nil, fail(c, CheckSenderClaim, err)
		}
		b.Checks = append(b.Checks, CheckSenderClaim)
	}
	b.Digest = state.BlockDigest(b.Number, b.Hash, b.HasState, b.State)
	return b, nil
}

// libFail adds the candidate's origin to the shared verifier's error.
func libFail(c *Candidate, err error) *CheckError {
	if le, ok := errors.AsType[*CheckError](err); ok {
		ce := *le
		ce.Block, ce.Source, ce.File, ce.Offset = c.Number, c.Source, c.File, c.Offset
		return &ce
	}
	return fail(c, CheckDecode, err)
}

// BlockValue returns the block RLP a record carries in _sys_hash_2_block_, with the row's key
// (the block hash as hex).
func BlockValue(rec *binlog.Record) (key string, raw []byte, err error) {
	return libverify.BlockValue(rec)
}

// HexOrRaw decodes a block or nonce value old chains store as "0x"+hex; RLP never starts with
// "0x", so other values are returned as they are.
func HexOrRaw(v []byte) []byte { return libverify.HexOrRaw(v) }

// Rehash sets a block's transaction and receipt hashes, for a block loaded from storage.
func (v *Verifier) Rehash(b *Block) {
	b.TxHashes = make([]common.Hash, len(b.Block.Transactions))
	for i, t := range b.Block.Transactions {
		b.TxHashes[i] = t.Hash(v.suite)
	}
	b.ReceiptHashes = make([]common.Hash, len(b.Block.Receipts))
	for i, r := range b.Block.Receipts {
		b.ReceiptHashes[i] = r.Hash(v.suite)
	}
}
