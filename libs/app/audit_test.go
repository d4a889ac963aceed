package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/bcosdata/bcosdata/libs/app/auth"
	"github.com/bcosdata/bcosdata/libs/audit"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	auditv1 "github.com/bcosdata/bcosdata/proto/bcosdata/audit/v1"
)

// TestEveryCallLeavesOneAuditRow serves a service with an audit trail and checks that the
// guard's decisions on gRPC and HTTP calls (to a service the trail does not name: they go to
// the first trail) leave exactly one row each, public calls none, that the Audit API answers
// over HTTP, and that the rows of the last calls are written at shutdown.
func TestEveryCallLeavesOneAuditRow(t *testing.T) {
	pool := pgtest.NewPool(t)
	srv := NewServer(ServerConfig{GRPCAddr: "127.0.0.1:0", ShutdownTimeout: 10 * time.Second}, zap.NewNop())
	srv.AddHTTP("127.0.0.1:0", testAPI("test.v1.Blocking"))
	deps := Deps{Pool: pool, Audit: srv.Audit()}
	if err := deps.AddAuditTrail(audit.Config{Service: "test", Schema: "testsvc", GRPCServices: []string{"test.v1.Echo"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, done := serveForTest(t, ctx, srv, echoService{})
	await.For(t, 20*time.Second, "audit trail ready", func() error { return srv.Audit().Ready(t.Context()) })

	// The test service's handler skips interceptors; the Audit API's honours them, as every
	// generated service does. Auth is off: the guard decides "allowed" for an anonymous caller.
	calls := 0
	for range 2 {
		if _, err := auditv1.NewAuditServiceClient(conn).ListAudit(t.Context(), &auditv1.ListAuditRequest{}); err != nil {
			t.Fatal(err)
		}
		calls++
	}
	if _, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err) // public: no decision, no row
	}
	if err := srv.Audit().Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.HTTPAddr("test")
	code, _, body := httpGet(t, base+"/v1/test/audit?rpc="+auditv1.AuditService_ListAudit_FullMethodName, "")
	calls++
	var list struct {
		Records []struct {
			Seq      string `json:"seq"`
			RPC      string `json:"rpc"`
			Via      string `json:"via"`
			Resource string `json:"resource"`
			Hash     string `json:"hash"`
		} `json:"records"`
	}
	if err := json.Unmarshal([]byte(body), &list); code != http.StatusOK || err != nil {
		t.Fatalf("GET /v1/test/audit: %d %s %v", code, body, err)
	}
	// The two gRPC calls, flushed above; the GET's own row may already be there too (its
	// decision is queued before its handler reads), never more.
	if n := len(list.Records); n < 2 || n > 3 || list.Records[1].Seq != "2" || list.Records[0].Via != auth.ViaAnonymous || list.Records[0].Resource != "audit:test" || !strings.HasPrefix(list.Records[0].Hash, "0x") {
		t.Errorf("the ListAudit calls in the trail: %s", body)
	}
	resp, err := http.Post(base+"/v1/test/audit:verify", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	var v auditv1.VerifyAuditResponse
	if err := json.NewDecoder(resp.Body).Decode(&struct {
		Ok *bool `json:"ok"`
	}{&v.Ok}); err != nil || resp.StatusCode != http.StatusOK || !v.Ok {
		t.Errorf("POST /v1/test/audit:verify: %d ok=%v %v", resp.StatusCode, v.Ok, err)
	}
	resp.Body.Close()
	calls++

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	var rows int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM testsvc.audit").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != calls {
		t.Errorf("%d calls left %d audit rows", calls, rows)
	}
}
