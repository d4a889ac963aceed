package stash_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/app"
	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
	"github.com/bcosdata/bcosdata/services/stash"
)

// serveHTTP serves svc's gRPC API and its HTTP/JSON API through an app.Server on loopback
// until the test ends, and returns the HTTP API's base URL.
func serveHTTP(t *testing.T, svc *stash.Service) string {
	t.Helper()
	srv := app.NewServer(app.ServerConfig{GRPCAddr: "127.0.0.1:0", ShutdownTimeout: 10 * time.Second}, zap.NewNop())
	svc.Register(srv.GRPC())
	srv.AddHTTP("127.0.0.1:0", svc.HTTPAPI())
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server Run: %v", err)
		}
	})
	return "http://" + srv.HTTPAddr("stash")
}

// call sends an HTTP request and returns the status code and body.
func call(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, out
}

// getJSON GETs url, wants 200 and decodes the JSON body into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, body := call(t, http.MethodGet, url, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d %s", url, code, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

// streamJSON decodes a server stream's newline-delimited {"result": ...} messages.
func streamJSON(t *testing.T, what string, body []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m struct {
			Result map[string]any `json:"result"`
			Error  map[string]any `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v in %s", what, err, sc.Bytes())
		}
		if m.Error != nil || m.Result == nil {
			t.Fatalf("%s: stream message %s", what, sc.Bytes())
		}
		out = append(out, m.Result)
	}
	return out
}

var (
	hexRE     = regexp.MustCompile(`^0x([0-9a-f]{2})*$`)
	decimalRE = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)
)

// The JSON fields that hold hex and decimal strings in the stash API, by name.
var (
	hexFields = []string{"hash", "parent_hash", "state_root", "transactions_root", "receipts_root", "db_hash",
		"logs_bloom", "extra_data", "sealer_list", "raw", "signature", "node_id", "to", "input", "from",
		"transaction_hash", "contract_address", "output", "address", "topics", "data", "block_hash", "key", "value", "checkpoint"}
	decimalFields = []string{"number", "gas_limit", "gas_used", "nonce", "gas_price", "gas", "block_limit",
		"chain_id", "group_id", "remain_gas", "block_number", "last_verified", "last_published", "id", "total", "current", "sealer", "timestamp_ms",
		"head_seen", "lag", "download_bytes"}
)

// checkFormats walks a JSON value and fails on any hex field that is not lowercase 0x hex
// (to and contract_address may be empty) and any decimal field that is not a decimal string;
// it returns how many of each it saw.
func checkFormats(t *testing.T, path string, v any) (hexes, decimals int) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, f := range v {
			if k == "value" {
				if _, ok := v["present"]; !ok {
					continue // "value" is a byte string only in a row's field values
				}
			}
			isHex, isDec := slices.Contains(hexFields, k), slices.Contains(decimalFields, k)
			vals := []any{f}
			if l, ok := f.([]any); ok && (isHex || isDec) {
				vals = l
			}
			for _, x := range vals {
				s, isStr := x.(string)
				switch {
				case isHex && !isStr:
					t.Errorf("%s.%s = %v, want a 0x hex string", path, k, x)
				case isHex && (s != "" || (k != "to" && k != "contract_address")) && !hexRE.MatchString(s):
					t.Errorf("%s.%s = %q, want lowercase 0x hex", path, k, s)
				case isDec && (!isStr || !decimalRE.MatchString(s)):
					t.Errorf("%s.%s = %v, want a decimal string", path, k, x)
				case isHex:
					hexes++
				case isDec:
					decimals++
				case !isHex && !isDec:
					h, d := checkFormats(t, path+"."+k, x)
					hexes, decimals = hexes+h, decimals+d
				}
			}
		}
	case []any:
		for i, x := range v {
			h, d := checkFormats(t, fmt.Sprintf("%s[%d]", path, i), x)
			hexes, decimals = hexes+h, decimals+d
		}
	}
	return hexes, decimals
}

// TestHTTPAPIOnFixture calls stash's HTTP/JSON API on a stash of the real 0.binlog: hashes,
// addresses and byte strings come back as 0x hex, numbers as decimal strings, errors with
// their HTTP status, and the OpenAPI document lists every route.
func TestHTTPAPIOnFixture(t *testing.T) {
	t.Parallel()
	dir, recs := readFixture(t)
	h := newHarness(t)
	run := h.start(h.config("file://" + dir))
	waitStatus(t, run.client, 60*time.Second, "22 blocks published", func(s *stashv1.StatusResponse) bool { return s.GetLastPublished() == 21 })
	base := serveHTTP(t, run.svc)

	t.Run("Status", func(t *testing.T) {
		var st map[string]any
		getJSON(t, base+"/v1/stash/status", &st)
		if st["last_verified"] != "21" || st["last_published"] != "21" || !hexRE.MatchString(fmt.Sprint(st["checkpoint"])) || len(fmt.Sprint(st["checkpoint"])) != 66 {
			t.Errorf("status %v: want last_verified and last_published \"21\" and a 0x hex checkpoint", st)
		}
		checkFormats(t, "status", st)
	})

	t.Run("GetBlock", func(t *testing.T) {
		var hexes, decimals, txs int
		for n := range uint64(22) {
			var byNum struct {
				Block map[string]any `json:"block"`
			}
			getJSON(t, fmt.Sprintf("%s/v1/stash/blocks/%d", base, n), &byNum)
			header, _ := byNum.Block["header"].(map[string]any)
			want := "0x" + numberToHash(t, recs[n])
			if header["hash"] != want || header["number"] != fmt.Sprint(n) {
				t.Fatalf("block %d: header hash %v number %v, want %s and \"%d\"", n, header["hash"], header["number"], want, n)
			}
			h, d := checkFormats(t, fmt.Sprintf("block %d", n), byNum.Block)
			hexes, decimals = hexes+h, decimals+d
			tl, _ := byNum.Block["transactions"].([]any)
			txs += len(tl)
			if n == 0 || n == 21 {
				_, byNumBody := call(t, http.MethodGet, fmt.Sprintf("%s/v1/stash/blocks/%d", base, n), "")
				code, byHashBody := call(t, http.MethodGet, base+"/v1/stash/blocks/hash/"+want, "")
				if code != http.StatusOK || !bytes.Equal(byNumBody, byHashBody) {
					t.Errorf("block %d by hash: %d, body differs from by number: %t", n, code, !bytes.Equal(byNumBody, byHashBody))
				}
			}
		}
		// Every hash and quantity of a block with transactions is checked above; make sure there were some.
		if txs == 0 || hexes < 22*8 || decimals < 22*3 {
			t.Errorf("saw %d transactions, %d hex and %d decimal fields: the fixture's blocks were not all checked", txs, hexes, decimals)
		}
	})

	t.Run("GetStateChanges", func(t *testing.T) {
		var resp struct {
			StateChange map[string]any `json:"state_change"`
		}
		getJSON(t, base+"/v1/stash/blocks/5/state-changes", &resp)
		if resp.StateChange["block_number"] != "5" || resp.StateChange["block_hash"] != "0x"+numberToHash(t, recs[5]) {
			t.Errorf("state change of block 5: block_number %v block_hash %v", resp.StateChange["block_number"], resp.StateChange["block_hash"])
		}
		if hexes, _ := checkFormats(t, "state_change", resp.StateChange); hexes < 3 {
			t.Errorf("state change of block 5 has %d hex fields: no rows?", hexes)
		}
	})

	t.Run("VerifyRange", func(t *testing.T) {
		code, body := call(t, http.MethodPost, base+"/v1/stash/verify-range", `{"from_block": "0", "to_block": "21"}`)
		if code != http.StatusOK {
			t.Fatalf("verify-range = %d %s", code, body)
		}
		msgs := streamJSON(t, "verify-range", body)
		last := msgs[len(msgs)-1]
		if last["done"] != true || last["verified"] != "22" || last["total"] != "22" {
			t.Errorf("verify-range last message %v, want done with 22 of 22 verified", last)
		}
	})

	t.Run("Snapshot", func(t *testing.T) {
		code, body := call(t, http.MethodGet, base+"/v1/stash/snapshot?block_number=21&tables=_sys_current_state_", "")
		if code != http.StatusOK {
			t.Fatalf("snapshot = %d %s", code, body)
		}
		msgs := streamJSON(t, "snapshot", body)
		if len(msgs) == 0 || msgs[0]["table"] != "_sys_current_state_" {
			t.Fatalf("snapshot messages %v, want the _sys_current_state_ table", msgs)
		}
		for i, m := range msgs {
			if hexes, _ := checkFormats(t, fmt.Sprintf("snapshot[%d]", i), m); hexes == 0 {
				t.Errorf("snapshot message %d has no rows: %v", i, m)
			}
		}
	})

	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct {
			method, path, body string
			httpCode           int
			grpcCode           float64
		}{
			{"GET", "/v1/stash/blocks/99", "", http.StatusNotFound, 5},
			{"GET", "/v1/stash/blocks/hash/0x" + strings.Repeat("ab", 32), "", http.StatusNotFound, 5},
			{"GET", "/v1/stash/blocks/hash/0x1234", "", http.StatusBadRequest, 3},
			{"GET", "/v1/stash/blocks/twelve", "", http.StatusBadRequest, 3},
			{"POST", "/v1/stash/verify-range", `{"from_block": "30", "to_block": "40"}`, http.StatusBadRequest, 11},
			{"GET", "/v1/stash/no-such-route", "", http.StatusNotFound, 5},
		} {
			code, body := call(t, tc.method, base+tc.path, tc.body)
			var e map[string]any
			if err := json.Unmarshal(body, &e); err != nil {
				t.Errorf("%s %s: error body %s is not JSON: %v", tc.method, tc.path, body, err)
			}
			if se, ok := e["error"].(map[string]any); ok {
				e = se // a stream's error comes as its one message
			}
			if code != tc.httpCode || e["code"] != tc.grpcCode || e["message"] == "" {
				t.Errorf("%s %s = %d %s, want %d with code %v and a message", tc.method, tc.path, code, body, tc.httpCode, tc.grpcCode)
			}
		}
	})

	t.Run("OpenAPI", func(t *testing.T) {
		var doc struct {
			Swagger string                    `json:"swagger"`
			Paths   map[string]map[string]any `json:"paths"`
		}
		getJSON(t, base+app.OpenAPIPath, &doc)
		want := map[string]string{
			"/v1/stash/status":                              "get",
			"/v1/stash/blocks/{block_number}":               "get",
			"/v1/stash/blocks/hash/{block_hash}":            "get",
			"/v1/stash/blocks/{block_number}/state-changes": "get",
			"/v1/stash/verify-range":                        "post",
			"/v1/stash/snapshot":                            "get",
		}
		if doc.Swagger != "2.0" || len(doc.Paths) != len(want) {
			t.Errorf("openapi document: swagger %q, paths %v; want 2.0 and %d paths", doc.Swagger, slices.Sorted(maps.Keys(doc.Paths)), len(want))
		}
		for p, m := range want {
			if _, ok := doc.Paths[p][m]; !ok {
				t.Errorf("openapi document has no %s %s", strings.ToUpper(m), p)
			}
		}
	})
}
