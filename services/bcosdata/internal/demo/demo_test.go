package demo

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/libs/app"
)

// TestDemoRunsPipelineAndResumes runs the demo on free ports until stash has published a few
// verified blocks of the simulated chain, then runs it again on the same data directory and
// checks that it resumes past them instead of starting over.
func TestDemoRunsPipelineAndResumes(t *testing.T) {
	data := t.TempDir()
	// As root, PostgreSQL runs as the postgres OS user, which must reach the data directory;
	// otherwise the demo would fall back to a directory outside the test's control.
	for _, d := range []string{filepath.Dir(data), data} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{
		Data: data, TPS: 50, MaxTxs: 100, BlockEvery: 100 * time.Millisecond,
		KafkaAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", BinlogAddr: "127.0.0.1:0",
		Server: app.ServerConfig{GRPCAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0"}, Chain: "demo",
		StashHTTP: "127.0.0.1:0", ExportHTTP: "127.0.0.1:0", ReconcileHTTP: "127.0.0.1:0",
		StatusEvery: 200 * time.Millisecond, Duration: 2 * time.Minute, Blocks: 5,
	}
	cfg.Log.Level = "error"
	published := regexp.MustCompile(`published (\d+)`)
	last := func(out string) int {
		m := published.FindAllStringSubmatch(out, -1)
		if len(m) == 0 {
			return -1
		}
		n, _ := strconv.Atoi(m[len(m)-1][1])
		return n
	}

	var first bytes.Buffer
	if err := cfg.Run(t.Context(), &first); err != nil {
		t.Fatalf("first run: %v\n%s", err, first.String())
	}
	for _, want := range []string{"StashService, ExportService, ReconcileService", "export stores and decodes",
		"/v1/stash/blocks/1", "/v1/export/status", "reconcile http://127.0.0.1:", "/v1/openapi.json", `'{"block_number": 1}'`} {
		if !strings.Contains(first.String(), want) {
			t.Errorf("first run does not say %q:\n%s", want, first.String())
		}
	}
	if m := regexp.MustCompile(`export exported (\d+), events (\d+)`).FindAllStringSubmatch(first.String(), -1); len(m) == 0 || m[len(m)-1][2] == "0" {
		t.Errorf("first run shows no exported block with decoded events:\n%s", first.String())
	}
	n1 := last(first.String())
	if n1 < 5 {
		t.Fatalf("first run published %d blocks, want at least 5:\n%s", n1, first.String())
	}

	cfg.Blocks = uint64(n1) + 3
	var second bytes.Buffer
	if err := cfg.Run(t.Context(), &second); err != nil {
		t.Fatalf("second run: %v\n%s", err, second.String())
	}
	// The first progress line after the stash opened its storage (before, it reports 0).
	var firstLine []string
	for _, m := range published.FindAllStringSubmatch(second.String(), -1) {
		if m[1] != "0" {
			firstLine = m
			break
		}
	}
	if firstLine == nil {
		t.Fatalf("second run printed no progress:\n%s", second.String())
	}
	if n, _ := strconv.Atoi(firstLine[1]); n < n1 {
		t.Fatalf("second run started from block %d, below the %d already published: it did not resume\n%s", n, n1, second.String())
	}
	if n2 := last(second.String()); n2 < n1+3 {
		t.Fatalf("second run reached %d, want at least %d:\n%s", n2, n1+3, second.String())
	}
}

func TestPgDirFallsBackOnlyWhenUnreachable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the fallback only applies when running as root")
	}
	open := t.TempDir()
	for _, d := range []string{filepath.Dir(open), open} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	say := func(string, ...any) {}
	if got := pgDir(open, say); got != filepath.Join(open, "postgres") {
		t.Errorf("reachable dir: got %s", got)
	}
	closed := filepath.Join(open, "private")
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	got := pgDir(filepath.Join(closed, "demo"), say)
	if filepath.Dir(filepath.Dir(got)) != filepath.Clean(os.TempDir()) {
		t.Errorf("unreachable dir: got %s, want a directory under %s", got, os.TempDir())
	}
	if again := pgDir(filepath.Join(closed, "demo"), say); again != got {
		t.Errorf("fallback not stable across runs: %s then %s", got, again)
	}
}
