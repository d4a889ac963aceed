package evidence_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/crypto/fieldcrypt"
	libevidence "github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/evidence"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/source"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// dirArchive is the file:// archive through the source package, as the service uses it.
type dirArchive struct{ c *source.Client }

func (a dirArchive) Put(ctx context.Context, uri string, r io.Reader, size int64) error {
	return a.c.Put(ctx, uri, r, size)
}

func (a dirArchive) Open(ctx context.Context, uri string) (io.ReadCloser, error) {
	return a.c.Open(ctx, uri)
}

// chainAnchorer stands for the chain: it keeps the anchors it was given, refuses a second
// one of an id (as the contract does) and reports ours as ErrAlreadyAnchored.
type chainAnchorer struct {
	mu      sync.Mutex
	anchors map[[32]byte][32]byte
	calls   int
	at      []time.Time // when each call came
	fail    error
}

func (a *chainAnchorer) Anchor(_ context.Context, id, root [32]byte, _ int, _ string) (common.Hash, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	a.at = append(a.at, time.Now())
	if a.fail != nil {
		return common.Hash{}, a.fail
	}
	if a.anchors == nil {
		a.anchors = map[[32]byte][32]byte{}
	}
	if r, ok := a.anchors[id]; ok {
		if r == root {
			return common.Hash{}, evidence.ErrAlreadyAnchored
		}
		return common.Hash{}, errors.New("evidence already stored")
	}
	a.anchors[id] = root
	return common.BytesToHash(id[:]), nil
}

type signer struct {
	name  string
	suite *cryptosuite.Suite
	key   *cryptosuite.PrivateKey
}

func newSigner(t testing.TB, name string) *signer {
	s := cryptosuite.ECDSA()
	k, err := s.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{name: name, suite: s, key: k}
}

func (g *signer) record(t testing.TB, id, payload string) libevidence.Record {
	t.Helper()
	r := libevidence.Record{ID: id, Publisher: g.name, Category: "invoice", Kind: libevidence.KindPublish}
	r.SetPayload(libevidence.PayloadJSON, []byte(payload))
	g.sign(t, &r)
	return r
}

func (g *signer) sign(t testing.TB, r *libevidence.Record) {
	t.Helper()
	if err := libevidence.Sign(g.suite, g.key, r); err != nil {
		t.Fatal(err)
	}
}

func (g *signer) registration(t testing.TB) libevidence.Record {
	pub := g.key.PublicKey()
	payload, _ := json.Marshal(map[string]any{"suite": "ecdsa", "public_key": "0x" + pub.String()})
	r := libevidence.Record{ID: "publisher/" + g.name, Publisher: g.name, Category: "publisher", Kind: libevidence.KindPublisher}
	r.SetPayload(libevidence.PayloadJSON, payload)
	g.sign(t, &r)
	return r
}

type env struct {
	svc      *evidence.Service
	pool     *pgxpool.Pool
	dir      string
	chain    *chainAnchorer
	now      time.Time
	mu       sync.Mutex
	contract common.Address
}

func newEnv(t *testing.T, mod func(*evidence.Config)) *env {
	t.Helper()
	pool := pgtest.NewPool(t)
	if _, err := store.Open(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	e := &env{pool: pool, dir: t.TempDir(), chain: &chainAnchorer{}, now: time.Now(), contract: common.HexToAddress("0x00000000000000000000000000000000000000e1")}
	cfg := evidence.Config{
		Flags: evidence.Flags{Archive: "file://" + e.dir, MaxPayload: 1024, BatchSize: 4, BatchAge: time.Hour, Resend: time.Hour,
			Contract: e.contract.Hex(), Grace: time.Minute},
		Chain: "chain0", Group: 1, Archiver: dirArchive{source.New(source.Config{})}, Anchorer: e.chain,
		Log: zaptest.NewLogger(t), Now: func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now },
	}
	if mod != nil {
		mod(&cfg)
	}
	e.svc = evidence.New(cfg, pool)
	return e
}

func (e *env) accept(t *testing.T, recs ...libevidence.Record) ([]evidence.Accepted, []error) {
	t.Helper()
	in := make([]evidence.Incoming, len(recs))
	for i, r := range recs {
		in[i] = evidence.Incoming{Record: r, Source: "grpc"}
		if r.Kind == libevidence.KindPublisher {
			in[i].Want = libevidence.KindPublisher
		}
	}
	return e.svc.Accept(t.Context(), in)
}

func (e *env) mustAccept(t *testing.T, recs ...libevidence.Record) []evidence.Accepted {
	t.Helper()
	outs, errs := e.accept(t, recs...)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("record %d (%s): %v", i, recs[i].ID, err)
		}
	}
	return outs
}

func (e *env) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM reconcile.`+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// confirm plays the EvidenceStored events of the anchors the chain holds, as ingest does.
func (e *env) confirm(t *testing.T) {
	t.Helper()
	e.chain.mu.Lock()
	var evs []evidence.StoredEvent
	n := uint64(100)
	for id, root := range e.chain.anchors {
		n++
		evs = append(evs, evidence.StoredEvent{Contract: e.contract, ID: id, DocHash: root, BlockNumber: n,
			BlockHash: common.BytesToHash([]byte{byte(n)}), TxHash: common.BytesToHash(id[:]), LogIndex: 0})
	}
	e.chain.mu.Unlock()
	err := pgx.BeginFunc(t.Context(), e.pool, func(tx pgx.Tx) error {
		after, err := e.svc.Confirm(t.Context(), tx, evs)
		if err == nil {
			defer after()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func code(err error) codes.Code { return status.Code(err) }

// TestBadInputRefused: each bad record is refused with its reason and nothing is stored.
func TestBadInputRefused(t *testing.T) {
	m := evidence.NewMetrics(nil)
	e := newEnv(t, func(c *evidence.Config) { c.Metrics = m })
	alice, bob := newSigner(t, "alice"), newSigner(t, "bob")
	e.mustAccept(t, alice.registration(t))
	good := alice.record(t, "r1", `{"a":1}`)
	e.mustAccept(t, good)
	records, events := e.count(t, "evidence_records"), e.count(t, "evidence_events")

	badSig := alice.record(t, "r2", `{"a":2}`)
	badSig.Signature[5] ^= 1
	reused := alice.record(t, "r1", `{"a":"other"}`)
	expired := libevidence.Record{ID: "r3", Publisher: "alice", Category: "c", Kind: libevidence.KindPublish, NotAfter: e.now.Add(-time.Minute)}
	expired.SetPayload(libevidence.PayloadJSON, []byte(`1`))
	alice.sign(t, &expired)
	early := libevidence.Record{ID: "r4", Publisher: "alice", Category: "c", Kind: libevidence.KindPublish, NotBefore: e.now.Add(time.Hour)}
	early.SetPayload(libevidence.PayloadJSON, []byte(`1`))
	alice.sign(t, &early)
	big := alice.record(t, "r5", `"`+strings.Repeat("x", 2000)+`"`)
	unknown := bob.record(t, "r6", `{}`)
	otherKey := newSigner(t, "alice").record(t, "r7", `{}`) // signed by a key that is not alice's
	for _, c := range []struct {
		name   string
		rec    libevidence.Record
		reason string
		code   codes.Code
	}{
		{"bad signature", badSig, evidence.ReasonBadSignature, codes.InvalidArgument},
		{"other key", otherKey, evidence.ReasonBadSignature, codes.InvalidArgument},
		{"reused id", reused, evidence.ReasonIDReused, codes.AlreadyExists},
		{"expired", expired, evidence.ReasonExpired, codes.FailedPrecondition},
		{"not yet valid", early, evidence.ReasonNotYetValid, codes.FailedPrecondition},
		{"oversized", big, evidence.ReasonTooLarge, codes.InvalidArgument},
		{"unknown publisher", unknown, evidence.ReasonUnknown, codes.FailedPrecondition},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, errs := e.accept(t, c.rec)
			var rej *evidence.Rejection
			if !errors.As(errs[0], &rej) || rej.Reason != c.reason || code(errs[0]) != c.code {
				t.Fatalf("error %v (code %s), want reason %s code %s", errs[0], code(errs[0]), c.reason, c.code)
			}
			if !strings.Contains(errs[0].Error(), c.reason) {
				t.Errorf("error %q does not name its reason", errs[0])
			}
			if n := testutil.ToFloat64(m.Rejected.WithLabelValues(c.reason)); n < 1 {
				t.Errorf("rejected_total{reason=%q} = %v", c.reason, n)
			}
		})
	}
	if n, m := e.count(t, "evidence_records"), e.count(t, "evidence_events"); n != records || m != events {
		t.Errorf("after the refusals %d records and %d events, want %d and %d", n, m, records, events)
	}
	if n := testutil.ToFloat64(m.Accepted.WithLabelValues("grpc")); n != 2 {
		t.Errorf("accepted_total{source=grpc} = %v, want 2 (the registration and r1)", n)
	}
	// The same record again is no reuse: accepted again, nothing stored.
	outs := e.mustAccept(t, good)
	if !outs[0].Again || e.count(t, "evidence_records") != records {
		t.Errorf("the same record again: %+v, %d records", outs[0], e.count(t, "evidence_records"))
	}
}

// TestSealAnchorProve: records are sealed into batches, archived, anchored once, confirmed
// only by the event, and each proof verifies; a sent batch re-sent after a restart is
// recognised; an altered segment is found by the verification.
func TestSealAnchorProve(t *testing.T) {
	e := newEnv(t, nil)
	alice := newSigner(t, "alice")
	e.mustAccept(t, alice.registration(t))
	var recs []libevidence.Record
	for i := range 9 {
		recs = append(recs, alice.record(t, fmt.Sprintf("rec-%d", i), fmt.Sprintf(`{"n":%d}`, i)))
	}
	e.mustAccept(t, recs...)
	ctx := t.Context()
	run := func(now time.Time, what string, done func() bool) {
		t.Helper()
		e.mu.Lock()
		e.now = now
		e.mu.Unlock()
		e.runUntil(t, what, done)
	}
	sent := func(n int) func() bool {
		return func() bool {
			var k int
			err := e.pool.QueryRow(ctx, `SELECT count(*) FROM reconcile.evidence_batches WHERE state = 'sent' AND archived`).Scan(&k)
			return err == nil && k == n
		}
	}
	calls := func(n int) func() bool {
		return func() bool { e.chain.mu.Lock(); defer e.chain.mu.Unlock(); return e.chain.calls == n }
	}
	// 10 records, batches of 4: two full ones at once; the last two wait for the age.
	run(e.now, "two batches sent", sent(2))
	run(e.now.Add(2*time.Hour), "three batches sent", sent(3))
	if e.chain.calls != 3 {
		t.Fatalf("%d anchor calls, want 3", e.chain.calls)
	}
	if _, err := e.svc.Proof(ctx, "rec-0"); code(err) != codes.FailedPrecondition {
		t.Fatalf("proof before the event: %v, want FailedPrecondition", err)
	}
	// A restart re-sends the sent batches; the chain says they are ours already.
	restarted := e.svcConfig(t)
	restarted.Metrics = evidence.NewMetrics(nil)
	e.svc = evidence.New(restarted, e.pool)
	run(e.now, "three batches sent again", calls(6))
	if e.chain.calls != 6 || len(e.chain.anchors) != 3 {
		t.Fatalf("after restart: %d calls, %d anchors; want 6 calls, 3 anchors", e.chain.calls, len(e.chain.anchors))
	}
	e.confirm(t)
	if n := testutil.ToFloat64(restarted.Metrics.Anchored); n != 3 {
		t.Errorf("anchored_batches_total = %v, want 3", n)
	}
	if n := testutil.CollectAndCount(restarted.Metrics.ToAnchor); n != 1 {
		t.Errorf("accept_to_anchor_seconds: %d series", n)
	}
	for _, r := range append(recs, alice.registration(t)) {
		p, err := e.svc.Proof(ctx, r.ID)
		if err != nil {
			t.Fatalf("proof of %s: %v", r.ID, err)
		}
		if p.LeafHash != libevidence.LeafHash(&r) || p.Anchor.BlockNumber == 0 {
			t.Fatalf("proof of %s: %+v", r.ID, p)
		}
		j, _ := json.Marshal(p)
		var back libevidence.Proof
		if err := json.Unmarshal(j, &back); err != nil || back.VerifyOffline() != nil {
			t.Fatalf("proof JSON of %s does not read back and verify: %v", r.ID, err)
		}
	}
	v, err := e.svc.Verify(ctx, "api")
	if err != nil || v.State != "succeeded" || v.SegmentsChecked != 3 {
		t.Fatalf("verification: %+v, %v", v, err)
	}
	// Alter one archived segment: the verification names it.
	seg := filepath.Join(e.dir, "chain0-group1-00000002.evseg")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	altered := strings.Replace(string(b), `"category":"invoice"`, `"category":"invoicE"`, 1)
	if altered == string(b) {
		t.Fatalf("segment without a category to alter:\n%s", b)
	}
	b = []byte(altered)
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	v, err = e.svc.Verify(ctx, "api")
	if err != nil || v.State != "failed" || len(v.Findings) != 1 || v.Findings[0].Kind != evidence.FindingSegmentAltered || v.Findings[0].Batch != 2 {
		t.Fatalf("verification of an altered segment: %+v, %v", v, err)
	}
}

// runUntil runs the service until done reports true (10 s at most).
func (e *env) runUntil(t *testing.T, what string, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- e.svc.Run(ctx) }()
	waited := await.Until(ctx, 10*time.Second, func() error {
		if done() {
			return nil
		}
		return await.ErrNotYet
	})
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if waited != nil {
		t.Fatalf("waiting for %s: %v", what, waited)
	}
}

func (e *env) svcConfig(t *testing.T) evidence.Config {
	return evidence.Config{
		Flags: evidence.Flags{Archive: "file://" + e.dir, MaxPayload: 1024, BatchSize: 4, BatchAge: time.Hour, Resend: time.Hour,
			Contract: e.contract.Hex(), Grace: time.Minute},
		Chain: "chain0", Group: 1, Archiver: dirArchive{source.New(source.Config{})}, Anchorer: e.chain,
		Log: zaptest.NewLogger(t), Now: func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now },
	}
}

// TestLifecycle: only the owner supersedes, revokes or erases; erasing keeps the proof valid
// and drops the payload from the archive.
func TestLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := newSigner(t, "alice"), newSigner(t, "bob")
	e.mustAccept(t, alice.registration(t), bob.registration(t))
	e.mustAccept(t, alice.record(t, "a1", `{"v":1}`), alice.record(t, "a2", `{"v":2}`), alice.record(t, "a3", `{"secret":"x"}`))
	sup := func(g *signer, id, kind, target string) libevidence.Record {
		r := libevidence.Record{ID: id, Publisher: g.name, Category: "invoice", Kind: kind, Target: target}
		r.SetPayload(libevidence.PayloadJSON, []byte(`{"v":3}`))
		g.sign(t, &r)
		return r
	}
	in := func(r libevidence.Record) error {
		_, errs := e.svc.Accept(t.Context(), []evidence.Incoming{{Record: r, Source: "grpc", Want: r.Kind}})
		return errs[0]
	}
	if err := in(sup(bob, "b1", libevidence.KindRevoke, "a1")); code(err) != codes.PermissionDenied {
		t.Fatalf("bob revokes alice's record: %v, want PermissionDenied", err)
	}
	if err := in(sup(alice, "a1s", libevidence.KindSupersede, "a1")); err != nil {
		t.Fatal(err)
	}
	if err := in(sup(alice, "a1r", libevidence.KindRevoke, "a1")); code(err) != codes.FailedPrecondition {
		t.Fatalf("revoke a superseded record: %v, want FailedPrecondition", err)
	}
	if err := in(sup(alice, "a2r", libevidence.KindRevoke, "a2")); err != nil {
		t.Fatal(err)
	}
	if err := in(sup(alice, "a3e", libevidence.KindErase, "a3")); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"a1": "superseded", "a2": "revoked", "a3": "active"} {
		r, err := e.svc.GetRecord(t.Context(), id)
		if err != nil || r.Status != want {
			t.Fatalf("%s: %+v, %v; want %s", id, r, err, want)
		}
	}
	r, _ := e.svc.GetRecord(t.Context(), "a3")
	if !r.Erased || r.Record.Payload != nil {
		t.Fatalf("a3 not erased: %+v", r)
	}
	// The erased record still proves: seal, anchor, confirm.
	e.mu.Lock()
	e.now = e.now.Add(2 * time.Hour)
	e.mu.Unlock()
	e.runUntil(t, "one batch sent", func() bool {
		var k int
		err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM reconcile.evidence_batches WHERE state = 'sent' AND archived`).Scan(&k)
		return err == nil && k == 2
	})
	e.confirm(t)
	p, err := e.svc.Proof(t.Context(), "a3")
	if err != nil || !p.Record.Erased() {
		t.Fatalf("proof of the erased record: %v (erased %v)", err, err == nil && p.Record.Erased())
	}
	b, _ := os.ReadFile(filepath.Join(e.dir, "chain0-group1-00000001.evseg"))
	if strings.Contains(string(b), "secret") || len(b) == 0 {
		t.Fatalf("the archive still holds the erased payload (or nothing): %s", b)
	}
}

// TestInbox: a JSON-lines file is read once it stops changing; its bad lines are reported
// with file and line, the good ones accepted, and the file moved aside.
func TestInbox(t *testing.T) {
	inbox := t.TempDir()
	e := newEnv(t, func(c *evidence.Config) { c.Inbox = inbox; c.Poll = 10 * time.Millisecond })
	alice := newSigner(t, "alice")
	e.mustAccept(t, alice.registration(t))
	var lines []string
	for i := range 5 {
		r := alice.record(t, fmt.Sprintf("in-%d", i), `{"ok":true}`)
		if i == 2 {
			r.Signature[3] ^= 1
		}
		b, err := protojson.Marshal(evidence.RecordToProto(&r))
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	lines = append(lines[:4], append([]string{"{not json"}, lines[4:]...)...)
	if err := os.WriteFile(filepath.Join(inbox, ".tmp"), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(inbox, ".tmp"), filepath.Join(inbox, "batch1.jsonl")); err != nil {
		t.Fatal(err)
	}
	e.runUntil(t, "the inbox file moved aside", func() bool {
		_, err := os.Stat(filepath.Join(inbox, evidence.ProcessedDir, "batch1.jsonl"))
		return err == nil
	})
	b, err := os.ReadFile(filepath.Join(inbox, evidence.ProcessedDir, "batch1.jsonl.errors"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "batch1.jsonl:3: "+evidence.ReasonBadSignature) || !strings.Contains(string(b), "batch1.jsonl:5: "+evidence.ReasonInvalid) {
		t.Fatalf("report:\n%s", b)
	}
	if n := e.count(t, "evidence_records"); n != 1+4 {
		t.Fatalf("%d records, want the registration and 4 good lines", n)
	}
}

// TestAnchorFailureBacksOff: a node that refuses is asked again after a pause, not at every
// turn, and the batch goes on once it answers.
func TestAnchorFailureBacksOff(t *testing.T) {
	e := newEnv(t, func(c *evidence.Config) { c.BatchSize = 1; c.Poll = 10 * time.Millisecond; c.Resend = time.Hour })
	alice := newSigner(t, "alice")
	e.mustAccept(t, alice.registration(t))
	e.chain.fail = errors.New("node away")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	// Two refusals: at a 10 ms poll without the pause they would come 10 ms apart; with it,
	// 1 s apart at least (a loaded machine only makes the gap longer).
	await.True(t, 10*time.Second, "two anchor attempts", func() bool {
		e.chain.mu.Lock()
		defer e.chain.mu.Unlock()
		return e.chain.calls >= 2
	})
	e.chain.mu.Lock()
	gap := e.chain.at[1].Sub(e.chain.at[0])
	e.chain.fail = nil
	e.chain.mu.Unlock()
	if gap < time.Second {
		t.Errorf("the second attempt came %s after the first, want a pause of 1 s at least", gap)
	}
	if err := e.svc.Err(); err == nil || !strings.Contains(err.Error(), "node away") {
		t.Errorf("Err() = %v, want the anchoring failure", err)
	}
	await.True(t, 10*time.Second, "the batch sent once the node answers", func() bool {
		var sent int
		err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM reconcile.evidence_batches WHERE state = 'sent'`).Scan(&sent)
		return err == nil && sent == 1
	})
	cancel()
	<-done
}

// TestVerificationFindsForeignAnchor: an EvidenceStored event of our account (as consumed from
// events.v1) whose batch id we never sealed is a finding, as is a record left unanchored
// beyond the grace.
func TestVerificationFindsForeignAnchor(t *testing.T) {
	submitter := common.HexToAddress("0x00000000000000000000000000000000000000a1")
	e := newEnv(t, func(c *evidence.Config) { c.Submitter = submitter; c.Grace = 0 })
	alice := newSigner(t, "alice")
	e.mustAccept(t, alice.registration(t))
	_, err := e.pool.Exec(t.Context(), `INSERT INTO reconcile.records (transaction_hash, log_index, kind, contract_name, contract_address, name, signature,
			block_number, block_timestamp_ms, block_time, params)
		VALUES ('0x01', 0, 'event', 'Evidence', $1, 'EvidenceStored', 'EvidenceStored(bytes32,address,string,bytes32,string)', 7, 0, now(), $2)`,
		strings.ToLower(e.contract.Hex()), map[string]string{"id": "0x" + strings.Repeat("ab", 32), "docHash": "0x" + strings.Repeat("cd", 32),
			"submitter": strings.ToLower(submitter.Hex())})
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.Verify(t.Context(), "api")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, f := range v.Findings {
		kinds[f.Kind]++
	}
	if v.State != "failed" || kinds[evidence.FindingRootNotOurs] != 1 || kinds[evidence.FindingNotAnchored] != 1 || v.BatchesChecked != 1 {
		t.Fatalf("verification: %+v", v)
	}
	got, err := e.svc.GetVerification(t.Context(), v.ID)
	if err != nil || len(got.Findings) != 2 {
		t.Fatalf("stored verification: %+v, %v", got, err)
	}
}

// TestSensitivePayloadsSealedAtRest publishes records of a category marked sensitive: their
// payloads are unreadable in the database and absent from the archived segment, the API gives
// them back as signed, and their proofs verify (the leaves hash the payload's hash).
func TestSensitivePayloadsSealedAtRest(t *testing.T) {
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	kr, err := fieldcrypt.Parse(strings.NewReader("k1 "+key+"\nhmac "+key+"\n"), "test keys")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *evidence.Config) {
		c.Sensitive = []string{"invoice"}
		c.Keys = kr
	})
	alice := newSigner(t, "alice")
	e.mustAccept(t, alice.registration(t))
	const secret = "Zhang San, ID 110101199003074512"
	var recs []libevidence.Record
	for i := range 3 {
		recs = append(recs, alice.record(t, fmt.Sprintf("rec-%d", i), fmt.Sprintf(`{"holder":%q,"n":%d}`, secret, i)))
	}
	e.mustAccept(t, recs...)
	ctx := t.Context()
	var clear int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM reconcile.evidence_records WHERE position($1 in convert_from(coalesce(payload, ''), 'UTF8')) > 0`, secret).Scan(&clear); err != nil {
		t.Fatal(err)
	}
	if clear != 0 {
		t.Fatalf("%d stored payloads carry the sensitive value in clear", clear)
	}
	got, err := e.svc.GetRecord(ctx, "rec-1")
	if err != nil || string(got.Record.Payload) != string(recs[1].Payload) {
		t.Fatalf("GetRecord gives back %q, %v; want the signed payload %q", got.Record.Payload, err, recs[1].Payload)
	}
	e.runUntil(t, "the batch sent", func() bool {
		var k int
		err := e.pool.QueryRow(ctx, `SELECT count(*) FROM reconcile.evidence_batches WHERE state = 'sent' AND archived`).Scan(&k)
		return err == nil && k == 1
	})
	segs, err := filepath.Glob(filepath.Join(e.dir, "*.evseg"))
	if err != nil || len(segs) != 1 {
		t.Fatalf("segments %v, %v", segs, err)
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "Zhang San") {
		t.Fatalf("the archived segment carries the sensitive payload:\n%s", b)
	}
	e.confirm(t)
	p, err := e.svc.Proof(ctx, "rec-2")
	if err != nil || p.VerifyOffline() != nil || p.LeafHash != libevidence.LeafHash(&recs[2]) {
		t.Fatalf("proof of a sealed record: %+v, %v", p, err)
	}
	if v, err := e.svc.Verify(ctx, "api"); err != nil || v.State != "succeeded" {
		t.Fatalf("verification with payloads left out of the segment: %+v, %v", v, err)
	}
}
