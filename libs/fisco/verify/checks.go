package verify

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
)

// Checks a caller runs on top of Prepare when it needs them: they depend on what the caller
// was given (a nonces row, the senders a JSON-RPC node claimed) or on the node's admission
// rules rather than on the block's own consistency. Each returns the detail for the named
// check (CheckNonces, CheckBlockLimit, CheckSenderClaim), nil when it passes.

// TableBlock2Nonces is the ledger table holding each block's transaction nonces.
const TableBlock2Nonces = "_sys_block_2_nonces_"

// VerifyNonces compares the record's _sys_block_2_nonces_ row (an RLP list of the block's
// transaction nonces) with the transactions (CheckNonces). A record without the table passes
// only when the block has no transactions or is genesis.
func VerifyNonces(rec *binlog.Record, txs []*block.Transaction) error {
	if rec == nil {
		return errors.New("no record")
	}
	t := rec.Table(TableBlock2Nonces)
	if t == nil {
		if len(txs) > 0 && rec.BlockNumber > 0 {
			return fmt.Errorf("record has no %s row for %d transactions", TableBlock2Nonces, len(txs))
		}
		return nil
	}
	rows := append(append([]binlog.Entry(nil), t.Dirty...), t.New...)
	if len(rows) != 1 {
		return fmt.Errorf("%s has %d rows, want 1", TableBlock2Nonces, len(rows))
	}
	val, _ := t.Value(&rows[0], "value")
	var nonces []*big.Int
	if err := rlp.DecodeBytes(HexOrRaw(val), &nonces); err != nil {
		return fmt.Errorf("decode %s value: %w", TableBlock2Nonces, err)
	}
	if len(nonces) != len(txs) {
		return fmt.Errorf("%s lists %d nonces for %d transactions", TableBlock2Nonces, len(nonces), len(txs))
	}
	for i, n := range nonces {
		if txs[i] == nil || txs[i].Nonce == nil || n.Cmp(txs[i].Nonce) != 0 {
			var have *big.Int
			if txs[i] != nil {
				have = txs[i].Nonce
			}
			return fmt.Errorf("%s nonce %d is %v, the transaction has %v", TableBlock2Nonces, i, n, have)
		}
	}
	return nil
}

// VerifyBlockLimits applies the node's admission rule to every transaction of block number
// (CheckBlockLimit): its blockLimit, the height it expires at, is not below the block that
// included it. hashes name the transactions in the error; they may be nil.
func VerifyBlockLimits(number uint64, txs []*block.Transaction, hashes []common.Hash) error {
	num := new(big.Int).SetUint64(number)
	for i, t := range txs {
		if t == nil || t.BlockLimit == nil || t.BlockLimit.Cmp(num) < 0 {
			var limit *big.Int
			if t != nil {
				limit = t.BlockLimit
			}
			name := ""
			if i < len(hashes) {
				name = " (" + hashes[i].Hex() + ")"
			}
			return fmt.Errorf("transaction %d%s has block limit %v, below the block number", i, name, limit)
		}
	}
	return nil
}

// VerifySenderClaims compares the senders a source reported (a JSON-RPC node's "from") with
// the recovered ones, Result.Senders (CheckSenderClaim).
func VerifySenderClaims(claimed, recovered []common.Address) error {
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

// BlockValue returns the key (the block hash as hex, without 0x) and the block RLP of the
// record's single _sys_hash_2_block_ row.
func BlockValue(rec *binlog.Record) (key string, raw []byte, err error) {
	if rec == nil {
		return "", nil, errors.New("no record")
	}
	raw, key, err = blockValue(rec)
	if err != nil {
		return "", nil, fmt.Errorf("record of block %d: %w", rec.BlockNumber, err)
	}
	return strings.TrimPrefix(key, "0x"), raw, nil
}

// HexOrRaw decodes a value old and MySQL-backed chains store as "0x"+hex; RLP never starts
// with "0x", so other values are returned as they are.
func HexOrRaw(v []byte) []byte {
	if b, ok := hexValue(v); ok {
		return b
	}
	return v
}
