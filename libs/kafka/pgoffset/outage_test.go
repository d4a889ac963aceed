package pgoffset_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
	"github.com/bcosdata/bcosdata/libs/postgres/pglocal"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
)

// outage is how long the outage tests keep the database or the broker away: long enough for
// the consumer's backoff to reach its cap and for kafka-go's group session to expire. The two
// tests run in parallel, so the package pays it once.
const outage = 30 * time.Second

// stream produces one message every interval to topic until stop, counting them from first.
type stream struct {
	w    *kafkago.Writer
	next int
}

func newStream(t *testing.T, brokers []string, topic string, first int) *stream {
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: brokers, Topic: topic, BatchTimeout: time.Millisecond})
	t.Cleanup(func() { w.Close() })
	return &stream{w: w, next: first}
}

// send produces n messages, failing the test on error.
func (s *stream) send(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := s.w.WriteMessages(ctx, messages(s.next, n)...); err != nil {
		t.Fatalf("produce messages %d..%d: %v", s.next, s.next+n-1, err)
	}
	s.next += n
}

// during calls each every 250 ms until d has passed since start.
func during(start time.Time, d time.Duration, each func()) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		if time.Since(start) >= d {
			return
		}
		each()
	}
}

// awaitApplied waits until the applied table holds exactly want rows.
func awaitApplied(t *testing.T, pool *pgxpool.Pool, want int) {
	t.Helper()
	await.For(t, waitTimeout, strconv.Itoa(want)+" rows applied", func() error {
		n, err := countApplied(t.Context(), pool)
		if err != nil {
			return err
		}
		if n != want {
			return errors.New(strconv.Itoa(n) + " rows")
		}
		return nil
	})
}

// TestConsumerSurvivesDatabaseOutage stops the consumer's PostgreSQL for 30 s while messages
// keep coming: the consumer keeps running and reports not ready with the cause while the
// database is away, dead-letters nothing although DeadLetter is on, is ready again after, and
// has applied every message exactly once through a handler that fails on a duplicate.
func TestConsumerSurvivesDatabaseOutage(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	// A cluster of this test's own, persistent so it can be stopped and started again on the
	// same port. Its directory must be reachable by the postgres OS user when running as root.
	dir, err := os.MkdirTemp("", "bcosdata-pgoffset-outage-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := pglocal.Options{Dir: dir + "/pg", Fast: true, Logf: t.Logf}
	pg, err := pglocal.Start(ctx, opts)
	if errors.Is(err, pglocal.ErrNoBinaries) && os.Getenv("CI") != "true" {
		t.Skipf("%v: install PostgreSQL to run this test", err)
	}
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(func() { pg.Stop() })
	if err := pg.CreateDatabase(ctx, "outage"); err != nil {
		t.Fatal(err)
	}
	poolCfg, err := pgxpool.ParseConfig(pg.URL("outage") + "&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := setupSchema(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}

	b := kafkatest.NewBroker(t)
	topic := kafkatest.Topic(t, "pgdown")
	group := topic + ".group"
	b.CreateTopic(t, topic, 2, nil)
	reg := prometheus.NewRegistry()
	cfg := consumerConfig(b.Addrs(), group, topic, store)
	cfg.DeadLetter = true
	cfg.Registerer = reg
	r := startConsumer(t, cfg, inserter(pool, store, group, nil))
	s := newStream(t, b.Addrs(), topic, 0)
	s.send(t, 40)
	awaitApplied(t, pool, s.next)

	if err := pg.Stop(); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	down := time.Now()
	s.send(t, 1)
	await.True(t, waitTimeout, "Ready() to name the failing apply", func() bool { return contains(r.c.Ready(), "apply topic "+topic) })
	var readyDuring int
	during(down, outage, func() {
		s.send(t, 1)
		if r.c.Ready() == nil {
			readyDuring++
		}
	})
	if readyDuring > 0 {
		t.Errorf("Ready() was nil %d times while PostgreSQL was stopped", readyDuring)
	}
	r.stillRunning(t)

	opts.Port = pg.Port()
	if pg, err = pglocal.Start(ctx, opts); err != nil {
		t.Fatalf("start PostgreSQL again on port %d: %v", opts.Port, err)
	}
	s.send(t, 40)
	awaitApplied(t, pool, s.next)
	await.For(t, waitTimeout, "readiness after the outage", r.c.Ready)
	if got := metricSum(t, reg, "bcosdata_kafka_consumer_dead_lettered_messages_total"); got != 0 {
		t.Errorf("dead-lettered %v messages, want none", got)
	}
	if got := metricSum(t, reg, "bcosdata_kafka_consumer_ready"); got != 1 {
		t.Errorf("ready gauge = %v, want 1", got)
	}
	if h := r.c.Halts(); len(h) > 0 {
		t.Errorf("Halts() = %+v, want none", h)
	}
	r.stillRunning(t)
}

// TestConsumerSurvivesBrokerOutage takes the broker away for 30 s and brings it back on the
// same port with its data: the consumer keeps running, reports not ready with the cause while
// the broker is away, recovers by itself, and has applied every message exactly once through a
// handler that fails on a duplicate.
func TestConsumerSurvivesBrokerOutage(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.NewPool(t)
	store, err := setupSchema(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	b := kafkatest.NewBroker(t, kafkatest.WithDataDir(t.TempDir()))
	topic := kafkatest.Topic(t, "brokerdown")
	group := topic + ".group"
	b.CreateTopic(t, topic, 2, nil)
	reg := prometheus.NewRegistry()
	cfg := consumerConfig(b.Addrs(), group, topic, store)
	cfg.DeadLetter = true
	cfg.Registerer = reg
	r := startConsumer(t, cfg, inserter(pool, store, group, nil))
	s := newStream(t, b.Addrs(), topic, 0)
	s.send(t, 40)
	awaitApplied(t, pool, s.next)

	b.Stop()
	down := time.Now()
	await.True(t, waitTimeout, "Ready() to name the failing fetch", func() bool { return contains(r.c.Ready(), "fetch from brokers") })
	var readyDuring int
	during(down, outage, func() {
		if r.c.Ready() == nil {
			readyDuring++
		}
	})
	if readyDuring > 0 {
		t.Errorf("Ready() was nil %d times while the broker was away", readyDuring)
	}
	r.stillRunning(t)

	b.Start(t)
	s.send(t, 40)
	awaitApplied(t, pool, s.next)
	await.For(t, waitTimeout, "readiness after the outage", r.c.Ready)
	if got := metricSum(t, reg, "bcosdata_kafka_consumer_dead_lettered_messages_total"); got != 0 {
		t.Errorf("dead-lettered %v messages, want none", got)
	}
	r.stillRunning(t)
}
