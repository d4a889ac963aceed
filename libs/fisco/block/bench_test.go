package block_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// decodeAndHash is the per-block work before signature checks: decode, block hash, tx hashes,
// receipt hashes and both roots.
func decodeAndHash(b *testing.B, s *cryptosuite.Suite, raw []byte) {
	blk, err := block.DecodeBlock(raw)
	if err != nil {
		b.Fatal(err)
	}
	if err := blk.VerifyHash(s); err != nil {
		b.Fatal(err)
	}
	if err := blk.VerifyRoots(s, block.MerkleRoots); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkDecodeAndHashBlock(b *testing.B) {
	s := cryptosuite.ECDSA()
	big := syntheticBlock(b, s, 2000)
	cases := []struct {
		name string
		raw  []byte
	}{
		{"fixture-block22", readHexFixture(b, block22File)},
		{"synthetic-2000tx", big},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				decodeAndHash(b, s, c.raw)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
			b.ReportMetric(float64(len(c.raw))*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
		})
	}
}

func syntheticBlock(b *testing.B, s *cryptosuite.Suite, n int) []byte {
	c := newChain(b, s)
	h := c.header(9)
	txs := make([]*block.Transaction, n)
	rs := make([]*block.Receipt, n)
	for i := range n {
		txs[i] = c.tx(b, i%40, false)
		rs[i] = receipt(s, i, h.StateRoot, false)
	}
	blk, err := block.Assemble(s, h, txs, rs, block.MerkleRoots)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := blk.Encode()
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkSender measures sender recovery of real transactions (signing hash + ECDSA recovery,
// or SM3 + SM2 verification). Run with CGO_ENABLED=0 for the pure-Go secp256k1 figure.
func BenchmarkSender(b *testing.B) {
	ecdsaBlock, _ := decodeFixture(b, block22File)
	c := newChain(b, cryptosuite.SM())
	cases := []struct {
		name string
		s    *cryptosuite.Suite
		tx   *block.Transaction
	}{
		{"ecdsa", cryptosuite.ECDSA(), ecdsaBlock.Transactions[0]},
		{"sm2", cryptosuite.SM(), c.tx(b, 1, false)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var from common.Address
			for b.Loop() {
				var err error
				if from, err = tc.tx.Sender(tc.s); err != nil {
					b.Fatal(err)
				}
			}
			_ = from
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
		})
	}
}
