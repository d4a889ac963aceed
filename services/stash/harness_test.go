package stash_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	chainv1 "github.com/bcosdata/bcosdata/proto/bcosdata/chain/v1"
	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
	"github.com/bcosdata/bcosdata/services/stash"
)

func TestMain(m *testing.M) {
	children.Run()
	pgtest.Main(m)
}

// harness runs stash services against a test database and an in-process broker.
type harness struct {
	t    *testing.T
	dsn  string
	pool *pgxpool.Pool
	// addrs are the broker's addresses: the in-process broker's, or those of one the test
	// stops and starts itself.
	addrs []string
}

func newHarness(t *testing.T, opts ...kafkatest.Option) *harness {
	t.Helper()
	return newHarnessOn(t, kafkatest.NewBroker(t, opts...).Addrs())
}

// newHarnessOn is a harness with a test database and the broker at addrs.
func newHarnessOn(t *testing.T, addrs []string) *harness {
	t.Helper()
	h := &harness{t: t, dsn: pgtest.NewDB(t), addrs: addrs}
	pool, err := pgxpool.New(t.Context(), h.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	h.pool = pool
	return h
}

// config returns a service configuration for the harness with short timings.
func (h *harness) config(sources ...string) stash.Config {
	cfg := stash.DefaultConfig()
	cfg.Sources = sources
	cfg.Chain, cfg.Group, cfg.Crypto = "chain0", 1, "ecdsa"
	cfg.Kafka = kafka.Flags{Brokers: h.addrs, MaxMessageBytes: kafka.MaxBlockMessageBytes}
	cfg.DB = postgres.Flags{URL: h.dsn}
	cfg.Partitions = 1
	cfg.SourceWait = 5 * time.Second
	cfg.Poll = 20 * time.Millisecond
	cfg.TruncatedGrace = 300 * time.Millisecond
	cfg.CacheDir = h.t.TempDir()
	cfg.RetryMin, cfg.RetryMax = 50*time.Millisecond, 500*time.Millisecond
	cfg.Workers = 0
	return cfg
}

// running is a service running in the test process with its gRPC API on loopback.
type running struct {
	reg    *prometheus.Registry
	svc    *stash.Service
	client stashv1.StashServiceClient
	stop   func() error
}

func (h *harness) start(cfg stash.Config) *running {
	h.t.Helper()
	return h.startWith(cfg, zaptest.NewLogger(h.t, zaptest.Level(zap.WarnLevel)))
}

// startLogged starts the service with its Info log kept for assertions (and Warn and above
// shown in the test's log).
func (h *harness) startLogged(cfg stash.Config) (*running, *observer.ObservedLogs) {
	h.t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	log := zaptest.NewLogger(h.t, zaptest.Level(zap.WarnLevel), zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewTee(c, core)
	})))
	return h.startWith(cfg, log), logs
}

func (h *harness) startWith(cfg stash.Config, log *zap.Logger) *running {
	h.t.Helper()
	reg := prometheus.NewRegistry()
	svc, err := stash.New(cfg, app.Deps{Log: log, Metrics: reg})
	if err != nil {
		h.t.Fatalf("stash.New: %v", err)
	}
	client := serve(h.t, svc)
	ctx, cancel := context.WithCancel(h.t.Context())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	stopped := false
	var runErr error
	stop := func() error {
		if stopped {
			return runErr
		}
		stopped = true
		cancel()
		select {
		case runErr = <-done:
		case <-time.After(30 * time.Second):
			h.t.Error("service did not stop within 30s")
		}
		return runErr
	}
	h.t.Cleanup(func() {
		if err := stop(); err != nil {
			h.t.Errorf("Run: %v", err)
		}
	})
	return &running{reg: reg, svc: svc, client: client, stop: stop}
}

// serve serves svc's gRPC API on loopback until the test ends and returns a client.
func serve(tb testing.TB, svc *stash.Service) stashv1.StashServiceClient {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	g := grpc.NewServer()
	svc.Register(g)
	go g.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		conn.Close()
		g.Stop()
	})
	return stashv1.NewStashServiceClient(conn)
}

// failures returns the verification failures counted so far, by check.
func (r *running) failures(t *testing.T) map[string]float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "bcosdata_stash_verification_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "check" {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// noFailures fails the test if any block failed verification.
func (r *running) noFailures(t *testing.T) {
	t.Helper()
	if f := r.failures(t); len(f) > 0 {
		t.Errorf("verification failures on a healthy chain: %v", f)
	}
}

// waitStatus waits until Status answers and cond holds, failing the test after timeout with
// the last status.
func waitStatus(t *testing.T, c stashv1.StashServiceClient, timeout time.Duration, what string, cond func(*stashv1.StatusResponse) bool) *stashv1.StatusResponse {
	t.Helper()
	return await.Value(t, timeout, what, func() (*stashv1.StatusResponse, error) {
		st, err := c.Status(t.Context(), &stashv1.StatusRequest{})
		if err != nil {
			return nil, err
		}
		if !cond(st) {
			return nil, fmt.Errorf("last status %v", st)
		}
		return st, nil
	})
}

// readTopic reads partition 0 of topic from the start until n messages arrived. It reads over
// a plain connection with generous deadlines: a consumer group's fetch timeouts are too short
// for multi-MiB messages under the race detector.
func (h *harness) readTopic(t *testing.T, topic string, n int) []kafkago.Message {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	conn, err := kafkago.DialLeader(t.Context(), "tcp", h.addrs[0], topic, 0)
	if err != nil {
		t.Fatalf("dial leader of %s: %v", topic, err)
	}
	defer conn.Close()
	var out []kafkago.Message
	for len(out) < n && time.Now().Before(deadline) {
		if _, err := conn.Seek(int64(len(out)), kafkago.SeekAbsolute); err != nil {
			t.Fatalf("seek %s to %d: %v", topic, len(out), err)
		}
		conn.SetReadDeadline(deadline)
		batch := conn.ReadBatchWith(kafkago.ReadBatchConfig{MinBytes: 1, MaxBytes: 256 << 20, MaxWait: 100 * time.Millisecond})
		for len(out) < n {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			out = append(out, m)
		}
		batch.Close()
	}
	if len(out) < n {
		t.Fatalf("read %s: %d of %d messages within 60s", topic, len(out), n)
	}
	return out
}

// drainTopic reads every message of partition 0 that is there now.
func (h *harness) drainTopic(t *testing.T, topic string) []kafkago.Message {
	t.Helper()
	conn, err := kafkago.DialLeader(t.Context(), "tcp", h.addrs[0], topic, 0)
	if err != nil {
		t.Fatalf("dial leader of %s: %v", topic, err)
	}
	last, err := conn.ReadLastOffset()
	conn.Close()
	if err != nil {
		t.Fatalf("read last offset of %s: %v", topic, err)
	}
	if last == 0 {
		return nil
	}
	return h.readTopic(t, topic, int(last))
}

func decodeBlock(t *testing.T, m kafkago.Message) *chainv1.Block {
	t.Helper()
	b := &chainv1.Block{}
	if err := proto.Unmarshal(m.Value, b); err != nil {
		t.Fatalf("decode block message at offset %d: %v", m.Offset, err)
	}
	return b
}

func decodeState(t *testing.T, m kafkago.Message) *chainv1.StateChange {
	t.Helper()
	s := &chainv1.StateChange{}
	if err := proto.Unmarshal(m.Value, s); err != nil {
		t.Fatalf("decode state message at offset %d: %v", m.Offset, err)
	}
	return s
}
