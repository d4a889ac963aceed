package audit_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	kafkago "github.com/segmentio/kafka-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"

	"github.com/bcosdata/bcosdata/libs/app/auth"
	"github.com/bcosdata/bcosdata/libs/audit"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	"github.com/bcosdata/bcosdata/libs/retry"
	auditv1 "github.com/bcosdata/bcosdata/proto/bcosdata/audit/v1"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// decide stands in for libs/app/auth's interceptor: it makes the decision the policy would
// (here: deny the subject "mallory") and hands it to the hook, as the interceptor does.
func decide(hook auth.DecisionHook) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		sub := first(md.Get("x-subject"))
		p := auth.Principal{Subject: sub, Roles: []string{"reader"}, Via: auth.ViaToken}
		if pr, ok := peer.FromContext(ctx); ok {
			p.Peer = pr.Addr.String()
		}
		d := auth.Decision{Principal: p, RPC: info.FullMethod, Allowed: sub != "mallory", Reason: "test policy", RequestID: first(md.Get("x-request-id"))}
		hook(ctx, d)
		if !d.Allowed {
			return nil, fmt.Errorf("denied")
		}
		return handler(auth.NewContext(ctx, p), req)
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

type fixture struct {
	pool   *pgxpool.Pool
	hub    *audit.Hub
	trail  *audit.Trail
	client auditv1.AuditServiceClient
	topic  string
	broker *kafkatest.Broker
}

// start runs one trail (schema stash) in a hub served by a gRPC server behind decide; with a
// broker, the trail publishes to it.
func start(t *testing.T, withKafka bool) *fixture {
	t.Helper()
	f := &fixture{pool: pgtest.NewPool(t)}
	cfg := audit.Config{Service: "stash", Schema: "stash", GRPCServices: []string{"bcosdata.stash.v1.StashService"}, Retry: retry.Policy{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond}}
	if withKafka {
		f.broker = kafkatest.NewBroker(t)
		f.topic = kafkatest.Topic(t, "audit")
		f.broker.CreateTopic(t, f.topic, 1, nil)
		cfg.Topic = f.topic
		cfg.Publisher = kafka.NewWriter(kafka.WriterConfig{Brokers: f.broker.Addrs()})
	}
	trail, err := audit.NewTrail(cfg, f.pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.trail = trail
	f.hub = audit.NewHub(nil, nil)
	f.hub.Add(trail)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.hub.Run(ctx) }()
	await.For(t, 20*time.Second, "audit trail ready", func() error { return f.hub.Ready(t.Context()) })
	srv := grpc.NewServer(grpc.UnaryInterceptor(decide(f.hub.Hook())))
	auditv1.RegisterAuditServiceServer(srv, f.hub)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	f.client = auditv1.NewAuditServiceClient(conn)
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("audit hub run: %v", err)
		}
	})
	return f
}

func call(t *testing.T, f *fixture, subject, requestID string) error {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "x-subject", subject, "x-request-id", requestID)
	_, err := f.client.ListAudit(ctx, &auditv1.ListAuditRequest{})
	return err
}

func list(t *testing.T, f *fixture) []*auditv1.AuditRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := f.hub.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	var all []*auditv1.AuditRecord
	req := &auditv1.ListAuditRequest{PageSize: 2}
	for {
		resp, err := f.hub.ListAudit(ctx, req)
		if err != nil {
			t.Fatalf("list audit: %v", err)
		}
		all = append(all, resp.Records...)
		if resp.NextPageToken == "" {
			return all
		}
		req.PageToken = resp.NextPageToken
	}
}

func TestEveryCallLeavesOneRecordOnTableAndTopic(t *testing.T) {
	t.Parallel()
	f := start(t, true)
	calls := []struct{ subject, id string }{{"alice", "r1"}, {"bob", "r2"}, {"mallory", "r3"}, {"alice", "r4"}, {"carol", "r5"}}
	for _, c := range calls {
		err := call(t, f, c.subject, c.id)
		if (err != nil) != (c.subject == "mallory") {
			t.Fatalf("call as %s: %v", c.subject, err)
		}
	}
	recs := list(t, f)
	if len(recs) != len(calls) {
		t.Fatalf("%d calls left %d audit records: %v", len(calls), len(recs), recs)
	}
	for i, c := range calls {
		r := recs[i]
		want := fmt.Sprintf("seq %d %s %s %s allowed=%v", i+1, c.subject, c.id, auditv1.AuditService_ListAudit_FullMethodName, c.subject != "mallory")
		got := fmt.Sprintf("seq %d %s %s %s allowed=%v", r.Seq, r.Subject, r.RequestId, r.Rpc, r.Allowed)
		if got != want {
			t.Errorf("record %d: got %s, want %s", i, got, want)
		}
		if !strings.HasPrefix(r.Peer, "127.0.0.1:") || r.Via != auth.ViaToken || r.Time.AsTime().IsZero() {
			t.Errorf("record %d: peer %q via %q time %v", i, r.Peer, r.Via, r.Time.AsTime())
		}
	}
	denied, err := f.hub.ListAudit(t.Context(), &auditv1.ListAuditRequest{Decision: "denied"})
	if err != nil || len(denied.Records) != 1 || denied.Records[0].Subject != "mallory" {
		t.Errorf("denied records: %v, %v", denied, err)
	}
	v, err := f.hub.VerifyAudit(t.Context(), &auditv1.VerifyAuditRequest{})
	if err != nil || !v.Ok || v.Checked != uint64(len(calls)) || v.HeadSeq != uint64(len(calls)) {
		t.Errorf("verify an untouched trail: %v, %v", v, err)
	}

	// The topic carries the same records, in order.
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: f.broker.Addrs(), Topic: f.topic, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for i := range calls {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read audit message %d from %s: %v", i, f.topic, err)
		}
		var got auditv1.AuditRecord
		if err := proto.Unmarshal(m.Value, &got); err != nil {
			t.Fatalf("decode audit message %d: %v", i, err)
		}
		if !proto.Equal(&got, recs[i]) {
			t.Errorf("audit message %d: %v, table has %v", i, &got, recs[i])
		}
		if s, _ := kafka.HeaderValue(m.Headers, kafka.HeaderSchema); string(s) != "bcosdata.audit.v1.AuditRecord" || string(m.Key) != "stash" {
			t.Errorf("audit message %d: schema header %q key %q", i, s, m.Key)
		}
	}
}

func TestVerifyNamesTheBrokenRecord(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, sql string
		seq       uint64
		kind      string
	}{
		{"delete in the middle", "DELETE FROM stash.audit WHERE seq = 3", 3, audit.BrokenMissing},
		{"delete the last", "DELETE FROM stash.audit WHERE seq = 5", 5, audit.BrokenMissing},
		{"edit the subject", "UPDATE stash.audit SET subject = 'eve' WHERE seq = 2", 2, audit.BrokenEdited},
		{"edit the decision", "UPDATE stash.audit SET allowed = true WHERE seq = 4", 4, audit.BrokenEdited},
		{"swap two records", "UPDATE stash.audit SET seq = -2 WHERE seq = 2; UPDATE stash.audit SET seq = 2 WHERE seq = 3; UPDATE stash.audit SET seq = 3 WHERE seq = -2", 2, audit.BrokenReordered},
		{"delete the first", "DELETE FROM stash.audit WHERE seq = 1", 1, audit.BrokenMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := start(t, false)
			for i, sub := range []string{"alice", "bob", "carol", "mallory", "dave"} {
				_ = call(t, f, sub, fmt.Sprint("r", i))
			}
			if n := len(list(t, f)); n != 5 {
				t.Fatalf("5 calls left %d records", n)
			}
			for stmt := range strings.SplitSeq(tc.sql, "; ") {
				if _, err := f.pool.Exec(t.Context(), stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			v, err := f.hub.VerifyAudit(t.Context(), &auditv1.VerifyAuditRequest{Service: "stash"})
			if err != nil {
				t.Fatal(err)
			}
			if v.Ok || v.Broken == nil {
				t.Fatalf("verify after %q: ok %v, want the break at %d", tc.sql, v.Ok, tc.seq)
			}
			got := fmt.Sprintf("%s at %d", v.Broken.Kind, v.Broken.Seq)
			if want := fmt.Sprintf("%s at %d", tc.kind, tc.seq); got != want {
				t.Errorf("verify after %q: %s (%s), want %s", tc.sql, got, v.Broken.Detail, want)
			}
		})
	}
}

func TestChainHashCoversEveryField(t *testing.T) {
	t.Parallel()
	base := audit.Record{Seq: 7, Time: time.Unix(1700000000, 123456000).UTC(), Subject: "a", Roles: []string{"reader"}, Via: "jwt", Peer: "p", RPC: "/x/Y", Resource: "job:j", Allowed: true, Reason: "r", RequestID: "id"}
	h := audit.ChainHash("stash", make([]byte, 32), base)
	for name, edit := range map[string]func(*audit.Record){
		"seq": func(r *audit.Record) { r.Seq++ }, "time": func(r *audit.Record) { r.Time = r.Time.Add(time.Microsecond) },
		"subject": func(r *audit.Record) { r.Subject = "b" }, "roles": func(r *audit.Record) { r.Roles = []string{"admin"} },
		"via": func(r *audit.Record) { r.Via = "mtls" }, "peer": func(r *audit.Record) { r.Peer = "q" },
		"rpc": func(r *audit.Record) { r.RPC = "/x/Z" }, "resource": func(r *audit.Record) { r.Resource = "" },
		"allowed": func(r *audit.Record) { r.Allowed = false }, "reason": func(r *audit.Record) { r.Reason = "s" },
		"request id": func(r *audit.Record) { r.RequestID = "id2" },
		"boundary":   func(r *audit.Record) { r.Subject, r.Via = "aj", "wt" },
	} {
		r := base
		edit(&r)
		if cmp.Equal(audit.ChainHash("stash", make([]byte, 32), r), h) {
			t.Errorf("changing the %s leaves the hash unchanged", name)
		}
	}
	if cmp.Equal(audit.ChainHash("export", make([]byte, 32), base), h) {
		t.Error("the trail's name is not in the hash")
	}
}

// runTrail runs a trail alone (schema stash) with cfg's linger until the test ends.
func runTrail(t *testing.T, pool *pgxpool.Pool, linger time.Duration) *audit.Trail {
	t.Helper()
	trail, err := audit.NewTrail(audit.Config{Service: "stash", Schema: "stash", Linger: linger}, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	runUntilEnd(t, trail)
	return trail
}

// runUntilEnd runs trail until the test ends, once it is ready.
func runUntilEnd(t *testing.T, trail *audit.Trail) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- trail.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("trail run: %v", err)
		}
	})
	await.For(t, 20*time.Second, "audit trail ready", func() error { return trail.Ready(t.Context()) })
}

func decision(i int) auth.Decision {
	return auth.Decision{Principal: auth.Principal{Subject: fmt.Sprint("user", i)}, RPC: "/bcosdata.stash.v1.StashService/GetBlock", Allowed: true}
}

// TestDecisionsWithinTheLingerShareOneTransaction: a decision recorded while the writer waits
// after an earlier one goes into the same transaction (the same xmin), not one of its own.
// The second decision comes once the writer waits with the first; the linger is an hour and
// a Flush ends it, so a slow machine cannot make the test fail. A writer that does not
// linger never waits, and the test fails.
func TestDecisionsWithinTheLingerShareOneTransaction(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	trail, err := audit.NewTrail(audit.Config{Service: "stash", Schema: "stash", Linger: time.Hour}, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	lingering := audit.WatchLinger(trail)
	runUntilEnd(t, trail)
	trail.Record(t.Context(), decision(1))
	select {
	case <-lingering:
	case <-time.After(20 * time.Second):
		t.Fatal("the writer did not wait out its linger after the first decision")
	}
	trail.Record(t.Context(), decision(2))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := trail.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	var rows, txs int
	if err := pool.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT xmin::text) FROM stash.audit`).Scan(&rows, &txs); err != nil {
		t.Fatal(err)
	}
	if rows != 2 || txs != 1 {
		t.Errorf("2 decisions within the linger: %d records in %d transactions, want 2 in 1", rows, txs)
	}
}

// TestAFullBatchDoesNotWaitForTheLinger: the writer waits out its linger without taking
// decisions as they come (so that calls do not wake it one by one); a batch's worth of them
// queued meanwhile ends the wait, so a busy server's records never wait out the linger.
func TestAFullBatchDoesNotWaitForTheLinger(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	trail := runTrail(t, pool, time.Hour)
	for i := range audit.MaxBatch + 1 {
		trail.Record(t.Context(), decision(i))
	}
	await.For(t, 20*time.Second, "a batch written within the linger", func() error {
		var rows int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM stash.audit`).Scan(&rows); err != nil {
			return err
		}
		if rows < audit.MaxBatch {
			return fmt.Errorf("%d records stored, want at least %d", rows, audit.MaxBatch)
		}
		return nil
	})
}

// TestFlushDoesNotWaitForTheLinger: Flush writes what is queued at once, however long the
// writer would linger.
func TestFlushDoesNotWaitForTheLinger(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	trail := runTrail(t, pool, time.Hour)
	trail.Record(t.Context(), decision(1))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := trail.Flush(ctx); err != nil {
		t.Fatalf("flush with a 1 h linger: %v", err)
	}
	var rows int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM stash.audit`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("%d records stored after Flush, want 1", rows)
	}
}
