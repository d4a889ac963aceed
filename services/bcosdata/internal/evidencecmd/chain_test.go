package evidencecmd_test

// The go-sdk half of libs/evidence (package chain) is tested here rather than in libs: its
// tests need a running fiscosim, and the fiscosim module depends on libs, so a libs test
// importing it would make the two modules require each other. services/bcosdata already
// depends on both.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/evidence/chain"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/fiscosim/simtest"
)

// chainEnv is a running simulator with its Evidence contract and a client for it.
type chainEnv struct {
	sim      *fiscosim.Sim
	suite    *cryptosuite.Suite
	node     *chain.Node
	contract common.Address
	anchorer *chain.Anchorer
	pubKey   *cryptosuite.PrivateKey
}

func startChain(t *testing.T, sm bool) *chainEnv {
	t.Helper()
	cfg := simtest.Config(t)
	cfg.SM = sm
	cfg.TPS = 100 // a little traffic around our transactions; it also deploys Evidence
	sim := simtest.Start(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := sim.WaitBlock(ctx, 3); err != nil {
		t.Fatal(err)
	}
	var contract common.Address
	for _, c := range sim.Contracts() {
		if c.Name == "Evidence" {
			contract = common.HexToAddress(c.Address)
		}
	}
	if contract == (common.Address{}) {
		t.Fatal("fiscosim deploys no Evidence contract")
	}
	suite := cryptosuite.ECDSA()
	if sm {
		suite = cryptosuite.SM()
	}
	node, err := chain.Dial(sim.RPCURL(), int(sim.GroupID()), suite)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	a, err := chain.NewAnchorer(t.Context(), node, mustKey(t, suite, "anchor"), contract)
	if err != nil {
		t.Fatal(err)
	}
	return &chainEnv{sim: sim, suite: suite, node: node, contract: contract, anchorer: a, pubKey: mustKey(t, suite, "publisher acme")}
}

func mustKey(t testing.TB, s *cryptosuite.Suite, seed string) *cryptosuite.PrivateKey {
	t.Helper()
	k, err := s.KeyFromSeed([]byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// batch is one sealed segment: its header, records and tree.
type batch struct {
	hdr  evidence.SegmentHeader
	recs []evidence.Record
	tree *evidence.Tree
}

func (e *chainEnv) batch(t *testing.T, name string, n int) batch {
	t.Helper()
	recs := make([]evidence.Record, n)
	for i := range recs {
		r := evidence.Record{ID: fmt.Sprintf("%s/r-%d", name, i), Publisher: "acme", Category: "invoice", Kind: evidence.KindPublish}
		r.SetPayload(evidence.PayloadJSON, fmt.Appendf(nil, `{"invoice":%d}`, i))
		if err := evidence.Sign(e.suite, e.pubKey, &r); err != nil {
			t.Fatal(err)
		}
		recs[i] = r
	}
	return batch{hdr: evidence.NewSegmentHeader(name, time.Now(), recs), recs: recs, tree: evidence.NewTree(evidence.LeafHashes(recs))}
}

// anchor anchors b and returns the proofs of all its records.
func (e *chainEnv) anchor(t *testing.T, b batch) []evidence.Proof {
	t.Helper()
	ctx := t.Context()
	tx, err := e.anchorer.Anchor(ctx, b.hdr.BatchID, b.hdr.Root, b.hdr.Count, b.hdr.Name)
	if err != nil {
		t.Fatalf("anchor %s: %v", b.hdr.Name, err)
	}
	a, err := chain.Locate(ctx, e.node, e.contract, tx, b.hdr.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	return e.proofs(t, b, a)
}

func (e *chainEnv) proofs(t *testing.T, b batch, a evidence.Anchor) []evidence.Proof {
	t.Helper()
	out := make([]evidence.Proof, len(b.recs))
	for i := range b.recs {
		p, err := evidence.NewProof(b.hdr, b.tree, b.recs[i], uint64(i), evidence.NewPublisherKey(e.suite, e.pubKey.PublicKey()))
		if err != nil {
			t.Fatal(err)
		}
		p.Anchor = a
		out[i] = p
	}
	return out
}

func TestAnchorAndVerifyOnChain(t *testing.T) {
	for _, sm := range []bool{false, true} {
		t.Run(map[bool]string{false: "ecdsa", true: "sm"}[sm], func(t *testing.T) {
			e := startChain(t, sm)
			ctx := t.Context()
			b := e.batch(t, "evidence-000001", 5)
			proofs := e.anchor(t, b)
			for i, p := range proofs {
				var checks []string
				if err := chain.VerifyOnChainReport(ctx, e.node, &p, func(c, _ string) { checks = append(checks, c) }); err != nil {
					t.Fatalf("proof %d: %v", i, err)
				}
				if len(checks) != 11 || checks[len(checks)-1] != chain.CheckBlock {
					t.Fatalf("checks run: %q", checks)
				}
			}

			// The contract keeps what we stored.
			st, err := chain.Get(ctx, e.node, e.contract, b.hdr.BatchID)
			if err != nil {
				t.Fatal(err)
			}
			if st.Submitter != e.anchorer.Address() || st.DocHash != b.hdr.Root || st.Category != chain.Category ||
				st.Metadata != fmt.Sprintf(`{"count":5,"segment":"%s"}`, b.hdr.Name) || st.BlockNumber != proofs[0].Anchor.BlockNumber {
				t.Fatalf("get(batch id) = %+v", st)
			}

			// A retry recognises our own anchor, and FindAnchor locates it without the tx hash.
			if _, err := e.anchorer.Anchor(ctx, b.hdr.BatchID, b.hdr.Root, b.hdr.Count, b.hdr.Name); !errors.Is(err, chain.ErrAlreadyAnchoredByUs) {
				t.Fatalf("second anchor: %v, want ErrAlreadyAnchoredByUs", err)
			}
			found, err := chain.FindAnchor(ctx, e.node, e.contract, b.hdr.BatchID)
			if err != nil || found != proofs[0].Anchor {
				t.Fatalf("FindAnchor = %+v, %v; want %+v", found, err, proofs[0].Anchor)
			}
			// Another root under the same id, or another account, is refused, not "done".
			other := b.hdr.Root
			other[0] ^= 1
			if _, err := e.anchorer.Anchor(ctx, b.hdr.BatchID, other, b.hdr.Count, b.hdr.Name); !errors.Is(err, chain.ErrAnchoredByOther) {
				t.Fatalf("anchor with another root: %v, want ErrAnchoredByOther", err)
			}
			stranger, err := chain.NewAnchorer(ctx, e.node, mustKey(t, e.suite, "stranger"), e.contract)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stranger.Anchor(ctx, b.hdr.BatchID, b.hdr.Root, b.hdr.Count, b.hdr.Name); !errors.Is(err, chain.ErrAnchoredByOther) {
				t.Fatalf("anchor by another account: %v, want ErrAnchoredByOther", err)
			}
		})
	}
}

// TestAnchorRaceStoresOnce sends the same batch from two goroutines at once: the contract takes
// one store; the other attempt — refused on chain or stopped by the pre-check — reports
// ErrAlreadyAnchoredByUs.
func TestAnchorRaceStoresOnce(t *testing.T) {
	e := startChain(t, false)
	b := e.batch(t, "evidence-race", 3)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = e.anchorer.Anchor(t.Context(), b.hdr.BatchID, b.hdr.Root, b.hdr.Count, b.hdr.Name)
		})
	}
	wg.Wait()
	ok, dup := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, chain.ErrAlreadyAnchoredByUs):
			dup++
		default:
			t.Fatalf("racing anchor: %v", err)
		}
	}
	if ok != 1 || dup != 1 {
		t.Fatalf("%d stores succeeded and %d were recognised as ours, want 1 and 1 (%v)", ok, dup, errs)
	}
	a, err := chain.FindAnchor(t.Context(), e.node, e.contract, b.hdr.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	// Both attempts usually pass the pre-check and send: then the chain holds one successful
	// and one refused (reverted) store from our account, and the refusal was recognised.
	statuses := map[string]int{}
	for n := a.BlockNumber; n <= a.BlockNumber+3 && n <= e.sim.HeadNumber(); n++ {
		var blk struct{ Transactions []string }
		rpcCall(t, e.sim.RPCURL(), &blk, "getBlockByNumber", 1, strconv.FormatUint(n, 10), false)
		for _, h := range blk.Transactions {
			var rc struct{ From, Status string }
			rpcCall(t, e.sim.RPCURL(), &rc, "getTransactionReceipt", 1, h)
			if strings.EqualFold(rc.From, e.anchorer.Address().Hex()) {
				statuses[rc.Status]++
			}
		}
	}
	switch {
	case statuses["0x0"] != 1:
		t.Fatalf("stores from the anchor account by status: %v, want exactly one success", statuses)
	case len(statuses) == 1:
		t.Log("the second attempt stopped at the pre-check")
	case statuses["0x16"] != 1 || len(statuses) != 2:
		t.Fatalf("stores from the anchor account by status: %v, want one success and one revert", statuses)
	}
	p := e.proofs(t, b, a)[2]
	if err := chain.VerifyOnChain(t.Context(), e.node, &p); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyOnChainRejectsAlteredAnchor(t *testing.T) {
	e := startChain(t, false)
	ctx := t.Context()
	b1 := e.batch(t, "evidence-a", 4)
	b2 := e.batch(t, "evidence-b", 4)
	p1 := e.anchor(t, b1)[1]
	p2 := e.anchor(t, b2)[1]
	if p1.Anchor.BlockNumber == p2.Anchor.BlockNumber {
		// Both in one block is fine, but then the block-swap case below needs another block.
		t.Log("both anchors in one block")
	}
	cases := []struct {
		name   string
		mutate func(p *evidence.Proof)
		check  string
	}{
		{"no anchor", func(p *evidence.Proof) { p.Anchor = evidence.Anchor{} }, chain.CheckAnchor},
		{"unknown tx hash", func(p *evidence.Proof) { p.Anchor.TxHash[5] ^= 1 }, chain.CheckReceipt},
		{"tx of another batch", func(p *evidence.Proof) { p.Anchor.TxHash = p2.Anchor.TxHash }, chain.CheckLog},
		{"log index", func(p *evidence.Proof) { p.Anchor.LogIndex = 1 }, chain.CheckLog},
		{"contract", func(p *evidence.Proof) { p.Anchor.Contract[19] ^= 1 }, chain.CheckLog},
		{"block hash", func(p *evidence.Proof) { p.Anchor.BlockHash[0] ^= 1 }, chain.CheckBlock},
		{"block number", func(p *evidence.Proof) { p.Anchor.BlockNumber++ }, chain.CheckBlock},
		{"whole proof of another batch with this anchor", func(p *evidence.Proof) { a := p.Anchor; *p = p2; p.Anchor = a }, chain.CheckLog},
		{"record", func(p *evidence.Proof) { p.Record.Category = "receipt" }, evidence.CheckSignature},
		{"path", func(p *evidence.Proof) { p.Path[0][9] ^= 1 }, evidence.CheckPath},
		{"root", func(p *evidence.Proof) { p.Root[9] ^= 1; p.BatchID = evidence.BatchID(p.Segment, p.Root) }, evidence.CheckPath},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := p1
			p.Path = append([][32]byte(nil), p1.Path...)
			c.mutate(&p)
			err := chain.VerifyOnChain(ctx, e.node, &p)
			var ce *evidence.CheckError
			if !errors.As(err, &ce) || ce.Check != c.check {
				t.Fatalf("err = %v, want check %q to fail", err, c.check)
			}
		})
	}
	if err := chain.VerifyOnChain(ctx, e.node, &p1); err != nil {
		t.Fatalf("the untouched proof: %v", err)
	}
}

// rpcCall posts one JSON-RPC request to the simulator and decodes its result into out.
func rpcCall(t *testing.T, url string, out any, method string, params ...any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Result json.RawMessage
		Error  any
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env.Error != nil {
		t.Fatalf("%s: %v %v", method, err, env.Error)
	}
	if err := json.Unmarshal(env.Result, out); err != nil {
		t.Fatalf("%s result %s: %v", method, env.Result, err)
	}
}
