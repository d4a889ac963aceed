package stash_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/postgres/pglocal"
	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
)

// Each test here takes a dependency away from a running stash (or starts it without one) and
// checks that the stash says so within seconds, in readiness (the cause named), in Status and
// in its log, and that it is ready again by itself when the dependency returns, with every
// block then published once.

// restartableBroker is a Kafka-protocol broker on a fixed loopback port that a test stops and
// starts again, with its data or without.
type restartableBroker struct {
	t       *testing.T
	port    int
	dataDir string
	c       *kfake.Cluster
}

func newRestartableBroker(t *testing.T) *restartableBroker {
	t.Helper()
	b := &restartableBroker{t: t, port: freePort(t)}
	b.start(false)
	t.Cleanup(b.stop)
	return b
}

func (b *restartableBroker) addrs() []string { return []string{"127.0.0.1:" + strconv.Itoa(b.port)} }

// start starts the broker; keepData false starts it empty, as a wiped broker comes back.
func (b *restartableBroker) start(keepData bool) {
	b.t.Helper()
	if !keepData || b.dataDir == "" {
		b.dataDir = b.t.TempDir()
	}
	c, err := kfake.NewCluster(kfake.Ports(b.port), kfake.DataDir(b.dataDir), kfake.DefaultNumPartitions(1),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(kafka.MaxBlockMessageBytes)}))
	if err != nil {
		b.t.Fatalf("start broker on port %d: %v", b.port, err)
	}
	b.c = c
}

func (b *restartableBroker) stop() {
	if b.c != nil {
		b.c.Close()
		b.c = nil
	}
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// notReady waits until the service is not ready with an error containing each of want, and
// returns the error.
func (r *running) notReady(t *testing.T, want ...string) error {
	t.Helper()
	return await.Value(t, 15*time.Second, fmt.Sprintf("readiness to fail with %q", want), func() (error, error) {
		err := r.svc.Ready(t.Context())
		if err == nil {
			return nil, errors.New("ready")
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				return nil, fmt.Errorf("readiness error does not say %q yet: %w", w, err)
			}
		}
		return err, nil
	})
}

// ready waits until the service is ready.
func (r *running) ready(t *testing.T) {
	t.Helper()
	await.For(t, 60*time.Second, "the service to be ready", func() error { return r.svc.Ready(t.Context()) })
}

// dependency waits until Status reports the named dependency in the given readiness, and
// returns it.
func (r *running) dependency(t *testing.T, name string, ready bool) *stashv1.Dependency {
	t.Helper()
	return await.Value(t, 15*time.Second, fmt.Sprintf("Status to report %s ready=%v", name, ready), func() (*stashv1.Dependency, error) {
		st, err := r.client.Status(t.Context(), &stashv1.StatusRequest{})
		if err != nil {
			return nil, err
		}
		for _, d := range st.GetDependencies() {
			if d.GetName() == name && d.GetReady() == ready && (ready || d.GetError() != "") {
				return d, nil
			}
		}
		return nil, fmt.Errorf("dependencies %v", st.GetDependencies())
	})
}

// logged waits for a log line with message msg about dependency dep.
func logged(t *testing.T, logs *observer.ObservedLogs, msg, dep string) observer.LoggedEntry {
	t.Helper()
	return await.Value(t, 15*time.Second, fmt.Sprintf("log %q for %s", msg, dep), func() (observer.LoggedEntry, error) {
		for _, e := range logs.FilterMessage(msg).All() {
			if e.ContextMap()["dependency"] == dep {
				return e, nil
			}
		}
		return observer.LoggedEntry{}, await.ErrNotYet
	})
}

// publishedOnce checks that topic holds exactly blocks from…to, each once, in order.
func (h *harness) publishedOnce(t *testing.T, topic string, from, to uint64) {
	t.Helper()
	msgs := h.drainTopic(t, topic)
	if len(msgs) != int(to-from+1) {
		t.Fatalf("%s holds %d messages, want blocks %d-%d once each", topic, len(msgs), from, to)
	}
	for i, m := range msgs {
		n, err := kafka.ParseBlockKey(m.Key)
		if err != nil || n != from+uint64(i) {
			t.Fatalf("%s message %d is block %d (%v), want %d", topic, i, n, err, from+uint64(i))
		}
	}
}

// TestBrokerDown stops the broker under a stash that has caught up, adds blocks while it is
// away, and starts it again on the same port, with its data and empty (a wiped broker: the
// stash must create its topics again).
func TestBrokerDown(t *testing.T) {
	t.Parallel()
	_, recs := readFixture(t)
	for _, keepData := range []bool{true, false} {
		name := "comes back with its data"
		if !keepData {
			name = "comes back empty"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newRestartableBroker(t)
			h := newHarnessOn(t, b.addrs())
			dir := t.TempDir()
			src := writeDir(t, dir, encodeFile(t, recs[:12]))
			run, logs := h.startLogged(h.config(src))
			waitStatus(t, run.client, 60*time.Second, "blocks 0-11 published", func(s *stashv1.StatusResponse) bool { return s.GetLastPublished() == 11 })
			run.ready(t)

			b.stop()
			// Caught up, nothing to publish: the broker's absence must show all the same.
			err := run.notReady(t, "broker: ")
			t.Logf("readiness with the broker down: %v", err)
			if d := run.dependency(t, "broker", false); d.GetSince() == nil {
				t.Errorf("broker dependency without since: %v", d)
			}
			down := logged(t, logs, "dependency down", "broker")
			if strings.Contains(down.ContextMap()["error"].(string), "not a client facing") {
				t.Errorf("misleading kafka-go error text in the log: %v", down.ContextMap())
			}
			writeDir(t, dir, encodeFile(t, recs))
			waitStatus(t, run.client, 60*time.Second, "blocks 12-21 stored while the broker is away", func(s *stashv1.StatusResponse) bool { return s.GetLastVerified() == 21 })
			if err := run.svc.Ready(t.Context()); err == nil {
				t.Error("ready with blocks stored that cannot be published")
			}

			b.start(keepData)
			run.ready(t)
			waitStatus(t, run.client, 60*time.Second, "every block published", func(s *stashv1.StatusResponse) bool { return s.GetLastPublished() == 21 })
			run.dependency(t, "broker", true)
			if e := logged(t, logs, "dependency recovered", "broker"); e.ContextMap()["down_for"] == nil {
				t.Errorf("recovery log without down_for: %v", e.ContextMap())
			}
			first := uint64(0)
			if !keepData {
				first = 12 // blocks 0-11 went with the old broker's data
			}
			h.publishedOnce(t, "bcos.chain0.group1.blocks.v1", first, 21)
			h.publishedOnce(t, "bcos.chain0.group1.state.v1", first, 21)
			run.noFailures(t)
		})
	}
}

// startCluster starts a PostgreSQL cluster in dir on port, skipping the test where pgtest
// would (no PostgreSQL binaries, not in CI).
func startCluster(t *testing.T, dir string, port int) *pglocal.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Port: port, Fast: true})
	if err != nil {
		if errors.Is(err, pglocal.ErrNoBinaries) && os.Getenv("CI") != "true" {
			t.Skipf("no PostgreSQL: %v", err)
		}
		t.Fatalf("start PostgreSQL on port %d: %v", port, err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

// TestDatabaseDown starts a stash on a database port nothing listens on, then starts a
// PostgreSQL cluster there; later it stops that cluster under the running stash and starts it
// again. The test's own cluster: the shared one other tests use keeps running.
func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	_, recs := readFixture(t)
	port := freePort(t)
	h := newHarness(t)
	cfg := h.config()
	dir := t.TempDir()
	cfg.Sources = []string{writeDir(t, filepath.Join(dir, "binlog"), encodeFile(t, recs[:12]))}
	cfg.DB.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", port)
	run, logs := h.startLogged(cfg)

	err := run.notReady(t, "database: ", "connection refused")
	t.Logf("readiness with no database: %v", err)
	// Status answers while the storage cannot be opened: dependencies set, progress empty.
	st, serr := run.client.Status(t.Context(), &stashv1.StatusRequest{})
	if serr != nil {
		t.Fatalf("Status before the storage is open: %v", serr)
	}
	if st.GetLastVerified() != 0 || st.GetCheckpoint() != "" || len(st.GetSources()) != 1 {
		t.Errorf("Status before the storage is open: %v", st)
	}
	if d := run.dependency(t, "database", false); !strings.Contains(d.GetError(), "connection refused") {
		t.Errorf("database dependency %v: want the cause", d)
	}
	logged(t, logs, "dependency down", "database")

	// Not under t.TempDir: PostgreSQL runs as its own OS user when the test runs as root, and
	// must be able to reach the directory.
	clusterDir, err := os.MkdirTemp("", "stash-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(clusterDir) })
	c := startCluster(t, clusterDir, port)
	run.ready(t)
	waitStatus(t, run.client, 60*time.Second, "blocks 0-11 published", func(s *stashv1.StatusResponse) bool { return s.GetLastPublished() == 11 })
	logged(t, logs, "dependency recovered", "database")

	// Later: the database goes away under a stash that has caught up.
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	down := len(logs.FilterMessage("dependency down").All())
	run.notReady(t, "database: ")
	run.dependency(t, "database", false)
	await.True(t, 15*time.Second, "a second warning", func() bool { return len(logs.FilterMessage("dependency down").All()) > down })
	writeDir(t, filepath.Join(dir, "binlog"), encodeFile(t, recs))
	startCluster(t, clusterDir, port)
	run.ready(t)
	waitStatus(t, run.client, 60*time.Second, "every block published", func(s *stashv1.StatusResponse) bool { return s.GetLastPublished() == 21 })
	if n := len(logs.FilterMessage("dependency recovered").FilterField(zap.String("dependency", "database")).All()); n != 2 {
		t.Errorf("%d recoveries of the database logged, want 2", n)
	}
	h.publishedOnce(t, "bcos.chain0.group1.blocks.v1", 0, 21)
	run.noFailures(t)
}

// adminReadyz serves the service's readiness on an admin HTTP server as the host does and
// returns a function that GETs /readyz.
func adminReadyz(t *testing.T, r *running) func() (int, string) {
	t.Helper()
	srv := app.NewServer(app.ServerConfig{AdminAddr: "127.0.0.1:0", ShutdownTimeout: time.Second}, zap.NewNop())
	srv.AddCheck("stash", r.svc.Ready)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return func() (int, string) {
		resp, err := http.Get("http://" + srv.AdminAddr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
}

// TestMissingSource starts a stash on a file:// source whose directory does not exist yet.
func TestMissingSource(t *testing.T) {
	t.Parallel()
	_, recs := readFixture(t)
	dir := filepath.Join(t.TempDir(), "BinaryLogs")
	src := "file://" + dir
	h := newHarness(t)
	run, logs := h.startLogged(h.config(src))

	err := run.notReady(t, "source "+src+": ", "no such file or directory")
	t.Logf("readiness with the source missing: %v", err)
	// What an operator sees: /readyz of the host's admin server.
	readyz := adminReadyz(t, run)
	await.For(t, 10*time.Second, "/readyz 503 naming the missing source", func() error {
		if code, body := readyz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "stash: source "+src+": ") ||
			!strings.Contains(body, "no such file or directory") {
			return fmt.Errorf("/readyz with the source missing = %d %q", code, body)
		}
		return nil
	})
	run.dependency(t, "source "+src, false)
	st := waitStatus(t, run.client, 15*time.Second, "the source not ready", func(s *stashv1.StatusResponse) bool {
		return len(s.GetSources()) == 1 && !s.GetSources()[0].GetReady() && s.GetSources()[0].GetLastError() != ""
	})
	if e := st.GetSources()[0].GetLastError(); !strings.Contains(e, "no such file or directory") {
		t.Errorf("source last_error %q: want the cause", e)
	}
	logged(t, logs, "dependency down", "source "+src)

	writeDir(t, dir, encodeFile(t, recs))
	run.ready(t)
	// /readyz shows the host's last probe (one a second), so it follows within a probe.
	await.For(t, 10*time.Second, "/readyz 200 once the source appeared", func() error {
		if code, body := readyz(); code != http.StatusOK {
			return fmt.Errorf("/readyz = %d %q", code, body)
		}
		return nil
	})
	st = waitStatus(t, run.client, 60*time.Second, "every block published", func(s *stashv1.StatusResponse) bool { return s.GetLastPublished() == 21 })
	if s := st.GetSources()[0]; !s.GetReady() || s.GetLastError() != "" {
		t.Errorf("source after it appeared: %v; want ready, no error", s)
	}
	logged(t, logs, "dependency recovered", "source "+src)
	h.publishedOnce(t, "bcos.chain0.group1.blocks.v1", 0, 21)
	run.noFailures(t)
}

// TestRestartCaughtUp restarts a stash that has caught up: Status must show the source's real
// head and its last verified block before any new block comes.
func TestRestartCaughtUp(t *testing.T) {
	t.Parallel()
	dir, _ := readFixture(t)
	h := newHarness(t)
	cfg := h.config("file://" + dir)
	first := h.start(cfg)
	waitStatus(t, first.client, 60*time.Second, "22 blocks published", func(s *stashv1.StatusResponse) bool { return s.GetLastPublished() == 21 })
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	second := h.start(cfg)
	st := waitStatus(t, second.client, 30*time.Second, "the source's head and last verified block", func(s *stashv1.StatusResponse) bool {
		src := s.GetSources()
		return len(src) == 1 && src[0].GetHeadSeen() == 21 && src[0].GetLastVerified() == 21
	})
	if src := st.GetSources()[0]; src.GetLag() != 0 || src.GetLastPublished() != 21 {
		t.Errorf("source after restart %v: want lag 0, last published 21", src)
	}
	second.ready(t)
}

// TestFailureCountedOnce keeps a stash retrying a block with a bad CRC: the failure counter
// counts it once, however often the block is retried, and again only for a new failure.
func TestFailureCountedOnce(t *testing.T) {
	t.Parallel()
	_, recs := readFixture(t)
	good := encodeFile(t, recs)
	data := append([]byte(nil), good...)
	const bad = 9
	data[recs[bad].Offset+30] ^= 0xff
	dir := t.TempDir()
	h := newHarness(t)
	run := h.start(h.config(writeDir(t, dir, data)))
	st := waitStatus(t, run.client, 60*time.Second, "a crc failure at block 9", func(s *stashv1.StatusResponse) bool {
		return s.GetFailure().GetCheck() == "crc" && s.GetFailure().GetBlockNumber() == bad
	})
	// Several retries (backoff 50-500 ms).
	waitStatus(t, run.client, 15*time.Second, "retries of the failed block", func(s *stashv1.StatusResponse) bool {
		return s.GetFailure().GetTime().AsTime().Sub(st.GetFailure().GetTime().AsTime()) > 2*time.Second
	})
	if f := run.failures(t); f["crc"] != 1 {
		t.Errorf("failures %v after retries of one bad block, want crc 1", f)
	}
	if e := run.svc.Ready(t.Context()); e != nil {
		t.Errorf("a verification failure made the stash unready: %v", e)
	}
	writeDir(t, dir, good)
	st = waitStatus(t, run.client, 60*time.Second, "the stream to resume", func(s *stashv1.StatusResponse) bool { return s.GetLastPublished() == 21 })
	if e := st.GetSources()[0].GetLastError(); e != "" {
		t.Errorf("source last_error %q after the fault was fixed", e)
	}
	if f := run.failures(t); f["crc"] != 1 {
		t.Errorf("failures %v, want crc 1", f)
	}
}
