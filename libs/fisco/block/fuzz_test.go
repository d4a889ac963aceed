package block_test

import (
	"bytes"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// fixtureParts returns the real block RLPs and the transactions and receipts inside them.
func fixtureParts(f *testing.F) (blocks, txs, receipts [][]byte) {
	f.Helper()
	for _, name := range []string{block22File, block3File, genesisFile} {
		b, raw := decodeFixture(f, name)
		blocks = append(blocks, raw)
		for _, t := range b.Transactions {
			txs = append(txs, t.Bytes())
		}
		for _, r := range b.Receipts {
			receipts = append(receipts, r.Bytes())
		}
	}
	return blocks, txs, receipts
}

// checkStable asserts encode(decode(x)) decodes again to the same encoding, and that with the
// strict decoder it is x itself.
func checkStable(t *testing.T, in []byte, decode func([]byte) (func() []byte, error)) {
	encode, err := decode(in)
	if err != nil {
		return
	}
	out := encode()
	if !bytes.Equal(out, in) {
		t.Fatalf("encode(decode(x)) != x\n x = %x\nre = %x", in, out)
	}
	encode2, err := decode(out)
	if err != nil {
		t.Fatalf("re-encoding does not decode: %v", err)
	}
	if !bytes.Equal(encode2(), out) {
		t.Fatal("encoding is not stable")
	}
}

func FuzzDecodeBlock(f *testing.F) {
	blocks, _, _ := fixtureParts(f)
	for _, b := range blocks {
		f.Add(b)
	}
	s := cryptosuite.ECDSA()
	f.Fuzz(func(t *testing.T, in []byte) {
		checkStable(t, in, func(b []byte) (func() []byte, error) {
			blk, err := block.DecodeBlock(b)
			if err != nil {
				return nil, err
			}
			// Hashing and checks must not panic on any decodable block.
			_ = blk.VerifyHash(s)
			_ = blk.VerifySignatures(s)
			_ = blk.VerifyRoots(s, block.MerkleRoots)
			return func() []byte {
				out, err := blk.Encode()
				if err != nil {
					t.Fatal(err)
				}
				return out
			}, nil
		})
	})
}

func FuzzDecodeTransaction(f *testing.F) {
	_, txs, _ := fixtureParts(f)
	for _, tx := range txs {
		f.Add(tx)
	}
	s := cryptosuite.ECDSA()
	f.Fuzz(func(t *testing.T, in []byte) {
		checkStable(t, in, func(b []byte) (func() []byte, error) {
			tx, err := block.DecodeTransaction(b)
			if err != nil {
				return nil, err
			}
			_, _ = tx.Sender(s)
			_, _ = tx.Sender(cryptosuite.SM())
			if !bytes.Equal(tx.Encode(), tx.Bytes()) {
				t.Fatal("fields re-encode differently from the decoded bytes")
			}
			return tx.Encode, nil
		})
	})
}

func FuzzDecodeReceipt(f *testing.F) {
	_, _, receipts := fixtureParts(f)
	for _, r := range receipts {
		f.Add(r)
		// The same receipt in the 8-item (remainGas) form.
		rr, err := block.DecodeReceipt(r)
		if err != nil {
			f.Fatal(err)
		}
		rr.HasRemainGas = true
		rr.Invalidate()
		f.Add(rr.Encode())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkStable(t, in, func(b []byte) (func() []byte, error) {
			r, err := block.DecodeReceipt(b)
			if err != nil {
				return nil, err
			}
			return r.Encode, nil
		})
	})
}
