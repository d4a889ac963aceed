package fiscosim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/fiscosim/simtest"
)

// testConfig is simtest's fast, reproducible configuration.
func testConfig(t testing.TB) fiscosim.Config {
	cfg := simtest.Config(t)
	cfg.SentLog = true // the tests compare the JSON lines with the in-memory record
	return cfg
}

// startSim runs a simulator in the background for the rest of the test.
func startSim(t *testing.T, cfg fiscosim.Config) *fiscosim.Sim { return simtest.Start(t, cfg) }

// runToEnd runs a simulator with -exit until it has written cfg.Blocks blocks.
func runToEnd(t testing.TB, cfg fiscosim.Config) *fiscosim.Sim {
	t.Helper()
	cfg.Exit = true
	sim, err := fiscosim.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := sim.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return sim
}

// waitBlock waits, bounded, for block n.
func waitBlock(t *testing.T, sim *fiscosim.Sim, n uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := sim.WaitBlock(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// rpcRaw posts one JSON-RPC request and returns the response body.
func rpcRaw(t *testing.T, url, method string, params ...any) []byte {
	t.Helper()
	if params == nil {
		params = []any{}
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rpcResult posts a request and returns its decoded result, failing on an error response.
func rpcResult(t *testing.T, url, method string, params ...any) any {
	t.Helper()
	var resp struct {
		Result any             `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	raw := rpcRaw(t, url, method, params...)
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatalf("%s: %v in %s", method, err, raw)
	}
	if resp.Error != nil {
		t.Fatalf("%s%v: error %s", method, params, resp.Error)
	}
	return resp.Result
}

// kind names the JSON type of a decoded value.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// shapeDiff compares the key sets and value kinds of got with want, recursively. Keys listed
// in extra may appear in got only (documented version deltas); arrays are compared element by
// element against want's first element when both are non-empty.
func shapeDiff(path string, got, want any, extra map[string]bool) []string {
	if kind(got) != kind(want) {
		return []string{fmt.Sprintf("%s: %s, recorded %s", path, kind(got), kind(want))}
	}
	var out []string
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		for k := range w {
			if _, ok := g[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing", path, k))
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok && !extra[k] {
				out = append(out, fmt.Sprintf("%s.%s: not in the recorded response", path, k))
			}
		}
		for k, wv := range w {
			if gv, ok := g[k]; ok {
				out = append(out, shapeDiff(path+"."+k, gv, wv, extra)...)
			}
		}
	case []any:
		g := got.([]any)
		if len(w) > 0 {
			for i, gv := range g {
				out = append(out, shapeDiff(fmt.Sprintf("%s[%d]", path, i), gv, w[0], extra)...)
			}
		}
	}
	sort.Strings(out)
	return out
}

// readRecords reads every record of every binlog file in dir, in block order. A truncated
// tail ends the last file without error; truncated reports it.
func readRecords(t testing.TB, dir string) (recs []*binlog.Record, readErrs []error, files []binlog.FileInfo, truncated bool) {
	t.Helper()
	files, err := binlog.ListDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for fi, f := range files {
		r, err := binlog.Open(f.Path, binlog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for range 1 << 20 {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if errors.Is(err, binlog.ErrTruncated) && fi == len(files)-1 {
				truncated = true
				break
			}
			if rec == nil {
				r.Close()
				t.Fatalf("read %s: %v", f.Path, err)
			}
			recs = append(recs, rec)
			readErrs = append(readErrs, err)
		}
		r.Close()
	}
	return recs, readErrs, files, truncated
}

// dirBytes returns every file of a directory tree, by relative path.
func dirBytes(t testing.TB, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func keysOf(m map[string][]byte) string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return strings.Join(k, ",")
}
