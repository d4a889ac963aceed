package block_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// chain is a small simulated chain: sealer and user keys from seeds.
type chain struct {
	s       *cryptosuite.Suite
	sealers []*cryptosuite.PrivateKey
	users   []*cryptosuite.PrivateKey
}

func newChain(t testing.TB, s *cryptosuite.Suite) *chain {
	t.Helper()
	c := &chain{s: s}
	for i := range 4 {
		k, err := s.KeyFromSeed(fmt.Appendf(nil, "sealer-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		c.sealers = append(c.sealers, k)
	}
	for i := range 3 {
		k, _ := s.KeyFromSeed(fmt.Appendf(nil, "user-%d", i))
		c.users = append(c.users, k)
	}
	return c
}

func (c *chain) tx(t testing.TB, i int, create bool) *block.Transaction {
	t.Helper()
	to := common.BytesToAddress([]byte{0xc0, byte(i)})
	tx := &block.Transaction{
		Nonce:      new(big.Int).Lsh(big.NewInt(int64(i+1)), 200),
		GasPrice:   big.NewInt(10),
		Gas:        big.NewInt(30_000_000),
		BlockLimit: big.NewInt(600),
		To:         &to,
		Value:      new(big.Int),
		Data:       bytes.Repeat([]byte{byte(i)}, 4+i*7),
		ChainID:    big.NewInt(1),
		GroupID:    big.NewInt(1),
	}
	if create {
		tx.To = nil
	}
	if err := tx.Sign(c.s, c.users[i%len(c.users)]); err != nil {
		t.Fatal(err)
	}
	return tx
}

func receipt(s *cryptosuite.Suite, i int, stateRoot common.Hash, remainGas bool) *block.Receipt {
	r := &block.Receipt{
		StateRoot:    stateRoot,
		GasUsed:      big.NewInt(int64(21000 + i)),
		Status:       uint64(i % 3),
		Output:       []byte{byte(i)},
		HasRemainGas: remainGas,
		RemainGas:    big.NewInt(int64(1000 * i)),
	}
	for j := range i % 3 {
		r.Logs = append(r.Logs, block.Log{
			Address: common.BytesToAddress([]byte{0xee, byte(i)}),
			Topics:  []common.Hash{s.Hash([]byte("Event(uint256)")), common.BigToHash(big.NewInt(int64(j)))},
			Data:    bytes.Repeat([]byte{byte(j)}, 64),
		})
	}
	r.Bloom = r.ComputeBloom(s)
	return r
}

func (c *chain) header(number uint64) *block.Header {
	h := &block.Header{
		ParentHash: c.s.Hash([]byte("parent")),
		StateRoot:  c.s.Hash([]byte("state")),
		Number:     number,
		GasLimit:   new(big.Int),
		GasUsed:    new(big.Int),
		Timestamp:  1_600_000_000_000 + number,
		Sealer:     1,
	}
	h.DBHash = h.StateRoot
	for _, k := range c.sealers {
		h.SealerList = append(h.SealerList, k.PublicKey())
	}
	return h
}

func TestAssembleSignEncodeDecode(t *testing.T) {
	for _, s := range []*cryptosuite.Suite{cryptosuite.ECDSA(), cryptosuite.SM()} {
		for _, remainGas := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/remainGas=%v", s.Name(), remainGas), func(t *testing.T) {
				c := newChain(t, s)
				h := c.header(7)
				var txs []*block.Transaction
				var rs []*block.Receipt
				for i := range 20 { // more than 16 leaves: two Merkle levels
					txs = append(txs, c.tx(t, i, i == 3))
					rs = append(rs, receipt(s, i, h.StateRoot, remainGas))
				}
				b, err := block.Assemble(s, h, txs, rs, block.MerkleRoots)
				if err != nil {
					t.Fatal(err)
				}
				for _, i := range []uint64{2, 0, 3} {
					if err := b.Sign(s, i, c.sealers[i]); err != nil {
						t.Fatal(err)
					}
				}
				raw, err := b.Encode()
				if err != nil {
					t.Fatal(err)
				}

				got, err := block.DecodeBlock(raw)
				if err != nil {
					t.Fatalf("DecodeBlock: %v", err)
				}
				again, _ := got.Encode()
				if !bytes.Equal(again, raw) {
					t.Error("decode → encode changed the bytes")
				}
				if err := got.VerifyHash(s); err != nil {
					t.Error(err)
				}
				if err := got.VerifySignatures(s); err != nil {
					t.Error(err)
				}
				if err := got.VerifyRoots(s, block.MerkleRoots); err != nil {
					t.Error(err)
				}
				if err := got.VerifyRoots(s, block.RC2Roots); err == nil {
					t.Error("roots also match the RC2 rule")
				}
				if len(got.Transactions) != 20 || len(got.Receipts) != 20 || len(got.Signatures) != 3 {
					t.Fatalf("decoded %d txs, %d receipts, %d sigs", len(got.Transactions), len(got.Receipts), len(got.Signatures))
				}
				for i, tx := range got.Transactions {
					from, err := tx.Sender(s)
					want := s.Address(c.users[i%len(c.users)].PublicKey())
					if err != nil || from != want {
						t.Errorf("tx %d sender = %s, %v; want %s", i, from.Hex(), err, want.Hex())
					}
					if tx.Hash(s) != txs[i].Hash(s) {
						t.Errorf("tx %d hash changed", i)
					}
					if tx.IsCreation() != (i == 3) {
						t.Errorf("tx %d IsCreation = %v", i, tx.IsCreation())
					}
				}
				for i, r := range got.Receipts {
					if r.HasRemainGas != remainGas || r.Bloom != r.ComputeBloom(s) || len(r.Logs) != i%3 {
						t.Errorf("receipt %d: remainGas %v, %d logs, bloom ok %v", i, r.HasRemainGas, len(r.Logs), r.Bloom == r.ComputeBloom(s))
					}
				}
			})
		}
	}
}

// Seeded keys and deterministic signing make a rebuilt chain byte-identical.
func TestAssembledBlocksAreReproducible(t *testing.T) {
	for _, s := range []*cryptosuite.Suite{cryptosuite.ECDSA(), cryptosuite.SM()} {
		t.Run(s.Name(), func(t *testing.T) {
			build := func() []byte {
				c := newChain(t, s)
				h := c.header(1)
				b, err := block.Assemble(s, h, []*block.Transaction{c.tx(t, 0, false)}, []*block.Receipt{receipt(s, 1, h.StateRoot, false)}, block.MerkleRoots)
				if err != nil {
					t.Fatal(err)
				}
				for i, k := range c.sealers {
					if err := b.Sign(s, uint64(i), k); err != nil {
						t.Fatal(err)
					}
				}
				raw, _ := b.Encode()
				return raw
			}
			if !bytes.Equal(build(), build()) {
				t.Error("two builds from the same seeds differ")
			}
		})
	}
}

func TestRC2RootsRule(t *testing.T) {
	s := cryptosuite.ECDSA()
	c := newChain(t, s)
	txs := []*block.Transaction{c.tx(t, 0, false), c.tx(t, 1, false)}
	rs := []*block.Receipt{receipt(s, 0, common.Hash{}, false), receipt(s, 1, common.Hash{}, false)}
	b, err := block.Assemble(s, c.header(2), txs, rs, block.RC2Roots)
	if err != nil {
		t.Fatal(err)
	}
	txBytes, _ := block.EncodeTransactions(txs)
	if b.Header.TransactionsRoot != s.Hash(txBytes) {
		t.Error("RC2 transactionsRoot is not Hash(transactions item)")
	}
	list, _ := rlp.EncodeToBytes([]rlp.RawValue{rs[0].Bytes(), rs[1].Bytes()})
	if b.Header.ReceiptsRoot != s.Hash(list) {
		t.Error("RC2 receiptsRoot is not Hash(RLP list of receipts)")
	}
}

// merkleReference is an independent, recursive statement of the TrieHash2 rule: the root of a
// node list is the hash of the single node left after grouping by 16.
func merkleReference(s *cryptosuite.Suite, nodes [][]byte) common.Hash {
	if len(nodes) == 1 {
		return s.Hash(nodes[0])
	}
	var parents [][]byte
	for len(nodes) > 0 {
		n := min(16, len(nodes))
		h := s.Hash(bytes.Join(nodes[:n], nil))
		parents = append(parents, h[:])
		nodes = nodes[n:]
	}
	return merkleReference(s, parents)
}

func TestMerkleRoot(t *testing.T) {
	for _, s := range []*cryptosuite.Suite{cryptosuite.ECDSA(), cryptosuite.SM()} {
		for _, n := range []int{0, 1, 2, 15, 16, 17, 128, 255, 256, 257, 300} {
			t.Run(fmt.Sprintf("%s/%d", s.Name(), n), func(t *testing.T) {
				hashes := make([]common.Hash, n)
				var leaves [][]byte
				for i := range hashes {
					hashes[i] = s.Hash(binary.BigEndian.AppendUint32(nil, uint32(i)))
					key, _ := rlp.EncodeToBytes(uint64(i))
					leaves = append(leaves, append(key, hashes[i][:]...))
				}
				want := s.Hash() // Hash(empty) for no items
				if n > 0 {
					want = merkleReference(s, leaves)
				}
				if got := block.MerkleRoot(s, hashes); got != want {
					t.Errorf("MerkleRoot = %s, want %s", got.Hex(), want.Hex())
				}
			})
		}
	}
	if got := block.MerkleRoot(cryptosuite.ECDSA(), nil); got.Hex() != "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470" {
		t.Errorf("empty root = %s, want keccak256(\"\")", got.Hex())
	}
}

// The hand-written encoders must agree with go-ethereum's reflection-based RLP encoder.
func TestEncodersMatchGoEthereumRLP(t *testing.T) {
	s := cryptosuite.SM()
	c := newChain(t, s)
	big256 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	to := common.HexToAddress("0x00000000000000000000000000000000000000ff")
	txs := map[string]*block.Transaction{
		"zero values":   {},
		"max integers":  {Nonce: big256, GasPrice: big256, Gas: big256, BlockLimit: big256, To: &to, Value: big256, ChainID: big256, GroupID: big256, R: big256, S: big256, V: []byte{28}},
		"small values":  {Nonce: big.NewInt(0x7f), Gas: big.NewInt(0x80), BlockLimit: big.NewInt(0xff), Data: []byte{0x7f}, ExtraData: []byte{0x80}, V: []byte{27}},
		"long payloads": {Data: bytes.Repeat([]byte{1}, 70000), ExtraData: bytes.Repeat([]byte{2}, 56), V: bytes.Repeat([]byte{3}, 64)},
		"signed":        c.tx(t, 5, false),
	}
	for name, tx := range txs {
		t.Run("tx/"+name, func(t *testing.T) {
			var toItem []byte
			if tx.To != nil {
				toItem = tx.To[:]
			}
			unsigned := []any{z(tx.Nonce), z(tx.GasPrice), z(tx.Gas), z(tx.BlockLimit), toItem, z(tx.Value), tx.Data, z(tx.ChainID), z(tx.GroupID), tx.ExtraData}
			want, err := rlp.EncodeToBytes(append(unsigned, tx.V, z(tx.R), z(tx.S)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tx.Encode(), want) {
				t.Error("signed encoding differs from go-ethereum rlp")
			}
			wantUnsigned, _ := rlp.EncodeToBytes(unsigned)
			if !bytes.Equal(tx.EncodeUnsigned(), wantUnsigned) {
				t.Error("unsigned encoding differs from go-ethereum rlp")
			}
		})
	}
	t.Run("header", func(t *testing.T) {
		h := c.header(1 << 40)
		h.GasLimit = big256
		h.ExtraData = [][]byte{[]byte("x"), bytes.Repeat([]byte("y"), 300), nil}
		ids := make([][]byte, len(h.SealerList))
		for i, id := range h.SealerList {
			ids[i] = id.Bytes()
		}
		want, _ := rlp.EncodeToBytes([]any{h.ParentHash, h.StateRoot, h.TransactionsRoot, h.ReceiptsRoot, h.DBHash, h.LogsBloom[:],
			h.Number, h.GasLimit, h.GasUsed, h.Timestamp, h.ExtraData, h.Sealer, ids})
		if !bytes.Equal(h.Encode(), want) {
			t.Error("header encoding differs from go-ethereum rlp")
		}
	})
	for _, remain := range []bool{false, true} {
		t.Run(fmt.Sprint("receipt/remainGas=", remain), func(t *testing.T) {
			r := receipt(s, 2, common.Hash{9}, remain)
			var logs []any
			for _, l := range r.Logs {
				logs = append(logs, []any{l.Address, l.Topics, l.Data})
			}
			items := []any{r.StateRoot, r.GasUsed, r.ContractAddress, r.Bloom[:], r.Status, r.Output}
			if remain {
				items = append(items, r.RemainGas)
			}
			want, _ := rlp.EncodeToBytes(append(items, logs))
			if !bytes.Equal(r.Encode(), want) {
				t.Error("receipt encoding differs from go-ethereum rlp")
			}
			back, err := block.DecodeReceipt(want)
			if err != nil || back.HasRemainGas != remain || !bytes.Equal(back.Encode(), want) {
				t.Errorf("receipt round trip: %v, remainGas %v", err, back != nil && back.HasRemainGas)
			}
		})
	}
}

func z(x *big.Int) *big.Int {
	if x == nil {
		return new(big.Int)
	}
	return x
}

// The transactions item is u32 LITTLE-endian count and offsets, then the RLPs.
func TestEncodeTransactionsLayout(t *testing.T) {
	c := newChain(t, cryptosuite.ECDSA())
	a, b := c.tx(t, 0, false), c.tx(t, 1, true)
	got, err := block.EncodeTransactions([]*block.Transaction{a, b})
	if err != nil {
		t.Fatal(err)
	}
	la, lb := len(a.Bytes()), len(b.Bytes())
	want := []byte{2, 0, 0, 0, 0, 0, 0, 0, byte(la), byte(la >> 8), 0, 0, byte(la + lb), byte((la + lb) >> 8), 0, 0}
	want = append(append(want, a.Bytes()...), b.Bytes()...)
	if !bytes.Equal(got, want) {
		t.Errorf("layout = %x…, want %x…", got[:16], want[:16])
	}
	if empty, _ := block.EncodeTransactions(nil); len(empty) != 0 {
		t.Errorf("no transactions encode as %x, want empty", empty)
	}
	back, err := block.DecodeTransactions(got)
	if err != nil || len(back) != 2 || !bytes.Equal(back[1].Bytes(), b.Bytes()) {
		t.Errorf("DecodeTransactions: %v", err)
	}
}

func TestDecodedValuesHashTheirBytesUntilInvalidated(t *testing.T) {
	s := cryptosuite.ECDSA()
	b, _ := decodeFixture(t, block22File)
	h := b.Header
	orig := h.Hash(s)
	h.Number++
	if h.Hash(s) != orig {
		t.Fatal("a decoded header re-encoded before Invalidate")
	}
	h.Invalidate()
	if h.Hash(s) == orig {
		t.Fatal("Invalidate did not make the header re-encode")
	}
	if err := b.VerifyHash(s); !errors.Is(err, block.ErrHashMismatch) {
		t.Errorf("VerifyHash after changing the number = %v, want ErrHashMismatch", err)
	}
	tx := b.Transactions[0]
	orig = tx.Hash(s)
	if err := tx.Sign(s, newChain(t, s).users[0]); err != nil {
		t.Fatal(err)
	}
	if tx.Hash(s) == orig {
		t.Error("Sign kept the decoded bytes")
	}
}

func TestVerifySignaturesRejects(t *testing.T) {
	for _, s := range []*cryptosuite.Suite{cryptosuite.ECDSA(), cryptosuite.SM()} {
		c := newChain(t, s)
		mk := func() *block.Block {
			b, err := block.Assemble(s, c.header(3), nil, nil, block.MerkleRoots)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := b.Sign(s, uint64(i), c.sealers[i]); err != nil {
					t.Fatal(err)
				}
			}
			return b
		}
		tests := []struct {
			name     string
			mutate   func(b *block.Block)
			position int
		}{
			{"flipped byte", func(b *block.Block) { b.Signatures[1].Signature[3] ^= 1 }, 1},
			{"wrong sealer index", func(b *block.Block) { b.Signatures[2].Index = 3 }, 2},
			{"index beyond sealers", func(b *block.Block) { b.Signatures[0].Index = 4 }, 0},
			{"duplicate sealer", func(b *block.Block) { b.Signatures = append(b.Signatures, b.Signatures[0]) }, 3},
			{"other block's hash", func(b *block.Block) { b.BlockHash[0] ^= 1 }, 0},
			{"signed by a non-sealer", func(b *block.Block) {
				k, _ := s.KeyFromSeed([]byte("intruder"))
				sig, _ := s.Sign(k, b.BlockHash)
				b.Signatures[1].Signature = sig
			}, 1},
			{"truncated", func(b *block.Block) { b.Signatures[2].Signature = b.Signatures[2].Signature[:64] }, 2},
		}
		for _, tt := range tests {
			t.Run(s.Name()+"/"+tt.name, func(t *testing.T) {
				b := mk()
				if err := b.VerifySignatures(s); err != nil {
					t.Fatalf("intact block: %v", err)
				}
				tt.mutate(b)
				err := b.VerifySignatures(s)
				var se *block.SignatureError
				if !errors.As(err, &se) || !errors.Is(err, block.ErrBadSignature) {
					t.Fatalf("VerifySignatures = %v, want a SignatureError", err)
				}
				if se.Position != tt.position {
					t.Errorf("failed at position %d, want %d", se.Position, tt.position)
				}
			})
		}
	}
}

func TestValidateReportsUnencodableIntegers(t *testing.T) {
	neg := big.NewInt(-1)
	huge := new(big.Int).Lsh(big.NewInt(1), 256)
	tests := []struct {
		name  string
		check func() error
		field string
	}{
		{"tx negative value", (&block.Transaction{Value: neg}).Validate, "value"},
		{"tx huge nonce", (&block.Transaction{Nonce: huge}).Validate, "nonce"},
		{"header negative gasUsed", (&block.Header{GasUsed: neg}).Validate, "gasUsed"},
		{"receipt huge remainGas", (&block.Receipt{RemainGas: huge}).Validate, "remainGas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fe *block.FieldError
			if err := tt.check(); !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("Validate = %v, want a FieldError on %s", err, tt.field)
			}
		})
	}
	if err := (&block.Transaction{}).Validate(); err != nil {
		t.Errorf("zero transaction: %v", err)
	}
	if _, err := block.Assemble(cryptosuite.ECDSA(), &block.Header{GasLimit: neg}, nil, nil, block.MerkleRoots); err == nil {
		t.Error("Assemble accepted a negative gasLimit")
	}
	if _, err := block.Assemble(cryptosuite.ECDSA(), &block.Header{}, []*block.Transaction{{Gas: neg}}, nil, block.MerkleRoots); err == nil {
		t.Error("Assemble accepted a transaction with negative gas")
	}
	if _, err := block.Assemble(cryptosuite.ECDSA(), &block.Header{}, nil, []*block.Receipt{{GasUsed: huge}}, block.MerkleRoots); err == nil {
		t.Error("Assemble accepted a receipt with a 257-bit gasUsed")
	}
}
