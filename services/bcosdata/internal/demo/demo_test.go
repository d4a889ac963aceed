package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/services/bcosdata/internal/evidencecmd"
)

// syncWriter is a buffer the demo writes to while the test reads it.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// testConfig is the demo on free ports in a fresh data directory, with enough traffic in a
// few blocks for the sample reconciliation.
func testConfig(t *testing.T) Config {
	t.Helper()
	data := t.TempDir()
	// As root, PostgreSQL runs as the postgres OS user, which must reach the data directory;
	// otherwise the demo would fall back to a directory outside the test's control.
	for _, d := range []string{filepath.Dir(data), data} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{
		Data: data, TPS: 500, MaxTxs: 100, BlockEvery: 100 * time.Millisecond,
		KafkaAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", BinlogAddr: "127.0.0.1:0",
		Server:    app.ServerConfig{GRPCAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second},
		Chain:     "demo",
		StashHTTP: "127.0.0.1:0", ExportHTTP: "127.0.0.1:0", ReconcileHTTP: "127.0.0.1:0",
		StatusEvery: 200 * time.Millisecond, Duration: 3 * time.Minute,
	}
	cfg.Log.Level = "error"
	return cfg
}

// TestDemoExitsWithConsistentSummaryAndResumes runs `-blocks N -exit-when-done -json`: the
// chain stops at N exactly, every count is non-zero and agrees across services, the sample
// reconciliation reports exactly the planted differences, and the evidence records published
// early are all anchored before block N. Then it runs the demo again on the same data to a
// higher block, serving: it resumes instead of starting over, anchors its own records, and
// every printed curl command answers 200 as printed, the psql command works, the evidence
// verify command verifies its proof against the node and the Kafka command names a broker and
// topic that hold messages.
func TestDemoExitsWithConsistentSummaryAndResumes(t *testing.T) {
	// The records are anchored in block 13 to 17 on a quiet machine (100 ms blocks): the
	// first run leaves room for a loaded CI runner (2 cores, other packages' tests beside).
	const first, then = 100, 130
	cfg := testConfig(t)
	cfg.Blocks, cfg.ExitWhenDone, cfg.JSON = first, true, true
	var progress, summary bytes.Buffer
	if err := cfg.run(t.Context(), &progress, &summary); err != nil {
		t.Fatalf("first run: %v\n%s", err, progress.String())
	}
	var s Summary
	if err := json.Unmarshal(summary.Bytes(), &s); err != nil {
		t.Fatalf("summary is not one JSON object: %v\n%s", err, summary.String())
	}
	if s.Blocks != first || s.StashPublished != first || s.ExportBlocks != first {
		t.Errorf("chain %d, stash published %d, export stored %d: want all %d", s.Blocks, s.StashPublished, s.ExportBlocks, first)
	}
	if s.Transactions == 0 || s.Events == 0 || s.Calls == 0 {
		t.Errorf("zero counts in %+v", s)
	}
	if uint64(s.ReconcileEvents) != s.Events || uint64(s.ReconcileCalls) != s.Calls {
		t.Errorf("reconcile consumed %d events, %d calls; export published %d, %d", s.ReconcileEvents, s.ReconcileCalls, s.Events, s.Calls)
	}
	if len(s.Inconsistencies) > 0 {
		t.Errorf("inconsistencies: %v", s.Inconsistencies)
	}
	r := s.Reconciliation
	if r == nil {
		t.Fatalf("no reconciliation in the summary:\n%s", summary.String())
	}
	if r.State != "succeeded" || !equalCounts(r.Outcomes, r.Expected) {
		t.Errorf("run %s %s %s: outcomes %v, planted %v", r.RunID, r.State, r.Error, r.Outcomes, r.Expected)
	}
	for _, o := range []string{"matched", "mismatched", "missing_on_chain", "missing_in_business", "duplicate_in_business", "malformed"} {
		if r.Expected[o] == 0 {
			t.Errorf("no %s planted: %v", o, r.Expected)
		}
	}
	if r.Expected["matched"] <= samplePlan.WithinTolerance {
		t.Errorf("matched %d: want more than the %d within tolerance", r.Expected["matched"], samplePlan.WithinTolerance)
	}

	e := s.Evidence
	switch {
	case e == nil:
		t.Errorf("no evidence in the summary:\n%s", summary.String())
	case e.Published != demoRecords || e.Anchored != e.Published || e.Error != "":
		t.Errorf("evidence: %d records published, %d anchored, error %q: want %d and %d", e.Published, e.Anchored, e.Error, demoRecords, demoRecords)
	case e.AnchorBlock == 0 || e.AnchorBlock > first || !regexp.MustCompile(`^0x[0-9a-f]{64}$`).MatchString(e.AnchorTransaction):
		t.Errorf("evidence anchored in block %d by transaction %q: want a block up to %d and a 0x hash", e.AnchorBlock, e.AnchorTransaction, first)
	case filepath.Dir(e.Proof) != evidenceDir(cfg.Data) || !strings.Contains(e.Verify, " evidence verify "+e.Proof+" -rpc http://"):
		t.Errorf("evidence proof %q, verify command %q: want a proof in %s and its verify command", e.Proof, e.Verify, evidenceDir(cfg.Data))
	default:
		t.Logf("evidence anchored in block %d of %d", e.AnchorBlock, first)
	}

	// Again on the same data, serving past the summary: it resumes, and the commands work.
	cfg.Blocks, cfg.ExitWhenDone, cfg.JSON = then, false, false
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out syncWriter
	done := make(chan error, 1)
	go func() { done <- cfg.Run(ctx, &out) }()
	await.For(t, 2*time.Minute, "the second run printed its commands", func() error {
		select {
		case err := <-done:
			t.Fatalf("second run ended before printing the commands: %v\n%s", err, out.String())
		default:
		}
		if !strings.Contains(out.String(), "kafka-console-consumer") {
			return fmt.Errorf("no commands yet:\n%s", out.String())
		}
		return nil
	})
	second := out.String()
	published := regexp.MustCompile(`published (\d+)`)
	for _, m := range published.FindAllStringSubmatch(second, -1) {
		if m[1] == "0" {
			continue // before stash opened its storage
		}
		if n, _ := strconv.Atoi(m[1]); n < first {
			t.Errorf("second run started from block %d, below the %d already published: it did not resume", n, first)
		}
		break
	}
	if !strings.Contains(second, fmt.Sprintf("summary   chain demo: %d blocks", then)) {
		t.Errorf("second run has no summary at block %d:\n%s", then, second)
	}
	if want := fmt.Sprintf("evidence %d records published, %[1]d anchored in block ", demoRecords); !strings.Contains(second, want) {
		t.Errorf("second run's summary has no %q:\n%s", want, second)
	}
	checkPrintedCommands(t, second)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("second run: %v\n%s", err, out.String())
	}
}

// checkPrintedCommands runs the demo's printed commands the way a user pastes them: every
// curl URL answers 200 with JSON, psql runs (when installed), the grpcurl commands run (see
// checkGrpcurl), and the Kafka console consumer's broker and topic hold messages.
func checkPrintedCommands(t *testing.T, out string) {
	t.Helper()
	urlRE := regexp.MustCompile(`curl -s '?(http://[^\s']+)'?`)
	var curls int
	sawTx := false
	for _, m := range urlRE.FindAllStringSubmatch(out, -1) {
		curls++
		if strings.Contains(m[1], "/v1/export/transactions/0x") {
			sawTx = true
		}
		resp, err := http.Get(m[1])
		if err != nil {
			t.Errorf("%s: %v", m[0], err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !json.Valid(body) {
			t.Errorf("%s: %s %.300s", m[0], resp.Status, body)
		}
	}
	if curls < 10 || !sawTx {
		t.Errorf("%d curl commands, one with a transaction hash: %v; want at least 10 and one:\n%s", curls, sawTx, out)
	}
	if m := regexp.MustCompile(`psql '([^']+)' -c '([^']+)'`).FindStringSubmatch(out); m == nil {
		t.Errorf("no psql command printed")
	} else if _, err := exec.LookPath("psql"); err == nil {
		cmd := exec.CommandContext(t.Context(), "psql", m[1], "-c", m[2])
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", m[0], err, b)
		}
	}
	checkGrpcurl(t, out)
	checkEvidenceVerify(t, out)
	m := regexp.MustCompile(`--bootstrap-server (\S+) --topic (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no Kafka console consumer command printed")
	}
	conn, err := kafkago.DialLeader(t.Context(), "tcp", m[1], m[2], 0)
	if err != nil {
		t.Fatalf("%s: %v", m[0], err)
	}
	defer conn.Close()
	last, err := conn.ReadLastOffset()
	if err != nil || last == 0 {
		t.Errorf("%s: topic's last offset %d, %v: want messages", m[0], last, err)
	}
}

// checkEvidenceVerify runs the printed `bcosdata evidence verify PROOF -rpc URL` with its
// printed arguments through bcosdata's entry point (the test binary is no bcosdata): the proof
// verifies against the demo's node.
func checkEvidenceVerify(t *testing.T, out string) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*(\S*bcosdata) evidence verify (.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Errorf("no evidence verify command printed:\n%s", out)
		return
	}
	var got bytes.Buffer
	if err := evidencecmd.Verify(t.Context(), strings.Fields(m[2]), &got, &got); err != nil {
		t.Errorf("%s: %v\n%s", strings.TrimSpace(m[0]), err, got.String())
	} else if !strings.Contains(got.String(), "verified: record ") {
		t.Errorf("%s: no verified line in\n%s", strings.TrimSpace(m[0]), got.String())
	}
}

// TestPortInUseNamesTheFlag occupies each port the demo listens on in turn: the demo refuses
// to start and names the flag that moves it.
func TestPortInUseNamesTheFlag(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	_, port, _ := splitPort(addr)
	for _, tc := range []struct {
		flag string
		set  func(*Config)
	}{
		{"kafka.addr", func(c *Config) { c.KafkaAddr = addr }},
		{"pg.port", func(c *Config) { c.PGPort = port }},
		{"rpc.addr", func(c *Config) { c.RPCAddr = addr }},
		{"binlog.addr", func(c *Config) { c.BinlogAddr = addr }},
		{"grpc.addr", func(c *Config) { c.Server.GRPCAddr = addr }},
		{"admin.addr", func(c *Config) { c.Server.AdminAddr = addr }},
		{"stash.http.addr", func(c *Config) { c.StashHTTP = addr }},
		{"export.http.addr", func(c *Config) { c.ExportHTTP = addr }},
		{"reconcile.http.addr", func(c *Config) { c.ReconcileHTTP = addr }},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			cfg := testConfig(t)
			tc.set(&cfg)
			err := cfg.Run(t.Context(), io.Discard)
			want := fmt.Sprintf("port %d is in use: move it with -%s", port, tc.flag)
			var pe *PortInUseError
			if !errors.As(err, &pe) || err.Error() != want {
				t.Fatalf("got %v, want %q", err, want)
			}
		})
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

// grpcurlPath finds grpcurl on PATH or in the repository's bin/, where `make tools` (and so
// `make test`) installs it. Without it the check fails under CI=true and is skipped otherwise.
func grpcurlPath(t *testing.T) (string, bool) {
	t.Helper()
	if p, err := exec.LookPath("grpcurl"); err == nil {
		return p, true
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			p := filepath.Join(dir, "bin", "grpcurl")
			if _, err := os.Stat(p); err == nil {
				return p, true
			}
			break
		}
	}
	if os.Getenv("CI") == "true" {
		t.Errorf("grpcurl is neither on PATH nor in bin/: run make tools")
	} else {
		t.Log("grpcurl is neither on PATH nor in bin/ (make tools installs it): the printed grpcurl commands are not run")
	}
	return "", false
}

// checkGrpcurl runs each printed grpcurl command through a shell, exactly as printed: it must
// exit 0, list the services through reflection, and show a block's hash as 0x hex.
func checkGrpcurl(t *testing.T, out string) {
	t.Helper()
	lines := regexp.MustCompile(`(?m)grpcurl .*$`).FindAllString(out, -1)
	if len(lines) < 2 {
		t.Errorf("%d grpcurl commands printed, want at least 2:\n%s", len(lines), out)
		return
	}
	path, ok := grpcurlPath(t)
	if !ok {
		return
	}
	env := append(os.Environ(), "PATH="+filepath.Dir(path)+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, line := range lines {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		cmd := exec.CommandContext(ctx, "sh", "-c", line)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("%s: %v\n%s", line, err, b)
			continue
		}
		got := string(b)
		switch {
		case strings.HasSuffix(line, " list"):
			for _, svc := range []string{"bcosdata.stash.v1.StashService", "bcosdata.export.v1.ExportService", "bcosdata.reconcile.v1.ReconcileService"} {
				if !strings.Contains(got, svc) {
					t.Errorf("%s: no %s in\n%s", line, svc, got)
				}
			}
		case strings.Contains(line, "GetBlock"):
			if !regexp.MustCompile(`"hash": "0x[0-9a-f]{64}"`).MatchString(got) || !json.Valid(b) {
				t.Errorf("%s: want JSON with the block hash in 0x hex, got\n%.600s", line, got)
			}
		}
	}
}
