package load

import (
	"bytes"
	"encoding/json"
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

// TestFullMixRecords checks the full mix: reproducible, every transaction recorded with its
// hash, the setup deploying three books, the registry and a book opened by the registry, and
// trading that reaches both the classic and the new contracts.
func TestFullMixRecords(t *testing.T) {
	for _, s := range []*cryptosuite.Suite{cryptosuite.ECDSA(), cryptosuite.SM()} {
		t.Run(s.Name(), func(t *testing.T) {
			gen := func(seed int64) *Generator {
				g, err := New(Config{Suite: s, ChainID: 1, GroupID: 1, Seed: seed, Accounts: 4, Mix: MixFull,
					ContractAddress: evm.NewExecutor(s.Hash, s.Name() == cryptosuite.NameSM).ContractAddress})
				if err != nil {
					t.Fatal(err)
				}
				return g
			}
			g := gen(1)
			a, err := g.NextSent(0, 400)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := gen(1).NextSent(0, 400)
			contractsHit := map[string]int{}
			for i, tx := range a {
				if !bytes.Equal(tx.Raw, b[i].Raw) {
					t.Fatalf("tx %d differs with the same seed", i)
				}
				r := tx.Record
				if r == nil || r.Seq != uint64(i) || r.TxHash != s.Hash(tx.Raw) || r.Signature == "" {
					t.Fatalf("tx %d: record %+v", i, r)
				}
				dec, _ := block.DecodeTransaction(tx.Raw)
				if (dec.To == nil) != r.Deploy || dec.To != nil && *dec.To != r.To {
					t.Fatalf("tx %d: record to %s deploy %v, transaction to %v", i, r.To.Hex(), r.Deploy, dec.To)
				}
				if _, err := json.Marshal(r); err != nil {
					t.Fatalf("tx %d: %v", i, err)
				}
				contractsHit[r.Contract]++
			}
			if a[8].Record.Signature != "open(string,uint256)" || len(a[8].Record.Created) != 1 ||
				a[8].Record.Created[0].Address != g.LedgerAddresses()[3] {
				t.Fatalf("step 8: %+v", a[8].Record)
			}
			for _, n := range []string{"Asset", "Evidence", "Ledger", "Registry"} {
				if contractsHit[n] < 20 {
					t.Fatalf("mix %v", contractsHit)
				}
			}
		})
	}
}
