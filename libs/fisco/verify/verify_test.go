package verify_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fisco/verify"
	"github.com/bcosdata/bcosdata/libs/fixtures"
)

// Facts from ../shared/fixtures/binlog/README.md and the reference §2.
const (
	block21Prefix, block21Suffix = "505ad4a9", "69aa04"
	block22Hash                  = "85621e42f7cab5d92ee2e816579af3091931c37b6e8f9b2d68525fb31b39d86b"
	rc2Hash                      = "be75bbeb1aac1f2c9c614b176589fc2306f05572fc369356075d76619a0b2dd6"
	genesisOtherHash             = "e50403bd5d4cb29660e54ee59b5c5b24a6d7397dbe436ade5248018f07cfbf82"
	// §2.4: the sender of the transactions of blocks 1 and 2.
	senderPrefix = "0x6c0769ea"
)

func records(t testing.TB) []*binlog.Record {
	t.Helper()
	recs, err := binlog.ReadFile(fixtures.Path(t, "binlog", "0.binlog"), binlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func hexFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimSpace(string(fixtures.Read(t, "binlog", name))))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newVerifier(t testing.TB, suite *cryptosuite.Suite, opts ...verify.Option) *verify.Verifier {
	t.Helper()
	v, err := verify.New(suite, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// verifiedTo returns a verifier that has verified the fixture through block n.
func verifiedTo(t testing.TB, recs []*binlog.Record, n int) *verify.Verifier {
	t.Helper()
	v := newVerifier(t, cryptosuite.ECDSA())
	for _, rec := range recs[:n+1] {
		if _, err := v.VerifyRecord(rec); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func wantCheck(t *testing.T, err error, check string) *verify.CheckError {
	t.Helper()
	var ce *verify.CheckError
	if !errors.As(err, &ce) || !errors.Is(err, verify.ErrInvalidBlock) {
		t.Fatalf("error %v, want a *CheckError %q", err, check)
	}
	if ce.Check != check {
		t.Fatalf("failed check %q (%v), want %q", ce.Check, err, check)
	}
	return ce
}

func TestFixtureChainVerifies(t *testing.T) {
	recs := records(t)
	check := func(t *testing.T, results []*verify.Result) {
		t.Helper()
		if len(results) != 22 {
			t.Fatalf("%d results", len(results))
		}
		for i, res := range results {
			if res.Number != uint64(i) {
				t.Errorf("result %d is block %d", i, res.Number)
			}
			if i == 0 {
				if len(res.Signers) != 0 || res.Block.Header.TransactionsRoot != (common.Hash{}) {
					t.Errorf("genesis: signers %v root %s", res.Signers, res.Block.Header.TransactionsRoot.Hex())
				}
				continue
			}
			// README: 3 of the 4 sealers sign each block; Merkle roots; one tx per block.
			if len(res.Signers) != 3 || res.Quorum != 3 || len(res.Block.Header.SealerList) != 4 {
				t.Errorf("block %d: signers %v quorum %d of %d", i, res.Signers, res.Quorum, len(res.Block.Header.SealerList))
			}
			if res.Roots != block.MerkleRoots || !res.SealersChecked || !res.Linked {
				t.Errorf("block %d: roots %v, sealers checked %v, linked %v", i, res.Roots, res.SealersChecked, res.Linked)
			}
			if len(res.Senders) != len(res.Block.Transactions) || len(res.TxHashes) != len(res.Senders) {
				t.Errorf("block %d: %d senders, %d hashes for %d txs", i, len(res.Senders), len(res.TxHashes), len(res.Block.Transactions))
			}
			// The returned receipt hashes are the leaves the node rooted its receiptsRoot on.
			if got := block.MerkleRoot(cryptosuite.ECDSA(), res.ReceiptHashes); len(res.ReceiptHashes) != len(res.Block.Receipts) || got != res.Block.Header.ReceiptsRoot {
				t.Errorf("block %d: %d receipt hashes root to %s, header says %s", i, len(res.ReceiptHashes), got.Hex(), res.Block.Header.ReceiptsRoot.Hex())
			}
			if parent := results[i-1].Hash; res.Block.Header.ParentHash != parent {
				t.Errorf("block %d parent %s, block %d is %s", i, res.Block.Header.ParentHash.Hex(), i-1, parent.Hex())
			}
		}
		for _, i := range []int{1, 2} {
			if got := strings.ToLower(results[i].Senders[0].Hex()); !strings.HasPrefix(got, senderPrefix) {
				t.Errorf("block %d sender %s, want %s…", i, got, senderPrefix)
			}
		}
		h21 := hex.EncodeToString(results[21].Hash[:])
		if !strings.HasPrefix(h21, block21Prefix) || !strings.HasSuffix(h21, block21Suffix) {
			t.Errorf("block 21 hash %s", h21)
		}
	}
	t.Run("one by one", func(t *testing.T) {
		v := newVerifier(t, cryptosuite.ECDSA())
		var results []*verify.Result
		for _, rec := range recs {
			res, err := v.VerifyRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			results = append(results, res)
		}
		check(t, results)
	})
	t.Run("pipeline", func(t *testing.T) {
		for _, workers := range []int{1, 4} {
			v := newVerifier(t, cryptosuite.ECDSA(), verify.WithConcurrency(workers))
			r, _ := binlog.Open(fixtures.Path(t, "binlog", "0.binlog"), binlog.Options{})
			defer r.Close()
			var results []*verify.Result
			err := v.VerifyRecords(t.Context(), r, func(res *verify.Result, err error) error {
				if err != nil {
					return err
				}
				results = append(results, res)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			check(t, results)
		}
	})
	t.Run("block 22 links to block 21", func(t *testing.T) {
		v := verifiedTo(t, recs, 21)
		res, err := v.VerifyBlock(hexFixture(t, "rlp-block22-samplechain.hex"))
		if err != nil {
			t.Fatal(err)
		}
		// README: hash 85621e42…, 1 tx, sigs by sealers 2, 0, 3.
		if hex.EncodeToString(res.Hash[:]) != block22Hash || !slices.Equal(res.Signers, []uint64{2, 0, 3}) || len(res.Senders) != 1 || !res.Linked || !res.SealersChecked {
			t.Errorf("block 22: hash %s signers %v senders %d linked %v", res.Hash.Hex(), res.Signers, len(res.Senders), res.Linked)
		}
	})
}

func TestVectors(t *testing.T) {
	cases := []struct {
		name    string
		file    string
		suite   *cryptosuite.Suite
		opts    []verify.Option
		hash    string
		roots   block.RootRule
		signers int
		check   string
	}{
		{"rc2 roots, rule detected", "rlp-block3-rc2-roots.hex", cryptosuite.ECDSA(), nil, rc2Hash, block.RC2Roots, 3, ""},
		{"rc2 roots, old supported version", "rlp-block3-rc2-roots.hex", cryptosuite.ECDSA(), []verify.Option{verify.WithSupportedVersion("2.1.0")}, rc2Hash, block.RC2Roots, 3, ""},
		{"rc2 roots, forced rc2", "rlp-block3-rc2-roots.hex", cryptosuite.ECDSA(), []verify.Option{verify.WithRoots(verify.RootsRC2)}, rc2Hash, block.RC2Roots, 3, ""},
		{"rc2 roots under the merkle rule", "rlp-block3-rc2-roots.hex", cryptosuite.ECDSA(), []verify.Option{verify.WithRoots(verify.RootsMerkle)}, rc2Hash, 0, 0, verify.CheckTxRoot},
		{"rc2 roots, new supported version", "rlp-block3-rc2-roots.hex", cryptosuite.ECDSA(), []verify.Option{verify.WithSupportedVersion("2.5.0")}, rc2Hash, 0, 0, verify.CheckTxRoot},
		{"merkle block under the rc2 rule", "rlp-block22-samplechain.hex", cryptosuite.ECDSA(), []verify.Option{verify.WithRoots(verify.RootsRC2)}, block22Hash, 0, 0, verify.CheckTxRoot},
		{"genesis of another chain", "rlp-block0-genesis-otherchain.hex", cryptosuite.ECDSA(), nil, genesisOtherHash, block.MerkleRoots, 0, ""},
		{"ecdsa block under sm", "rlp-block22-samplechain.hex", cryptosuite.SM(), nil, "", 0, 0, verify.CheckHeaderHash},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, tc.suite, tc.opts...)
			res, err := v.VerifyBlock(hexFixture(t, tc.file))
			if tc.check != "" {
				wantCheck(t, err, tc.check)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(res.Hash[:]) != tc.hash || res.Roots != tc.roots || len(res.Signers) != tc.signers {
				t.Errorf("hash %s roots %v signers %v", res.Hash.Hex(), res.Roots, res.Signers)
			}
			if res.Linked || res.SealersChecked {
				t.Errorf("a lone block claims linked %v, sealers checked %v", res.Linked, res.SealersChecked)
			}
		})
	}
	// A verifier is built from a suite: an unknown name fails where the suite is made, and
	// no suite at all fails New.
	if _, err := cryptosuite.New("rsa"); !errors.Is(err, cryptosuite.ErrUnknownSuite) {
		t.Errorf("unknown suite: %v", err)
	}
	if _, err := verify.New(nil); !errors.Is(err, verify.ErrNoSuite) {
		t.Errorf("no suite: %v", err)
	}
	if _, err := verify.New(cryptosuite.ECDSA(), verify.WithSupportedVersion("two")); err == nil {
		t.Error("bad supported version accepted")
	}
}

// editBlock decodes block 22, lets f change it, and re-encodes it.
func editBlock(t *testing.T, f func(b *block.Block)) []byte {
	t.Helper()
	b, err := block.DecodeBlock(hexFixture(t, "rlp-block22-samplechain.hex"))
	if err != nil {
		t.Fatal(err)
	}
	f(b)
	raw, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestSignatureFailures(t *testing.T) {
	recs := records(t)
	cases := []struct {
		name string
		edit func(b *block.Block)
	}{
		{"forged signature", func(b *block.Block) {
			b.Signatures[1].Signature = bytes.Clone(b.Signatures[1].Signature)
			b.Signatures[1].Signature[10] ^= 0x01
		}},
		{"two of four", func(b *block.Block) { b.Signatures = b.Signatures[:2] }},
		{"same sealer twice", func(b *block.Block) { b.Signatures = append(b.Signatures[:2], b.Signatures[1]) }},
		{"index out of range", func(b *block.Block) { b.Signatures[0].Index = 4 }},
		{"signature by the wrong sealer", func(b *block.Block) { b.Signatures[0].Index = 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := verifiedTo(t, recs, 21)
			_, err := v.VerifyBlock(editBlock(t, tc.edit))
			ce := wantCheck(t, err, verify.CheckSignatures)
			if ce.Block != 22 || hex.EncodeToString(ce.Hash[:]) != block22Hash {
				t.Errorf("error names block %d %s", ce.Block, ce.Hash.Hex())
			}
		})
	}
}

func TestChainFailures(t *testing.T) {
	recs := records(t)
	raw22 := hexFixture(t, "rlp-block22-samplechain.hex")
	t.Run("wrong parent", func(t *testing.T) {
		v := newVerifier(t, cryptosuite.ECDSA(), verify.WithParent(verify.Parent{Number: 21, Hash: common.HexToHash("0x01")}))
		wantCheck(t, must(v.VerifyBlock(raw22)), verify.CheckParentLink)
	})
	t.Run("skipped block", func(t *testing.T) {
		v := verifiedTo(t, recs, 20)
		wantCheck(t, must(v.VerifyBlock(raw22)), verify.CheckNumber)
	})
	t.Run("sealer set differs from the configured one", func(t *testing.T) {
		sim := newSim(t, cryptosuite.ECDSA(), 4)
		var keys []cryptosuite.PublicKey
		for _, k := range sim.sealers {
			keys = append(keys, k.PublicKey())
		}
		v := newVerifier(t, cryptosuite.ECDSA(), verify.WithSealers(keys))
		wantCheck(t, must(v.VerifyBlock(raw22)), verify.CheckSealerSet)
	})
	t.Run("bad crc", func(t *testing.T) {
		v := verifiedTo(t, recs, 4)
		rec := *recs[5]
		rec.Raw = bytes.Clone(rec.Raw)
		rec.Raw[100] ^= 0x01
		ce := wantCheck(t, must(v.VerifyRecord(&rec)), verify.CheckCRC)
		if ce.Block != 5 {
			t.Errorf("crc error names block %d", ce.Block)
		}
		// As the binlog reader hands it over.
		v = verifiedTo(t, recs, 4)
		file := binlog.AppendHeader(nil)
		file = append(file, rec.Raw...)
		r := binlog.NewReader(bytes.NewReader(file), binlog.Options{})
		got, rerr := r.Next()
		if !errors.Is(rerr, binlog.ErrBadCRC) {
			t.Fatalf("reader: %v", rerr)
		}
		p := v.Prepare(got, rerr)
		wantCheck(t, p.Err(), verify.CheckCRC) // known before Commit: a stateless check
		wantCheck(t, must(v.Commit(p)), verify.CheckCRC)
		if err := v.Prepare(recs[5], nil).Err(); err != nil {
			t.Errorf("intact record: Prepared.Err() = %v, want nil", err)
		}
	})
	t.Run("tx hash not in _sys_tx_hash_2_block_", func(t *testing.T) {
		v := verifiedTo(t, recs, 2)
		rec := editRow(t, recs[3], "_sys_tx_hash_2_block_", "hash", strings.Repeat("ab", 32))
		wantCheck(t, must(v.VerifyRecord(rec)), verify.CheckTxHash)
	})
	t.Run("tx index wrong in _sys_tx_hash_2_block_", func(t *testing.T) {
		v := verifiedTo(t, recs, 2)
		rec := editRow(t, recs[3], "_sys_tx_hash_2_block_", "index", "1")
		wantCheck(t, must(v.VerifyRecord(rec)), verify.CheckTxIndex)
	})
	t.Run("number to hash row disagrees", func(t *testing.T) {
		v := verifiedTo(t, recs, 2)
		rec := editRow(t, recs[3], "_sys_number_2_hash_", "value", strings.Repeat("cd", 32))
		wantCheck(t, must(v.VerifyRecord(rec)), verify.CheckHeaderHash)
	})
	t.Run("stored header row disagrees", func(t *testing.T) {
		v := verifiedTo(t, recs, 2)
		rec := editRow(t, recs[3], "_sys_hash_2_header_", "sigs", "")
		wantCheck(t, must(v.VerifyRecord(rec)), verify.CheckHeaderHash)
	})
	t.Run("no block row", func(t *testing.T) {
		v := verifiedTo(t, recs, 2)
		rec := *recs[3]
		rec.Tables = slices.DeleteFunc(slices.Clone(rec.Tables), func(tb binlog.Table) bool { return tb.Name == "_sys_hash_2_block_" })
		wantCheck(t, must(v.VerifyRecord(reread(t, &rec))), verify.CheckDecode)
	})
	t.Run("hex-encoded block value", func(t *testing.T) {
		// Old and MySQL-backed chains store "0x"+hex: it must verify the same.
		v := verifiedTo(t, recs, 2)
		tb := recs[3].Table("_sys_hash_2_block_")
		raw, _ := tb.Value(&tb.New[0], "value")
		rec := editRow(t, recs[3], "_sys_hash_2_block_", "value", "0x"+hex.EncodeToString(raw))
		if _, err := v.VerifyRecord(rec); err != nil {
			t.Fatal(err)
		}
	})
}

func must(_ *verify.Result, err error) error { return err }

// editRow returns a copy of rec with one field of the first row of a table replaced, encoded
// and read back (so the CRC is valid).
func editRow(t *testing.T, rec *binlog.Record, table, field, value string) *binlog.Record {
	t.Helper()
	c := *rec
	c.Tables = slices.Clone(rec.Tables)
	for i := range c.Tables {
		tb := &c.Tables[i]
		if tb.Name != table {
			continue
		}
		tb.New = slices.Clone(tb.New)
		n := len(tb.ValueFields())
		vals := tb.New[0].Expand(n)
		vals[tb.FieldIndex(field)] = binlog.Value{Data: []byte(value), Set: true}
		tb.New[0] = binlog.NewEntry(tb.New[0].ID, tb.New[0].Status, vals)
		return reread(t, &c)
	}
	t.Fatalf("no table %s", table)
	return nil
}

func TestSimulatedFailures(t *testing.T) {
	for _, s := range []*cryptosuite.Suite{cryptosuite.ECDSA(), cryptosuite.SM()} {
		t.Run(s.Name(), func(t *testing.T) {
			start := func(t *testing.T) (*sim, *verify.Verifier) {
				c := newSim(t, s, 4)
				v := newVerifier(t, s)
				for _, rec := range []*binlog.Record{c.genesis(), must2(c.block(blockOpts{txs: 3}))} {
					if _, err := v.VerifyRecord(rec); err != nil {
						t.Fatal(err)
					}
				}
				return c, v
			}
			t.Run("good chain", func(t *testing.T) {
				c, v := start(t)
				for range 3 {
					rec, _ := c.block(blockOpts{txs: 20})
					res, err := v.VerifyRecord(rec)
					if err != nil {
						t.Fatal(err)
					}
					want := s.Address(c.user.PublicKey())
					for i, a := range res.Senders {
						if a != want {
							t.Fatalf("sender %d is %s, want %s", i, a.Hex(), want.Hex())
						}
					}
				}
			})
			t.Run("wrong receipts root", func(t *testing.T) {
				c, v := start(t)
				rec, _ := c.block(blockOpts{txs: 2, tamper: func(b *block.Block) { b.Header.ReceiptsRoot = s.Hash([]byte("x")) }})
				wantCheck(t, must(v.VerifyRecord(rec)), verify.CheckReceiptRoot)
			})
			t.Run("wrong transactions root", func(t *testing.T) {
				c, v := start(t)
				rec, _ := c.block(blockOpts{txs: 2, tamper: func(b *block.Block) { b.Header.TransactionsRoot = s.Hash([]byte("x")) }})
				wantCheck(t, must(v.VerifyRecord(rec)), verify.CheckTxRoot)
			})
			t.Run("unrecoverable sender", func(t *testing.T) {
				c, v := start(t)
				rec, _ := c.block(blockOpts{txs: 2, tamper: func(b *block.Block) {
					// A signature that no key produced, with roots recomputed so only the
					// sender is wrong.
					tx := b.Transactions[1]
					tx.S = new(big.Int).Add(tx.S, big.NewInt(1))
					if s.Name() == cryptosuite.NameECDSA {
						tx.R = new(big.Int) // r = 0 never recovers
					}
					tx.Invalidate()
					b.Header.TransactionsRoot, _ = block.TransactionsRoot(s, b.Transactions, block.MerkleRoots)
				}})
				wantCheck(t, must(v.VerifyRecord(rec)), verify.CheckSender)
			})
			t.Run("too few signatures", func(t *testing.T) {
				c, v := start(t)
				rec, _ := c.block(blockOpts{txs: 1, signers: []int{0, 3}})
				wantCheck(t, must(v.VerifyRecord(rec)), verify.CheckSignatures)
			})
			t.Run("removed sealer still listed", func(t *testing.T) {
				c, v := start(t)
				// Block 2 deletes sealer 3 (status 1): from block 3 on the sealer list is 3.
				del := binlog.NewEntry(100003, binlog.StatusDeleted, []binlog.Value{val("node"), val("sealer"), val(c.nodeID(3)), val("0")})
				rec, _ := c.block(blockOpts{txs: 1, consensus: []binlog.Entry{del}, consensusDirty: true})
				if _, err := v.VerifyRecord(rec); err != nil {
					t.Fatalf("the block that removes the sealer: %v", err)
				}
				stale, _ := c.block(blockOpts{txs: 1})
				wantCheck(t, must(v.VerifyRecord(stale)), verify.CheckSealerSet)
			})
			t.Run("removed sealer dropped", func(t *testing.T) {
				c, v := start(t)
				del := binlog.NewEntry(100003, binlog.StatusDeleted, []binlog.Value{val("node"), val("sealer"), val(c.nodeID(3)), val("0")})
				rec, _ := c.block(blockOpts{txs: 1, consensus: []binlog.Entry{del}, consensusDirty: true})
				if _, err := v.VerifyRecord(rec); err != nil {
					t.Fatal(err)
				}
				c.active = []int{0, 1, 2}
				next, _ := c.block(blockOpts{txs: 1})
				res, err := v.VerifyRecord(next)
				if err != nil {
					t.Fatal(err)
				}
				if res.Quorum != 3 || len(res.Block.Header.SealerList) != 3 {
					t.Errorf("quorum %d of %d", res.Quorum, len(res.Block.Header.SealerList))
				}
			})
			t.Run("added sealer takes effect next block", func(t *testing.T) {
				c, v := start(t)
				extra, _ := s.KeyFromSeed([]byte("verify-sealer-extra"))
				c.sealers = append(c.sealers, extra)
				// Written in block 2 with enable_num 2: a sealer from block 3.
				add := binlog.NewEntry(200000, 0, []binlog.Value{val("node"), val("sealer"), val(extra.PublicKey().String()), val("2")})
				rec, _ := c.block(blockOpts{txs: 1, consensus: []binlog.Entry{add}})
				if _, err := v.VerifyRecord(rec); err != nil {
					t.Fatal(err)
				}
				c.active = []int{0, 1, 2, 3, 4}
				next, _ := c.block(blockOpts{txs: 1}) // 5 sealers: quorum 5-1 = 4
				res, err := v.VerifyRecord(next)
				if err != nil {
					t.Fatal(err)
				}
				if res.Quorum != 4 || len(res.Signers) != 4 {
					t.Errorf("quorum %d, signers %v", res.Quorum, res.Signers)
				}
			})
		})
	}
}

func must2(rec *binlog.Record, _ *block.Block) *binlog.Record { return rec }

func TestVerifyRecordsReportsEachBadRecord(t *testing.T) {
	recs := records(t)
	var file []byte
	file = binlog.AppendHeader(file)
	for i, rec := range recs {
		raw := rec.Raw
		if i == 7 || i == 15 {
			raw = bytes.Clone(raw)
			raw[200] ^= 0xff
		}
		file = append(file, raw...)
	}
	v := newVerifier(t, cryptosuite.ECDSA(), verify.WithConcurrency(3))
	var bad []uint64
	n := 0
	err := v.VerifyRecords(context.Background(), binlog.NewReader(bytes.NewReader(file), binlog.Options{}), func(res *verify.Result, err error) error {
		n++
		if err != nil {
			ce := wantCheck(t, err, verify.CheckCRC)
			bad = append(bad, ce.Block)
		}
		return nil
	})
	if err != nil || n != 22 || !slices.Equal(bad, []uint64{7, 15}) {
		t.Fatalf("err %v, %d records, bad %v", err, n, bad)
	}
	t.Run("stops when fn says so", func(t *testing.T) {
		v := newVerifier(t, cryptosuite.ECDSA(), verify.WithConcurrency(3))
		stop := errors.New("stop")
		n := 0
		err := v.VerifyRecords(t.Context(), binlog.NewReader(bytes.NewReader(file), binlog.Options{}), func(*verify.Result, error) error {
			n++
			if n == 5 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 5 {
			t.Fatalf("err %v after %d", err, n)
		}
	})
	t.Run("read error ends the run", func(t *testing.T) {
		v := newVerifier(t, cryptosuite.ECDSA())
		n := 0
		err := v.VerifyRecords(t.Context(), binlog.NewReader(bytes.NewReader(file[:len(file)-10]), binlog.Options{}), func(*verify.Result, error) error {
			n++
			return nil
		})
		if !errors.Is(err, binlog.ErrTruncated) || n != 21 {
			t.Fatalf("err %v after %d records", err, n)
		}
	})
}
