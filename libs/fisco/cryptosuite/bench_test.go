package cryptosuite_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// BenchmarkRecoverTx measures transaction sender recovery: ECDSA public-key recovery (cgo
// libsecp256k1, or btcec with CGO_ENABLED=0) and SM2 verification against the key in v.
func BenchmarkRecoverTx(b *testing.B) {
	for _, s := range suites() {
		b.Run(s.Name(), func(b *testing.B) {
			key := seedKey(b, s, "bench")
			h := s.Hash([]byte("tx"))
			sig, err := s.SignTx(key, h)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.RecoverTx(h, sig); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
		})
	}
}

// BenchmarkEcrecoverBaseline is go-ethereum's bare recovery, to show the suite's overhead.
func BenchmarkEcrecoverBaseline(b *testing.B) {
	s := cryptosuite.ECDSA()
	key := seedKey(b, s, "bench")
	h := s.Hash([]byte("tx"))
	sig, _ := s.Sign(key, h)
	for b.Loop() {
		if _, err := crypto.Ecrecover(h[:], sig); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
}

func BenchmarkSign(b *testing.B) {
	for _, s := range suites() {
		b.Run(s.Name(), func(b *testing.B) {
			key := seedKey(b, s, "bench")
			h := s.Hash([]byte("block"))
			for b.Loop() {
				if _, err := s.Sign(key, h); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
		})
	}
}
