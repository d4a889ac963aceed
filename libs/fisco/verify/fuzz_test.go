package verify_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fisco/verify"
)

// wantCheckErr fails unless err is nil or a *CheckError matching ErrInvalidBlock: every public
// check reports a bad input that way, never with a bare error or a panic.
func wantCheckErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if _, ok := errors.AsType[*verify.CheckError](err); !ok || !errors.Is(err, verify.ErrInvalidBlock) {
		t.Fatalf("error %v is not a *CheckError", err)
	}
}

// wantConsistent fails when an accepted result does not describe its block.
func wantConsistent(t *testing.T, res *verify.Result, err error) {
	t.Helper()
	if err != nil {
		return
	}
	if res == nil || res.Block == nil || res.Hash != res.Block.BlockHash || len(res.Senders) != len(res.Block.Transactions) || len(res.ReceiptHashes) != len(res.Block.Receipts) {
		t.Fatalf("accepted a block whose result does not check: %+v", res)
	}
}

// FuzzVerifyBlock feeds arbitrary block bytes to every entry point that takes a block: a
// verifier that has seen no chain, one that continues after block 21 of the fixture with its
// sealers, and the checks callers run on top. Nothing may panic, and every failure must be a
// *CheckError.
func FuzzVerifyBlock(f *testing.F) {
	for _, name := range []string{"rlp-block22-samplechain.hex", "rlp-block3-rc2-roots.hex", "rlp-block0-genesis-otherchain.hex"} {
		f.Add(hexFixture(f, name))
	}
	b22, err := block.DecodeBlock(hexFixture(f, "rlp-block22-samplechain.hex"))
	if err != nil {
		f.Fatal(err)
	}
	parent := verify.Parent{Number: 21, Hash: b22.Header.ParentHash}
	sealers := b22.Header.SealerList
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, s := range []*cryptosuite.Suite{cryptosuite.ECDSA(), cryptosuite.SM()} {
			fresh, err := verify.New(s, verify.WithConcurrency(2))
			if err != nil {
				t.Fatal(err)
			}
			res, err := fresh.VerifyBlock(raw)
			wantCheckErr(t, err)
			wantConsistent(t, res, err)

			chained, err := verify.New(s, verify.WithConcurrency(1), verify.WithParent(parent), verify.WithSealers(sealers))
			if err != nil {
				t.Fatal(err)
			}
			p := chained.PrepareBlock(raw)
			wantCheckErr(t, p.Err())
			res, err = chained.Commit(p)
			wantCheckErr(t, err)
			wantConsistent(t, res, err)
			if res.Block != nil {
				_ = verify.VerifyBlockLimits(res.Number, res.Block.Transactions, res.TxHashes)
				_ = verify.VerifySenderClaims(res.Senders, res.Senders)
				_ = verify.VerifySenderClaims([]common.Address{{}}, res.Senders)
			}
		}
	})
}

// FuzzVerifyRecords feeds arbitrary binlog files through every entry point that takes a
// record: the VerifyRecords pipeline, Prepare and Commit one by one (with the reader's error,
// as a service hands it over), and the record helpers. Nothing may panic, and every failure
// of a record must be a *CheckError.
func FuzzVerifyRecords(f *testing.F) {
	recs := records(f)
	file := func(rs ...*binlog.Record) []byte {
		out := binlog.AppendHeader(nil)
		for _, r := range rs {
			out = append(out, r.Raw...)
		}
		return out
	}
	f.Add(file(recs[0]))
	f.Add(file(recs[0], recs[1]))
	f.Add(file(recs[20], recs[21]))
	f.Add(file(recs[5])[:200])
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := verify.New(cryptosuite.ECDSA(), verify.WithConcurrency(2))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		err = v.VerifyRecords(context.Background(), binlog.NewReader(bytes.NewReader(in), binlog.Options{}), func(res *verify.Result, err error) error {
			wantCheckErr(t, err)
			wantConsistent(t, res, err)
			n++
			return nil
		})
		if err != nil {
			if _, ok := errors.AsType[*verify.CheckError](err); ok {
				t.Fatalf("VerifyRecords returned a check error %v instead of reporting it", err)
			}
		}

		one, err := verify.New(cryptosuite.ECDSA(), verify.WithConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		r := binlog.NewReader(bytes.NewReader(in), binlog.Options{})
		for range 64 {
			rec, rerr := r.Next()
			if rec == nil {
				if rerr == nil || errors.Is(rerr, io.EOF) {
					break
				}
				// What a caller does with a reader error and no record: hand it on.
				res, err := one.Commit(one.Prepare(nil, rerr))
				wantCheckErr(t, err)
				if err == nil || res == nil {
					t.Fatal("a missing record was accepted")
				}
				break
			}
			p := one.Prepare(rec, rerr)
			wantCheckErr(t, p.Err())
			res, err := one.Commit(p)
			wantCheckErr(t, err)
			wantConsistent(t, res, err)
			if res.Block != nil {
				_ = verify.VerifyNonces(rec, res.Block.Transactions)
			}
			_, _ = verify.BlockBytes(rec)
			_, _, _ = verify.BlockValue(rec)
		}
		_, err = one.Commit(nil)
		wantCheckErr(t, err)
	})
}

// FuzzSealersFor feeds arbitrary _sys_consensus_ rows to the sealer rule.
func FuzzSealersFor(f *testing.F) {
	f.Add(uint64(1), uint8(0), "sealer", "0x"+string(bytes.Repeat([]byte("ab"), 64)), "0", uint64(5))
	f.Add(uint64(2), uint8(1), "wSealer", "zz", "7", uint64(0))
	f.Fuzz(func(t *testing.T, id uint64, status uint8, typ, node, enable string, n uint64) {
		rows := []verify.ConsensusRow{{ID: id, Status: status, Type: typ, NodeID: node, EnableNum: enable}, {ID: id + 1, Type: "sealer", NodeID: node, EnableNum: "0"}}
		keys, err := verify.SealersFor(rows, n)
		if err == nil && len(keys) > len(rows) {
			t.Fatalf("%d sealers from %d rows", len(keys), len(rows))
		}
	})
}
