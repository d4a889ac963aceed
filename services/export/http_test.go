package export_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/app"
)

// TestHTTPAPI serves a running export's gRPC API through an app.Server with its HTTP/JSON API
// and calls it with net/http: JSON with proto field names and 64-bit numbers as decimal
// strings, errors with their HTTP status, and the OpenAPI document listing the routes.
func TestHTTPAPI(t *testing.T) {
	t.Parallel()
	msgs := blockMessages(t)
	want := count(t, msgs)
	e := newEnv(t, 1)
	e.produce(msgs)
	r := e.start(e.config(""))
	caughtUp(t, r.client, uint64(want.blocks))

	srv := app.NewServer(app.ServerConfig{GRPCAddr: "127.0.0.1:0", ShutdownTimeout: 10 * time.Second}, zap.NewNop())
	r.svc.Register(srv.GRPC())
	srv.AddHTTP("127.0.0.1:0", r.svc.HTTPAPI())
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server Run: %v", err)
		}
	}()
	base := "http://" + srv.HTTPAddr("export")
	get := func(path string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatalf("GET %s: body is not JSON: %v", path, err)
		}
		return resp.StatusCode, v
	}

	// Blocks and transactions: hashes and addresses as lowercase 0x hex, never base64; a
	// transaction fetched by the hash a list gave.
	hexOf := func(v any, n int) bool {
		s, ok := v.(string)
		if !ok || !strings.HasPrefix(s, "0x") || len(s) != 2+2*n {
			return false
		}
		return strings.Trim(s[2:], "0123456789abcdef") == ""
	}
	if code, b := get("/v1/export/blocks/1"); code != http.StatusOK {
		t.Errorf("GET /v1/export/blocks/1 = %d %v", code, b)
	} else if blk, _ := b["block"].(map[string]any); blk == nil || !hexOf(blk["hash"], 32) || !hexOf(blk["parent_hash"], 32) || blk["number"] != "1" {
		t.Errorf("GET /v1/export/blocks/1: block %v, want number \"1\" and 0x hex hashes", b["block"])
	}
	code, list := get("/v1/export/transactions?page_size=3")
	txs, _ := list["transactions"].([]any)
	if code != http.StatusOK || len(txs) == 0 {
		t.Fatalf("GET /v1/export/transactions = %d %v, want transactions", code, list)
	}
	first, _ := txs[0].(map[string]any)
	if !hexOf(first["hash"], 32) || !hexOf(first["from"], 20) {
		t.Errorf("listed transaction %v: want 0x hex hash and from", first)
	}
	if code, got := get(fmt.Sprintf("/v1/export/transactions/%s", first["hash"])); code != http.StatusOK {
		t.Errorf("GET /v1/export/transactions/%s = %d %v", first["hash"], code, got)
	} else if tx, _ := got["transaction"].(map[string]any); tx == nil || tx["hash"] != first["hash"] {
		t.Errorf("GET /v1/export/transactions/%s: transaction %v, want the same hash", first["hash"], got["transaction"])
	}
	if code, e := get("/v1/export/transactions/0x1234"); code != http.StatusBadRequest || e["code"] != float64(3) {
		t.Errorf("GET a malformed transaction hash = %d %v, want 400 InvalidArgument", code, e)
	}

	code, st := get("/v1/export/status")
	if code != http.StatusOK || st["last_block"] != fmt.Sprint(want.blocks-1) || st["blocks"] != fmt.Sprint(want.blocks) {
		t.Errorf("GET /v1/export/status = %d %v, want last_block \"%d\" and blocks \"%d\" (decimal strings)", code, st, want.blocks-1, want.blocks)
	}
	if code, e := get("/v1/export/events?from_block=first"); code != http.StatusBadRequest || e["code"] != float64(3) || e["message"] == "" {
		t.Errorf("a from_block that is not a number = %d %v, want 400 with code 3 (InvalidArgument) and a message", code, e)
	}
	if code, e := get("/v1/export/no-such-route"); code != http.StatusNotFound || e["code"] != float64(5) {
		t.Errorf("an unknown route = %d %v, want 404 with code 5 (NotFound)", code, e)
	}

	code, doc := get(app.OpenAPIPath)
	paths, _ := doc["paths"].(map[string]any)
	if _, ok := paths["/v1/export/status"]; code != http.StatusOK || doc["swagger"] != "2.0" || !ok {
		t.Errorf("openapi document = %d, swagger %v, paths %v; want 2.0 listing /v1/export/status", code, doc["swagger"], paths)
	}
	for p := range paths {
		if !strings.HasPrefix(p, "/v1/export/") {
			t.Errorf("openapi document of export lists %s", p)
		}
	}
}
