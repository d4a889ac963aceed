package verify

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	libverify "github.com/bcosdata/bcosdata/libs/fisco/verify"
	"github.com/bcosdata/bcosdata/services/stash/internal/state"
)

const tableBlock2Nonces = "_sys_block_2_nonces_"

// Verifier runs the stateless checks. It is safe for concurrent use.
type Verifier struct {
	suite *cryptosuite.Suite
	lib   *libverify.Verifier // only Prepare, which is stateless, is called on it
}

// NewVerifier returns a Verifier for a chain of the given crypto suite.
func NewVerifier(suite *cryptosuite.Suite) *Verifier {
	lib, err := libverify.New(libverify.Config{Crypto: suite.Name()})
	if err != nil {
		panic(err) // The suite came from cryptosuite.New: its name is valid.
	}
	return &Verifier{suite: suite, lib: lib}
}

// Suite returns the verifier's crypto suite.
func (v *Verifier) Suite() *cryptosuite.Suite { return v.suite }

// Check verifies a candidate on its own (see the package comment) and returns the verified
// block, to be passed to Chain.Accept in order. Errors are *CheckError.
func (v *Verifier) Check(c *Candidate) (*Block, error) {
	var p *libverify.Prepared
	switch {
	case c.Record != nil:
		if got := c.Record.ComputeCRC(); got != c.Record.CRC {
			// The reader reports bad CRCs itself; this catches records built in code.
			return nil, fail(c, CheckCRC, fmt.Errorf("stored crc %08x, computed %08x", c.Record.CRC, got))
		}
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
		raw, err := libverify.BlockBytes(c.Record)
		if err != nil {
			return nil, fail(c, CheckDecode, err)
		}
		b.Raw = raw
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
		if err := checkBlockLimits(b); err != nil {
			return nil, fail(c, CheckBlockLimit, err)
		}
		b.Checks = append(b.Checks, CheckBlockLimit)
	}
	if c.Record != nil {
		if err := checkNonces(c.Record, blk.Transactions); err != nil {
			return nil, fail(c, CheckNonces, err)
		}
		if c.Record.Table(tableBlock2Nonces) != nil {
			b.Checks = append(b.Checks, CheckNonces)
		}
		b.State = state.FromRecord(c.Record)
	}
	if c.ClaimedSenders != nil {
		if err := checkClaims(c.ClaimedSenders, b.Senders); err != nil {
			return nil, fail(c, CheckSenderClaim, err)
		}
		b.Checks = append(b.Checks, CheckSenderClaim)
	}
	b.Digest = state.BlockDigest(b.Number, b.Hash, b.HasState, b.State)
	return b, nil
}

// libFail turns the shared verifier's error into the stash's *CheckError.
func libFail(c *Candidate, err error) *CheckError {
	var le *libverify.CheckError
	if errors.As(err, &le) {
		return fail(c, le.Check, le.Err)
	}
	return fail(c, CheckDecode, err)
}

// checkBlockLimits applies the node's admission rule to every transaction: its blockLimit
// (the height it expires at) is not below the block that included it.
func checkBlockLimits(b *Block) error {
	num := new(big.Int).SetUint64(b.Number)
	for i, t := range b.Block.Transactions {
		if t.BlockLimit == nil || t.BlockLimit.Cmp(num) < 0 {
			return fmt.Errorf("transaction %d (%s) has block limit %v, below the block number", i, b.TxHashes[i].Hex(), t.BlockLimit)
		}
	}
	return nil
}

// checkNonces compares the record's _sys_block_2_nonces_ row (an RLP list of the block's
// transaction nonces) with the transactions.
func checkNonces(rec *binlog.Record, txs []*block.Transaction) error {
	t := rec.Table(tableBlock2Nonces)
	if t == nil {
		if len(txs) > 0 && rec.BlockNumber > 0 {
			return fmt.Errorf("record has no %s row for %d transactions", tableBlock2Nonces, len(txs))
		}
		return nil
	}
	if len(t.New)+len(t.Dirty) != 1 {
		return fmt.Errorf("%s has %d rows, want 1", tableBlock2Nonces, len(t.New)+len(t.Dirty))
	}
	e := firstEntry(t)
	val, _ := t.Value(e, "value")
	var nonces []*big.Int
	if err := rlp.DecodeBytes(HexOrRaw(val), &nonces); err != nil {
		return fmt.Errorf("decode %s value: %w", tableBlock2Nonces, err)
	}
	if len(nonces) != len(txs) {
		return fmt.Errorf("%s lists %d nonces for %d transactions", tableBlock2Nonces, len(nonces), len(txs))
	}
	for i, n := range nonces {
		if txs[i].Nonce == nil || n.Cmp(txs[i].Nonce) != 0 {
			return fmt.Errorf("%s nonce %d is %v, the transaction has %v", tableBlock2Nonces, i, n, txs[i].Nonce)
		}
	}
	return nil
}

func checkClaims(claimed, recovered []common.Address) error {
	if len(claimed) != len(recovered) {
		return fmt.Errorf("the source names %d senders for %d transactions", len(claimed), len(recovered))
	}
	for i, s := range claimed {
		if s != recovered[i] {
			return fmt.Errorf("transaction %d: the source says from %s, the signature recovers %s", i, s.Hex(), recovered[i].Hex())
		}
	}
	return nil
}

// BlockValue returns the block RLP a record carries in _sys_hash_2_block_, with the row's key
// (the block hash as hex).
func BlockValue(rec *binlog.Record) (key string, raw []byte, err error) {
	t := rec.Table(state.TableHash2Block)
	if t == nil || len(t.New)+len(t.Dirty) != 1 {
		return "", nil, fmt.Errorf("record of block %d has no single %s row", rec.BlockNumber, state.TableHash2Block)
	}
	raw, err = libverify.BlockBytes(rec)
	if err != nil {
		return "", nil, err
	}
	return strings.TrimPrefix(string(t.Key(firstEntry(t))), "0x"), raw, nil
}

// HexOrRaw decodes a block or nonce value old chains store as "0x"+hex; RLP never starts with
// "0x", so other values are returned as they are.
func HexOrRaw(v []byte) []byte {
	if len(v) >= 2 && v[0] == '0' && v[1] == 'x' {
		if b, err := hex.DecodeString(string(v[2:])); err == nil {
			return b
		}
	}
	return v
}

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

func firstEntry(t *binlog.Table) *binlog.Entry {
	if len(t.New) > 0 {
		return &t.New[0]
	}
	return &t.Dirty[0]
}
