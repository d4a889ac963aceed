package deploy

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	libawait "github.com/bcosdata/bcosdata/libs/await"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	"github.com/bcosdata/bcosdata/services/export"
	"github.com/bcosdata/bcosdata/services/reconcile"
	"github.com/bcosdata/bcosdata/services/stash"
)

// facts are what the running services really have: the metric names they register and the
// topics they create, with their partition counts.
type facts struct {
	metrics map[string]bool
	topics  map[string]int
}

var (
	factsOnce sync.Once
	factsVal  facts
	factsErr  error
)

// runtimeFacts starts stash, export and reconcile once, against a throwaway PostgreSQL and an
// in-process broker, until each has created its topics and registered every metric (stash's
// per-source gauges and the Kafka consumer's exist only once their pipelines run).
func runtimeFacts(t *testing.T) facts {
	t.Helper()
	factsOnce.Do(func() { factsVal, factsErr = collectFacts(t) })
	if factsErr != nil {
		t.Fatalf("run the services for their metrics and topics: %v", factsErr)
	}
	return factsVal
}

// recorder is a Registerer that remembers the name of everything registered through it.
type recorder struct {
	*prometheus.Registry
	mu    sync.Mutex
	names map[string]bool
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.mu.Lock()
			r.names[m[1]] = true
			r.mu.Unlock()
		}
	}
	return r.Registry.Register(c)
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *recorder) has(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.names[name]
}

type runner interface{ Run(context.Context) error }

func collectFacts(t *testing.T) (facts, error) {
	broker := kafkatest.NewBroker(t)
	brokers := strings.Join(broker.Addrs(), ",")
	rec := &recorder{Registry: prometheus.NewRegistry(), names: map[string]bool{}}
	deps := app.Deps{Log: zap.NewNop(), Metrics: rec}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	runErr := make(chan error, 3)
	start := func(r runner) {
		wg.Go(func() {
			if err := r.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				runErr <- err
			}
		})
	}

	var sc stash.Config
	if err := parse(sc.RegisterFlags, "-source", "file://"+t.TempDir(), "-kafka.brokers", brokers, "-db.url", pgtest.NewDB(t),
		"-partitions", "3", "-retry.min", "100ms", "-retry.max", "500ms"); err != nil {
		return facts{}, err
	}
	st, err := stash.New(sc, deps)
	if err != nil {
		return facts{}, fmt.Errorf("stash: %w", err)
	}
	start(st)
	if err := await(ctx, runErr, broker.Addrs()[0], []string{"bcosdata_stash_source_lag_blocks"},
		"bcos.chain0.group1.blocks.v1", "bcos.chain0.group1.state.v1")(rec); err != nil {
		return facts{}, fmt.Errorf("stash: %w", err)
	}

	var ec export.Config
	if err := parse(ec.RegisterFlags, "-contracts", filepath.Join("contracts", "samples.yaml"), "-kafka.brokers", brokers,
		"-partitions", "3", "-retry.min", "100ms", "-retry.max", "500ms"); err != nil {
		return facts{}, err
	}
	exDeps := deps
	exDeps.Pool = pgtest.NewPool(t) // export takes its pool from the host
	ex, err := export.New(ec, exDeps)
	if err != nil {
		return facts{}, fmt.Errorf("export: %w", err)
	}
	start(ex)
	if err := await(ctx, runErr, broker.Addrs()[0], []string{"bcosdata_kafka_consumer_ready", "bcosdata_export_lag_blocks"},
		"bcos.chain0.group1.events.v1", "bcos.chain0.group1.calls.v1")(rec); err != nil {
		return facts{}, fmt.Errorf("export: %w", err)
	}

	var rc reconcile.Config
	if err := parse(rc.RegisterFlags, "-kafka.brokers", brokers, "-partitions", "3", "-retry.min", "100ms", "-retry.max", "500ms"); err != nil {
		return facts{}, err
	}
	rcDeps := deps
	rcDeps.Pool = pgtest.NewPool(t) // reconcile takes its pool from the host
	rs, err := reconcile.New(rc, rcDeps)
	if err != nil {
		return facts{}, fmt.Errorf("reconcile: %w", err)
	}
	start(rs)
	if err := await(ctx, runErr, broker.Addrs()[0], []string{"bcosdata_reconcile_runs_total", "bcosdata_reconcile_outbox_backlog"},
		"bcos.chain0.group1.reconcile.results.v1")(rec); err != nil {
		return facts{}, fmt.Errorf("reconcile: %w", err)
	}

	// The process-wide collectors every service's admin server adds.
	srv := app.NewServer(app.ServerConfig{}, nil)
	mfs, err := srv.Registry().Gather()
	if err != nil {
		return facts{}, err
	}
	f := facts{metrics: map[string]bool{}, topics: map[string]int{}}
	for _, mf := range mfs {
		f.metrics[mf.GetName()] = true
	}
	rec.mu.Lock()
	for n := range rec.names {
		f.metrics[n] = true
	}
	rec.mu.Unlock()
	f.topics, err = listTopics(ctx, broker.Addrs()[0])
	return f, err
}

func parse(register func(*flag.FlagSet), args ...string) error {
	fs := flag.NewFlagSet("facts", flag.ContinueOnError)
	register(fs)
	return fs.Parse(args)
}

// await returns a wait for the metrics to be registered and the topics to exist; it stops
// early when the service's Run ends.
func await(ctx context.Context, runErr <-chan error, addr string, metrics []string, topics ...string) func(*recorder) error {
	return func(rec *recorder) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var (
			ended  bool
			endErr error
		)
		err := libawait.Until(ctx, 60*time.Second, func() error {
			select {
			case endErr = <-runErr:
				ended = true
				cancel()
				return endErr
			default:
			}
			for _, m := range metrics {
				if !rec.has(m) {
					return fmt.Errorf("no metric %s", m)
				}
			}
			have, err := listTopics(ctx, addr)
			if err != nil {
				return err
			}
			for _, tp := range topics {
				if have[tp] == 0 {
					return fmt.Errorf("no topic %s", tp)
				}
			}
			return nil
		})
		if ended {
			return fmt.Errorf("the service stopped before it was ready: %w", endErr)
		}
		return err
	}
}

func listTopics(ctx context.Context, addr string) (map[string]int, error) {
	conn, err := kafkago.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions()
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, p := range parts {
		out[p.Topic]++
	}
	return out, nil
}
