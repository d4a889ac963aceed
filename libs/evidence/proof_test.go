package evidence_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/google/go-cmp/cmp"

	"github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

func proofs(t testing.TB, n int) []evidence.Proof {
	t.Helper()
	recs, pub := batch(t, n)
	hdr := evidence.NewSegmentHeader("evidence-000001", sealed, recs)
	tree := evidence.NewTree(evidence.LeafHashes(recs))
	out := make([]evidence.Proof, n)
	for i := range recs {
		p, err := evidence.NewProof(hdr, tree, recs[i], uint64(i), pub)
		if err != nil {
			t.Fatal(err)
		}
		p.Anchor = evidence.Anchor{
			Contract: common.HexToAddress("0x1000000000000000000000000000000000000001"), BlockNumber: 1<<53 + 1,
			BlockHash: common.HexToHash("0xb1"), TxHash: common.HexToHash("0x7a"), LogIndex: 2,
		}
		out[i] = p
	}
	return out
}

func TestProofVerifyOfflineAndJSON(t *testing.T) {
	for i, p := range proofs(t, 11) {
		var checks []string
		if err := p.VerifyOfflineReport(func(c, _ string) { checks = append(checks, c) }); err != nil {
			t.Fatalf("proof %d: %v", i, err)
		}
		want := []string{evidence.CheckFormat, evidence.CheckPublisher, evidence.CheckRecord, evidence.CheckSignature, evidence.CheckLeaf, evidence.CheckBatchID, evidence.CheckPath}
		if diff := cmp.Diff(want, checks); diff != "" {
			t.Fatalf("checks reported (-want +got):\n%s", diff)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var got evidence.Proof
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		b2, _ := json.Marshal(got)
		if string(b) != string(b2) {
			t.Fatalf("JSON round trip changed the proof:\n%s\n%s", b, b2)
		}
		if err := got.VerifyOffline(); err != nil {
			t.Fatalf("decoded proof %d: %v", i, err)
		}
		if got.Anchor != p.Anchor || got.LeafIndex != p.LeafIndex || got.TreeSize != 11 {
			t.Fatalf("decoded proof %d: anchor/index/size changed", i)
		}
	}
}

func TestProofJSONForm(t *testing.T) {
	p := proofs(t, 2)[1]
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]any{"leaf_index": "1", "tree_size": "2", "version": 1.0, "segment": "evidence-000001"} {
		if m[field] != want {
			t.Errorf("%s = %#v, want %#v", field, m[field], want)
		}
	}
	a := m["anchor"].(map[string]any)
	if a["block_number"] != "9007199254740993" || a["log_index"] != "2" || !strings.HasPrefix(a["tx_hash"].(string), "0x") {
		t.Errorf("anchor JSON %v", a)
	}
	if pub := m["publisher"].(map[string]any); pub["suite"] != "ecdsa" || len(pub["public_key"].(string)) != 2+128 {
		t.Errorf("publisher JSON %v", pub)
	}
	unanchored := p
	unanchored.Anchor = evidence.Anchor{}
	b, _ = json.Marshal(unanchored)
	if strings.Contains(string(b), `"anchor"`) {
		t.Errorf("unanchored proof carries an anchor: %s", b)
	}
}

func TestProofTamperingRejected(t *testing.T) {
	base := proofs(t, 9)[4]
	other := proofs(t, 9)[5]
	sm := cryptosuite.SM()
	smKey := key(t, sm, "publisher acme")
	cases := []struct {
		name   string
		mutate func(p *evidence.Proof)
		check  string
	}{
		{"version", func(p *evidence.Proof) { p.Version = 2 }, evidence.CheckFormat},
		{"index out of tree", func(p *evidence.Proof) { p.LeafIndex = 9 }, evidence.CheckFormat},
		{"publisher address", func(p *evidence.Proof) { p.Publisher.Address[0] ^= 1 }, evidence.CheckPublisher},
		{"publisher suite", func(p *evidence.Proof) { p.Publisher.Suite = "rsa" }, evidence.CheckPublisher},
		{"other publisher key", func(p *evidence.Proof) { p.Publisher = evidence.NewPublisherKey(sm, smKey.PublicKey()) }, evidence.CheckSignature},
		{"record payload", func(p *evidence.Proof) { p.Record.Payload = []byte(`{"n":5}`) }, evidence.CheckRecord},
		{"record payload and hash", func(p *evidence.Proof) { p.Record.SetPayload(evidence.PayloadJSON, []byte(`{"n":5}`)) }, evidence.CheckSignature},
		{"record id", func(p *evidence.Proof) { p.Record.ID = "r-005" }, evidence.CheckSignature},
		{"record window", func(p *evidence.Proof) { p.Record.NotAfter = sealed }, evidence.CheckSignature},
		{"record swapped for another signed one", func(p *evidence.Proof) { p.Record = other.Record }, evidence.CheckLeaf},
		{"leaf hash", func(p *evidence.Proof) { p.LeafHash[3] ^= 1 }, evidence.CheckLeaf},
		{"batch id", func(p *evidence.Proof) { p.BatchID[0] ^= 1 }, evidence.CheckBatchID},
		{"segment name", func(p *evidence.Proof) { p.Segment = "evidence-000002" }, evidence.CheckBatchID},
		{"root (batch id recomputed)", func(p *evidence.Proof) {
			p.Root[31] ^= 1
			p.BatchID = evidence.BatchID(p.Segment, p.Root)
		}, evidence.CheckPath},
		{"path element", func(p *evidence.Proof) { p.Path = append([][32]byte(nil), p.Path...); p.Path[1][0] ^= 1 }, evidence.CheckPath},
		{"path shortened", func(p *evidence.Proof) { p.Path = p.Path[:len(p.Path)-1] }, evidence.CheckPath},
		{"leaf index", func(p *evidence.Proof) { p.LeafIndex = 5 }, evidence.CheckPath},
		{"tree size", func(p *evidence.Proof) { p.TreeSize = 4 }, evidence.CheckFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := base
			c.mutate(&p)
			err := p.VerifyOffline()
			var ce *evidence.CheckError
			if !errors.As(err, &ce) || !errors.Is(err, evidence.ErrBadProof) {
				t.Fatalf("err = %v, want a CheckError wrapping ErrBadProof", err)
			}
			if ce.Check != c.check {
				t.Fatalf("failed check %q (%v), want %q", ce.Check, err, c.check)
			}
		})
	}
	if err := base.VerifyOffline(); err != nil {
		t.Fatalf("the mutations leaked into the base proof: %v", err)
	}
}

func TestProofErasedPayloadStillVerifies(t *testing.T) {
	p := proofs(t, 3)[2] // batch erases every third payload
	if !p.Record.Erased() {
		t.Fatal("test setup: record 2 should be erased")
	}
	if err := p.VerifyOffline(); err != nil {
		t.Fatal(err)
	}
}

func TestNewProofRefusesWrongRecord(t *testing.T) {
	recs, pub := batch(t, 4)
	hdr := evidence.NewSegmentHeader("s", sealed, recs)
	tree := evidence.NewTree(evidence.LeafHashes(recs))
	if _, err := evidence.NewProof(hdr, tree, recs[1], 2, pub); !errors.Is(err, evidence.ErrBadProof) {
		t.Fatalf("record 1 proved at index 2: %v", err)
	}
	if _, err := evidence.NewProof(hdr, evidence.NewTree(evidence.LeafHashes(recs[:3])), recs[1], 1, pub); !errors.Is(err, evidence.ErrBadProof) {
		t.Fatalf("proof from a tree of another batch: %v", err)
	}
}

func FuzzProofJSON(f *testing.F) {
	for _, p := range proofs(f, 3) {
		b, _ := json.Marshal(p)
		f.Add(b)
	}
	f.Add([]byte(`{"version":1,"leaf_index":"-1"}`))
	f.Add([]byte(`{"path":["0x01"],"anchor":{"log_index":"99999999999999999999"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p evidence.Proof
		if err := json.Unmarshal(data, &p); err != nil {
			return
		}
		err := p.VerifyOffline() // must not panic on any decoded proof
		b, merr := json.Marshal(p)
		if merr != nil {
			t.Fatalf("decoded proof does not encode: %v", merr)
		}
		var again evidence.Proof
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("re-decode %s: %v", b, err)
		}
		if err2 := again.VerifyOffline(); (err == nil) != (err2 == nil) {
			t.Fatalf("verification changed by a JSON round trip: %v / %v", err, err2)
		}
	})
}
