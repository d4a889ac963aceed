package chain

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/contracts"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/tables"
	"github.com/ethereum/go-ethereum/common"
)

// memSink keeps the binlog file in memory.
type memSink struct{ buf []byte }

func (m *memSink) WriteRecord(rec *binlog.Record) error {
	if m.buf == nil {
		m.buf = binlog.AppendHeader(nil)
	}
	var err error
	m.buf, err = binlog.AppendRecord(m.buf, rec)
	return err
}

func (m *memSink) records(t *testing.T) []*binlog.Record {
	t.Helper()
	r := binlog.NewReader(bytes.NewReader(m.buf), binlog.Options{})
	var out []*binlog.Record
	for range 10000 {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	t.Fatal("too many records")
	return nil
}

type env struct {
	c     *Chain
	sink  *memSink
	suite *cryptosuite.Suite
	user  *cryptosuite.PrivateKey
	nonce int64
}

func newEnv(t *testing.T, suite *cryptosuite.Suite, version string, retain bool) *env {
	t.Helper()
	v, err := ParseVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	var sealers []*cryptosuite.PrivateKey
	for i := range 4 {
		k, err := suite.KeyFromSeed(fmt.Appendf(nil, "test-sealer-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		sealers = append(sealers, k)
	}
	user, _ := suite.KeyFromSeed([]byte("test-user"))
	sink := &memSink{}
	c, err := New(Params{Suite: suite, ChainID: 1, GroupID: 1, Version: v, Sealers: sealers,
		GenesisTime: 1700000000000, Seed: 7, BinlogFormat: binlog.FormatFlagged, Retain: retain}, sink)
	if err != nil {
		t.Fatal(err)
	}
	return &env{c: c, sink: sink, suite: suite, user: user}
}

func (e *env) tx(t *testing.T, to *common.Address, data []byte) []byte {
	t.Helper()
	e.nonce++
	tx := &block.Transaction{Nonce: big.NewInt(e.nonce), GasPrice: big.NewInt(0), Gas: big.NewInt(30000000),
		BlockLimit: new(big.Int).SetUint64(e.c.HeadNumber() + 500), To: to, Value: new(big.Int), Data: data,
		ChainID: big.NewInt(1), GroupID: big.NewInt(1)}
	if err := tx.Sign(e.suite, e.user); err != nil {
		t.Fatal(err)
	}
	return tx.Encode()
}

func (e *env) seal(t *testing.T, raws ...[]byte) *Sealed {
	t.Helper()
	for _, r := range raws {
		if _, err := e.c.Submit(r); err != nil {
			t.Fatal(err)
		}
	}
	txs := e.c.TakePending(1000)
	s, err := e.c.Seal(txs, e.c.Head().Block.Header.Timestamp+1000)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSealedBlocksVerify builds a few blocks per crypto suite and version and checks every one
// the way an honest verifier would: block hash, 2f+1 distinct valid sealer signatures, roots by
// the version's rule, transaction hashes and senders, receipt blooms and state roots, receipt
// shape, and that the binlog record carries exactly the sealed block.
func TestSealedBlocksVerify(t *testing.T) {
	cases := []struct {
		suite   *cryptosuite.Suite
		version string
		rule    block.RootRule
		remain  bool
	}{
		{cryptosuite.ECDSA(), "2.9.0", block.MerkleRoots, true},
		{cryptosuite.SM(), "2.9.0", block.MerkleRoots, true},
		{cryptosuite.ECDSA(), "2.6.0", block.MerkleRoots, false},
		{cryptosuite.SM(), "2.4.0", block.MerkleRoots, false},
		{cryptosuite.ECDSA(), "2.1.0", block.RC2Roots, false},
	}
	for _, tc := range cases {
		t.Run(tc.suite.Name()+"-"+tc.version, func(t *testing.T) {
			e := newEnv(t, tc.suite, tc.version, true)
			asset, err := contracts.Load(contracts.NameAsset, tc.suite.Hash)
			if err != nil {
				t.Fatal(err)
			}
			userAddr := tc.suite.Address(e.user.PublicKey())
			dep := e.seal(t, e.tx(t, nil, asset.Creation))
			addr := dep.Block.Receipts[0].ContractAddress
			if addr != e.c.Executor().ContractAddress(userAddr, 0) || dep.Block.Receipts[0].Status != 0 {
				t.Fatalf("deploy receipt %+v", dep.Block.Receipts[0])
			}
			issue, _ := asset.Pack("issue", userAddr, big.NewInt(1000))
			var raws [][]byte
			for i := range 20 {
				data, _ := asset.Pack("transfer", common.BigToAddress(big.NewInt(int64(i+1))), big.NewInt(int64(i)), fmt.Sprintf("memo %d", i))
				raws = append(raws, e.tx(t, &addr, data))
			}
			e.seal(t, e.tx(t, &addr, issue))
			e.seal(t, raws...)
			over, _ := asset.Pack("transfer", addr, big.NewInt(1_000_000), "overdraft")
			e.seal(t, e.tx(t, &addr, over))

			recs := e.sink.records(t)
			if len(recs) != 5 {
				t.Fatalf("%d binlog records, want 5", len(recs))
			}
			for n := uint64(0); n <= e.c.HeadNumber(); n++ {
				s, err := e.c.BlockByNumber(n)
				if err != nil {
					t.Fatal(err)
				}
				verifyBlock(t, tc.suite, tc.rule, tc.remain, s, n)
				// The binlog carries the same block bytes and number↔hash rows.
				rec := recs[n]
				if rec.BlockNumber != n {
					t.Fatalf("record %d is block %d", n, rec.BlockNumber)
				}
				tb := rec.Table(tables.SysHash2Block)
				v, _ := tb.Value(&tb.New[0], "value")
				if tc.version >= "2.2.0" && !bytes.Equal(v, s.Raw) {
					t.Fatalf("block %d: _sys_hash_2_block_ value differs from the sealed block", n)
				}
				if tc.version < "2.2.0" && string(v) != "0x"+common.Bytes2Hex(s.Raw) {
					t.Fatalf("block %d: pre-2.2.0 block value is not 0x-hex", n)
				}
				hdr := rec.Table(tables.SysHash2Header)
				if (hdr != nil) != (n > 0 && tc.version >= "2.6.0") {
					t.Fatalf("block %d: _sys_hash_2_header_ present=%v", n, hdr != nil)
				}
			}
			last := e.c.Head().Block.Receipts[0]
			if last.Status != 22 || !bytes.Contains(last.Output, []byte("insufficient balance")) {
				t.Fatalf("overdraft receipt status %d output %x", last.Status, last.Output)
			}
			total, failed := e.c.Counts()
			if total != 23 || failed != 1 {
				t.Fatalf("counts %d/%d, want 23/1", total, failed)
			}
		})
	}
}

func verifyBlock(t *testing.T, s *cryptosuite.Suite, rule block.RootRule, remain bool, sealed *Sealed, n uint64) {
	t.Helper()
	blk, err := block.DecodeBlock(sealed.Raw)
	if err != nil {
		t.Fatalf("block %d: decode: %v", n, err)
	}
	if err := blk.VerifyHash(s); err != nil {
		t.Fatal(err)
	}
	if blk.Header.Number != n {
		t.Fatalf("block %d has number %d", n, blk.Header.Number)
	}
	if n == 0 {
		if len(blk.Header.ExtraData) != 1 || len(blk.Header.SealerList) != 0 || len(blk.Signatures) != 0 {
			t.Fatalf("genesis: extra %d sealers %d sigs %d", len(blk.Header.ExtraData), len(blk.Header.SealerList), len(blk.Signatures))
		}
		return
	}
	nSealers := len(blk.Header.SealerList)
	if need := nSealers - (nSealers-1)/3; len(blk.Signatures) < need {
		t.Fatalf("block %d: %d signatures, need %d", n, len(blk.Signatures), need)
	}
	if err := blk.VerifySignatures(s); err != nil {
		t.Fatalf("block %d: %v", n, err)
	}
	if err := blk.VerifyRoots(s, rule); err != nil {
		t.Fatalf("block %d: %v", n, err)
	}
	for i, tx := range blk.Transactions {
		if tx.Hash(s) != sealed.TxHashes[i] {
			t.Fatalf("block %d tx %d hash", n, i)
		}
		from, err := tx.Sender(s)
		if err != nil || from != sealed.Senders[i] {
			t.Fatalf("block %d tx %d sender %s, recorded %s (%v)", n, i, from.Hex(), sealed.Senders[i].Hex(), err)
		}
		if !tx.BlockLimit.IsUint64() || tx.BlockLimit.Uint64() <= n || tx.BlockLimit.Uint64() > n+MaxBlockLimitWindow {
			t.Fatalf("block %d tx %d blockLimit %v", n, i, tx.BlockLimit)
		}
	}
	for i, r := range blk.Receipts {
		if r.ComputeBloom(s) != r.Bloom {
			t.Fatalf("block %d receipt %d bloom", n, i)
		}
		if r.StateRoot != blk.Header.StateRoot {
			t.Fatalf("block %d receipt %d stateRoot", n, i)
		}
		if r.HasRemainGas != remain {
			t.Fatalf("block %d receipt %d remainGas present=%v", n, i, r.HasRemainGas)
		}
	}
}

// TestAdmissionChecks covers the pool's refusals.
func TestAdmissionChecks(t *testing.T) {
	e := newEnv(t, cryptosuite.ECDSA(), "2.9.0", true)
	to := common.HexToAddress("0x01")
	mk := func(mut func(*block.Transaction)) []byte {
		tx := &block.Transaction{Nonce: big.NewInt(99), Gas: big.NewInt(30000000), BlockLimit: big.NewInt(100),
			To: &to, ChainID: big.NewInt(1), GroupID: big.NewInt(1)}
		mut(tx)
		if err := tx.Sign(e.suite, e.user); err != nil {
			t.Fatal(err)
		}
		return tx.Encode()
	}
	good := mk(func(*block.Transaction) {})
	if _, err := e.c.Submit(good); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, reason string
		raw          []byte
	}{
		{"duplicate", ReasonAlreadyKnown, good},
		{"same nonce", ReasonNonceInPool, mk(func(tx *block.Transaction) { tx.Data = []byte{1} })},
		{"chain id", ReasonInvalidChainID, mk(func(tx *block.Transaction) { tx.ChainID = big.NewInt(2); tx.Nonce = big.NewInt(1) })},
		{"group id", ReasonInvalidGroupID, mk(func(tx *block.Transaction) { tx.GroupID = big.NewInt(2); tx.Nonce = big.NewInt(2) })},
		{"expired", ReasonBlockLimit, mk(func(tx *block.Transaction) { tx.BlockLimit = big.NewInt(0); tx.Nonce = big.NewInt(3) })},
		{"too far", ReasonBlockLimit, mk(func(tx *block.Transaction) { tx.BlockLimit = big.NewInt(1001); tx.Nonce = big.NewInt(4) })},
		{"garbage", ReasonMalformed, []byte{0xc0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.c.Submit(tc.raw)
			var re *RejectError
			if !errors.As(err, &re) || re.Reason != tc.reason || !errors.Is(err, ErrRejected) {
				t.Fatalf("got %v, want %s", err, tc.reason)
			}
		})
	}
	if _, err := e.c.Seal(e.c.TakePending(10), 0); err != nil {
		t.Fatal(err)
	}
	_, err := e.c.Submit(good)
	var re *RejectError
	if !errors.As(err, &re) || re.Reason != ReasonAlreadyInChain {
		t.Fatalf("resubmit after sealing: %v", err)
	}
	reused := mk(func(tx *block.Transaction) { tx.Data = []byte{2} })
	if _, err := e.c.Submit(reused); !errors.As(err, &re) || re.Reason != ReasonNonceInChain {
		t.Fatalf("nonce reuse after sealing: %v", err)
	}
}

// TestGenesisMatchesBuildChain checks the genesis record against the real one's shape.
func TestGenesisMatchesBuildChain(t *testing.T) {
	e := newEnv(t, cryptosuite.ECDSA(), "2.9.0", true)
	recs := e.sink.records(t)
	var names []string
	for _, tb := range recs[0].Tables {
		names = append(names, tb.Name)
	}
	if got := fmt.Sprint(names); got != "[_sys_config_ _sys_consensus_ _sys_current_state_ _sys_hash_2_block_ _sys_number_2_hash_]" {
		t.Fatalf("genesis tables %s", got)
	}
	if id := recs[0].Tables[0].New[0].ID; id != 100002 {
		t.Fatalf("first id %d", id)
	}
	mark := e.c.GenesisMark()
	want := "1-"
	for _, k := range e.c.p.Sealers {
		want += k.PublicKey().String() + ","
	}
	want += "-pbft-storage-0-1000-300000000-3"
	if mark != want {
		t.Fatalf("mark %q", mark)
	}
	g := e.c.Head().Block.Header
	if g.Number != 0 || string(g.ExtraData[0]) != mark || g.StateRoot != (common.Hash{}) || g.TransactionsRoot != (common.Hash{}) {
		t.Fatalf("genesis header %+v", g)
	}
}

type sliceRecords struct{ recs []*binlog.Record }

func (s *sliceRecords) Next() (*binlog.Record, error) {
	if len(s.recs) == 0 {
		return nil, io.EOF
	}
	r := s.recs[0]
	s.recs = s.recs[1:]
	return r, nil
}

// TestRestoreContinuesTheChain restores a chain from its binlog records and checks that the
// next block sealed on the restored chain is byte for byte the block, and the record, the
// original chain seals from the same transactions: same state, row ids, counters.
func TestRestoreContinuesTheChain(t *testing.T) {
	for _, version := range []string{"2.9.0", "2.4.0"} {
		t.Run(version, func(t *testing.T) {
			e := newEnv(t, cryptosuite.ECDSA(), version, true)
			asset, _ := contracts.Load(contracts.NameAsset, e.suite.Hash)
			dep := e.seal(t, e.tx(t, nil, asset.Creation))
			addr := dep.Block.Receipts[0].ContractAddress
			userAddr := e.suite.Address(e.user.PublicKey())
			issue, _ := asset.Pack("issue", userAddr, big.NewInt(50))
			e.seal(t, e.tx(t, &addr, issue))

			restoredSink := &memSink{}
			r, err := Restore(e.c.p, restoredSink, &sliceRecords{recs: e.sink.records(t)})
			if err != nil {
				t.Fatal(err)
			}
			if r.Head().Hash != e.c.Head().Hash || r.store.LastID() != e.c.store.LastID() {
				t.Fatalf("restored head %x id %d, original %x id %d", r.Head().Hash, r.store.LastID(), e.c.Head().Hash, e.c.store.LastID())
			}
			if tot, _ := r.Counts(); tot != 2 {
				t.Fatalf("restored count %d", tot)
			}
			transfer, _ := asset.Pack("transfer", common.HexToAddress("0x05"), big.NewInt(20), "after restart")
			raw := e.tx(t, &addr, transfer)
			var sealed [2]*Sealed
			for i, c := range []*Chain{e.c, r} {
				if _, err := c.Submit(raw); err != nil {
					t.Fatal(err)
				}
				if sealed[i], err = c.Seal(c.TakePending(10), c.Head().Block.Header.Timestamp+1000); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(sealed[0].Raw, sealed[1].Raw) || sealed[1].Block.Receipts[0].Status != 0 {
				t.Fatalf("restored chain sealed a different block (status %d)", sealed[1].Block.Receipts[0].Status)
			}
			orig := e.sink.records(t)
			again := restoredSink.records(t)
			a, _ := binlog.AppendRecord(nil, orig[len(orig)-1])
			b, _ := binlog.AppendRecord(nil, again[len(again)-1])
			if !bytes.Equal(a, b) {
				t.Fatal("restored chain wrote a different binlog record")
			}
		})
	}
}

func TestRestoreRefusesOtherChain(t *testing.T) {
	e := newEnv(t, cryptosuite.ECDSA(), "2.9.0", true)
	p := e.c.p
	p.GenesisTime++
	if _, err := Restore(p, &memSink{}, &sliceRecords{recs: e.sink.records(t)}); !errors.Is(err, ErrOtherChain) {
		t.Fatalf("restore with another genesis time: %v", err)
	}
}
