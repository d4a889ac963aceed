package audit_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/bcosdata/bcosdata/libs/app/auth"
	"github.com/bcosdata/bcosdata/libs/audit"
	"github.com/bcosdata/bcosdata/libs/audit/audittest"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	"github.com/bcosdata/bcosdata/libs/retry"
	auditv1 "github.com/bcosdata/bcosdata/proto/bcosdata/audit/v1"
)

type anchors struct {
	mu   sync.Mutex
	seqs []uint64
	last []byte
}

func (a *anchors) AnchorHead(_ context.Context, seq uint64, hash []byte) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seqs = append(a.seqs, seq)
	a.last = hash
	return fmt.Sprintf("test/%d", seq), nil
}

func (a *anchors) get() ([]uint64, []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]uint64(nil), a.seqs...), a.last
}

// TestBrokerAwayDelaysOnlyPublication records decisions while the broker is down: they are
// in the table at once (the calls never wait for Kafka), and on the topic once the broker is
// back. The head is anchored through the HeadAnchorer each time it moved.
func TestBrokerAwayDelaysOnlyPublication(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	b := kafkatest.NewBroker(t)
	topic := kafkatest.Topic(t, "audit")
	b.Stop()
	anch := &anchors{}
	trail, err := audit.NewTrail(audit.Config{Service: "export", Schema: "export", Topic: topic,
		Publisher: kafka.NewWriter(kafka.WriterConfig{Brokers: b.Addrs()}),
		Anchorer:  anch, AnchorInterval: 50 * time.Millisecond,
		Retry: retry.Policy{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond}}, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	hub := audit.NewHub(nil, nil)
	hub.Add(trail)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	start := time.Now()
	for i := range 20 {
		hub.Record(t.Context(), auth.Decision{Principal: auth.Principal{Subject: "svc", Via: auth.ViaMTLS}, RPC: "/bcosdata.export.v1.ExportService/ListEvents", Allowed: true, RequestID: string(rune('a' + i))})
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("20 decisions took %s to record with the broker away", took)
	}
	flushCtx, cancelFlush := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancelFlush()
	if err := hub.Flush(flushCtx); err != nil {
		t.Fatalf("records not in the table while the broker is away: %v", err)
	}
	v, err := hub.VerifyAudit(t.Context(), &auditv1.VerifyAuditRequest{})
	if err != nil || !v.Ok || v.HeadSeq != 20 {
		t.Fatalf("verify: %v %v", v, err)
	}
	await.True(t, 10*time.Second, "the head anchored at 20", func() bool {
		seqs, last := anch.get()
		return len(seqs) > 0 && seqs[len(seqs)-1] == 20 && "0x"+hex.EncodeToString(last) == v.HeadHash
	})

	b.Start(t)
	b.CreateTopic(t, topic, 1, nil)
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: b.Addrs(), Topic: topic, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	readCtx, cancelRead := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancelRead()
	for i := range 20 {
		m, err := r.FetchMessage(readCtx)
		if err != nil {
			t.Fatalf("audit message %d after the broker came back: %v", i, err)
		}
		if string(m.Key) != "export" {
			t.Errorf("message %d key %q", i, m.Key)
		}
	}
	seqs, _ := anch.get()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] == seqs[i-1] {
			t.Errorf("head %d anchored twice: %v", seqs[i], seqs)
		}
	}
}

// readableAnchors keeps the anchors it is given, by reference, and reads them back: an
// AnchorReader as the evidence service is one.
type readableAnchors struct {
	mu   sync.Mutex
	held map[string][]byte
	seqs map[string]uint64
}

func (a *readableAnchors) AnchorHead(_ context.Context, seq uint64, hash []byte) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ref := fmt.Sprintf("audit/stash/%d", seq)
	a.held[ref], a.seqs[ref] = hash, seq
	return ref, nil
}

func (a *readableAnchors) AnchoredHead(_ context.Context, ref string) (uint64, []byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.held[ref]; !ok {
		return 0, nil, fmt.Errorf("no anchor %s", ref)
	}
	return a.seqs[ref], a.held[ref], nil
}

// TestVerifyComparesWithTheAnchoredHead rewrites a chain from a record before the anchored
// head on, every later hash recomputed: the chain is consistent in itself, and only the anchor
// tells. Rewriting the local copy of the anchor as well is found through the anchor itself.
func TestVerifyComparesWithTheAnchoredHead(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	anch := &readableAnchors{held: map[string][]byte{}, seqs: map[string]uint64{}}
	trail, err := audit.NewTrail(audit.Config{Service: "stash", Schema: "stash", Anchorer: anch, AnchorInterval: 20 * time.Millisecond,
		Retry: retry.Policy{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond}}, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	hub := audit.NewHub(nil, nil)
	hub.Add(trail)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub run: %v", err)
		}
	}()
	await.For(t, 20*time.Second, "audit trail ready", func() error { return hub.Ready(t.Context()) })
	for i := range 5 {
		trail.Record(t.Context(), auth.Decision{Principal: auth.Principal{Subject: fmt.Sprint("user", i)}, RPC: "/bcosdata.stash.v1.StashService/GetBlock", Allowed: true})
	}
	if err := hub.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	await.True(t, 10*time.Second, "head 5 anchored and recorded", func() bool {
		var n int
		_ = pool.QueryRow(t.Context(), "SELECT count(*) FROM stash.audit_anchor WHERE seq = 5 AND ref = 'audit/stash/5'").Scan(&n)
		return n == 1
	})
	verify := func() *auditv1.VerifyAuditResponse {
		t.Helper()
		v, err := hub.VerifyAudit(t.Context(), &auditv1.VerifyAuditRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := verify(); !v.Ok {
		t.Fatalf("verify of an intact anchored chain: %v", v.Broken)
	}

	if err := audittest.RewriteFrom(t.Context(), pool, "stash", "stash", 3, "eve"); err != nil {
		t.Fatal(err)
	}
	v := verify()
	if v.Ok || v.Broken.GetKind() != audit.BrokenAnchor || v.Broken.GetSeq() != 5 {
		t.Fatalf("verify after rewriting records 3 to 5: ok %v broken %v, want %s at 5", v.Ok, v.Broken, audit.BrokenAnchor)
	}

	// The administrator rewrites the local copy of the anchor too: the anchor itself disagrees.
	if _, err := pool.Exec(t.Context(), "UPDATE stash.audit_anchor SET hash = (SELECT hash FROM stash.audit WHERE seq = 5)"); err != nil {
		t.Fatal(err)
	}
	v = verify()
	if v.Ok || v.Broken.GetKind() != audit.BrokenAnchor || !strings.Contains(v.Broken.GetDetail(), "audit_anchor was rewritten") {
		t.Fatalf("verify after rewriting the chain and audit_anchor: ok %v broken %v, want audit_anchor found rewritten", v.Ok, v.Broken)
	}
}
