package load

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/evm"
)

func newGen(t *testing.T, s *cryptosuite.Suite, seed int64) *Generator {
	t.Helper()
	g, err := New(Config{Suite: s, ChainID: 1, GroupID: 1, Seed: seed, Accounts: 4,
		ContractAddress: evm.NewExecutor(s.Hash, s.Name() == cryptosuite.NameSM).ContractAddress})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestStreamIsReproducible checks that one seed gives the same signed bytes, another seed
// different ones, for both crypto families, and the stream's shape: two deploys, one issue per
// account, then trading on both contracts.
func TestStreamIsReproducible(t *testing.T) {
	for _, s := range []*cryptosuite.Suite{cryptosuite.ECDSA(), cryptosuite.SM()} {
		t.Run(s.Name(), func(t *testing.T) {
			a, err := newGen(t, s, 1).NextSigned(0, 300)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := newGen(t, s, 1).NextSigned(0, 300)
			c, _ := newGen(t, s, 2).NextSigned(0, 300)
			for i := range a {
				if !bytes.Equal(a[i], b[i]) {
					t.Fatalf("tx %d differs with the same seed", i)
				}
			}
			if bytes.Equal(a[10], c[10]) {
				t.Fatal("another seed gave the same transaction")
			}
			g := newGen(t, s, 1)
			targets := map[string]int{}
			for i, raw := range a {
				tx, err := block.DecodeTransaction(raw)
				if err != nil {
					t.Fatal(err)
				}
				if tx.BlockLimit.Cmp(big.NewInt(BlockLimitAhead)) != 0 || tx.ChainID.Int64() != 1 {
					t.Fatalf("tx %d: blockLimit %v chainId %v", i, tx.BlockLimit, tx.ChainID)
				}
				switch {
				case tx.To == nil:
					targets["deploy"]++
				case *tx.To == g.AssetAddress():
					targets["asset"]++
				case *tx.To == g.EvidenceAddress():
					targets["evidence"]++
				}
			}
			if targets["deploy"] != 2 || targets["asset"] < 100 || targets["evidence"] < 50 {
				t.Fatalf("mix %v", targets)
			}
		})
	}
}

// TestResumeSkipsSetup checks that a resumed stream trades at once and depends on the head.
func TestResumeSkipsSetup(t *testing.T) {
	s := cryptosuite.ECDSA()
	g := newGen(t, s, 1)
	g.Resume(40, true)
	us, err := g.Next(40, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.Tx.To == nil || u.Key == g.deployer {
			t.Fatal("resumed stream deploys or issues again")
		}
	}
	h := newGen(t, s, 1)
	h.Resume(41, true)
	vs, _ := h.Next(41, 5)
	if bytes.Equal(us[0].Tx.Data, vs[0].Tx.Data) && us[0].Tx.Nonce.Cmp(vs[0].Tx.Nonce) == 0 {
		t.Fatal("resume ignores the head")
	}
}
