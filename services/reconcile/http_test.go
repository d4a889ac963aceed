package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
)

// freeAddr returns a loopback address with a port free a moment ago: Command takes addresses
// from flags, and the test must know the HTTP one to call it.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestHTTPAPI runs the reconcile command with -http.addr and calls its HTTP/JSON API: the
// routes answer (Unavailable while the database is away, as JSON with HTTP 503; invalid input
// first as InvalidArgument) and the OpenAPI document lists them.
func TestHTTPAPI(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		// The database is never reached: readiness fails, the API answers all the same.
		done <- Command().Run(ctx, []string{"-grpc.addr", "127.0.0.1:0", "-admin.addr", "", "-http.addr", addr,
			"-db.url", "postgres://nobody@127.0.0.1:1/none?connect_timeout=1", "-log.level", "error",
			"-evidence.archive", "file://" + t.TempDir()}, io.Discard)
	}()
	base := "http://" + addr
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
		}
		return resp.StatusCode, v
	}
	await.True(t, 10*time.Second, "the HTTP API to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/v1/reconcile/runs", `{"job": "transfers", "business_date": "2025-12-05"}`},
		{"GET", "/v1/reconcile/runs/1", ""},
		{"GET", "/v1/reconcile/runs/1/results?page_size=10", ""},
		{"GET", "/v1/reconcile/jobs", ""},
		{"GET", "/v1/reconcile/status", ""},
		{"POST", "/v1/evidence/records", `{"record": {"id": "r1"}}`},
		{"GET", "/v1/evidence/records/r1/proof", ""},
		{"GET", "/v1/evidence/batches?state=sent", ""},
		{"POST", "/v1/evidence/verifications", `{}`},
	} {
		code, e := do(tc.method, tc.path, tc.body)
		if code != http.StatusServiceUnavailable || e["code"] != float64(14) || e["message"] == "" {
			t.Errorf("%s %s = %d %v, want 503 with code 14 (Unavailable) and a message", tc.method, tc.path, code, e)
		}
	}
	if code, e := do("GET", "/v1/reconcile/runs/r1/results?page_size=many", ""); code != http.StatusBadRequest || e["code"] != float64(3) {
		t.Errorf("a page_size that is not a number = %d %v, want 400 with code 3 (InvalidArgument)", code, e)
	}

	code, doc := do("GET", app.OpenAPIPath, "")
	paths, _ := doc["paths"].(map[string]any)
	for _, p := range []string{"/v1/reconcile/runs", "/v1/reconcile/runs/{run_id}", "/v1/reconcile/runs/{run_id}/results",
		"/v1/reconcile/jobs", "/v1/reconcile/jobs/{name}", "/v1/reconcile/status", "/v1/reconcile/runs/{run_id}/download",
		"/v1/evidence/records", "/v1/evidence/records/{id}/proof", "/v1/evidence/publishers", "/v1/evidence/batches/{number}"} {
		if _, ok := paths[p]; code != http.StatusOK || !ok {
			t.Errorf("openapi document (%d) has no %s: paths %v", code, p, paths)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestJobWebhookOverHTTP creates, reads and updates a job's webhook through the HTTP/JSON API
// of the running command; a webhook the -jobs file would refuse is a 400 naming the field.
func TestJobWebhookOverHTTP(t *testing.T) {
	addr := freeAddr(t)
	broker := kafkatest.NewBroker(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Command().Run(ctx, []string{"-grpc.addr", "127.0.0.1:0", "-admin.addr", "", "-http.addr", addr,
			"-db.url", pgtest.NewDB(t), "-kafka.brokers", strings.Join(broker.Addrs(), ","), "-log.level", "error"}, io.Discard)
	}()
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, "http://"+addr+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, map[string]any{"error": err.Error()}
		}
		defer resp.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
		}
		return resp.StatusCode, v
	}
	await.For(t, 30*time.Second, "the HTTP API to serve jobs", func() error {
		if code, v := do("GET", "/v1/reconcile/jobs", ""); code != http.StatusOK {
			return fmt.Errorf("%d %v", code, v)
		}
		return nil
	})
	const job = `{"name": "hooked", "source": "file:///data/biz", "pattern": "t-{yyyyMMdd}.csv",
		"chain": {"contract": "Asset", "event": "Transfer"}, "key": [{"business": "tx_hash", "chain": "tx_hash", "compare": "hex"}],
		"webhook": "WEBHOOK"}`
	webhook := func(v map[string]any) any {
		j, _ := v["job"].(map[string]any)
		return j["webhook"]
	}
	if code, v := do("POST", "/v1/reconcile/jobs", strings.Replace(job, "WEBHOOK", "https://hooks.example.com/reconcile", 1)); code != http.StatusOK ||
		webhook(v) != "https://hooks.example.com/reconcile" {
		t.Fatalf("create = %d %v", code, v)
	}
	if code, v := do("GET", "/v1/reconcile/jobs/hooked", ""); code != http.StatusOK || webhook(v) != "https://hooks.example.com/reconcile" {
		t.Errorf("get = %d %v", code, v)
	}
	if code, v := do("PUT", "/v1/reconcile/jobs/hooked", strings.Replace(job, "WEBHOOK", "http://127.0.0.1:8080/hook", 1)); code != http.StatusOK ||
		webhook(v) != "http://127.0.0.1:8080/hook" {
		t.Errorf("update = %d %v", code, v)
	}
	code, v := do("PUT", "/v1/reconcile/jobs/hooked", strings.Replace(job, "WEBHOOK", "ftp://hooks.example.com/x", 1))
	if msg, _ := v["message"].(string); code != http.StatusBadRequest || !strings.Contains(msg, "webhook") {
		t.Errorf("update with an ftp webhook = %d %v, want 400 naming webhook", code, v)
	}
	if code, v := do("GET", "/v1/reconcile/jobs/hooked", ""); code != http.StatusOK || webhook(v) != "http://127.0.0.1:8080/hook" {
		t.Errorf("after the refused update: %d %v", code, v)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
