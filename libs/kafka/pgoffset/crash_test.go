package pgoffset_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
)

// The crash child is this test binary run again with crashChildEnv set: TestMain then runs
// crashChild instead of the tests. It consumes with the inserting handler and exits with
// crashExitCode right after the transaction holding offset crashAfter committed, before the
// consumer commits the offsets to Kafka: the window a kill -9 can hit in production.
const (
	crashChildEnv   = "BCOSDATA_PGOFFSET_CRASH_CHILD"
	crashDSNEnv     = "BCOSDATA_PGOFFSET_CRASH_DSN"
	crashBrokersEnv = "BCOSDATA_PGOFFSET_CRASH_BROKERS"
	crashTopicEnv   = "BCOSDATA_PGOFFSET_CRASH_TOPIC"
	crashExitCode   = 3
	crashAfter      = 12
	crashTotal      = 30
)

func crashChild() int {
	ctx := context.Background()
	topic := os.Getenv(crashTopicEnv)
	group := topic + ".group"
	pool, err := pgxpool.New(ctx, os.Getenv(crashDSNEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	store, err := setupSchema(ctx, pool)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	h := inserter(pool, store, group, func(msgs []kafkago.Message) {
		if msgs[len(msgs)-1].Offset >= crashAfter {
			os.Exit(crashExitCode) // committed in PostgreSQL, not yet in Kafka
		}
	})
	cfg := consumerConfig(strings.Split(os.Getenv(crashBrokersEnv), ","), group, topic, store)
	c, err := kafka.NewConsumer(cfg, h)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	fmt.Fprintf(os.Stderr, "consumer ended without crashing: %v\n", c.Run(ctx))
	return 1
}

// TestCrashBetweenDatabaseCommitAndOffsetCommit kills a consumer right after its handler's
// transaction committed and before the Kafka commit, then starts another one: with the offsets
// recorded by pgoffset, no message is applied twice by a handler that would fail on a
// duplicate, and none is lost. When the group is idle at the restart, its Kafka offsets are
// first moved up to the recorded ones, so nothing is even delivered again; when the dead member
// is still in the group, the redelivered messages are skipped.
func TestCrashBetweenDatabaseCommitAndOffsetCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		waitIdle bool
	}{
		{name: "group idle", waitIdle: true},
		{name: "dead member still in group", waitIdle: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			b := kafkatest.NewBroker(t)
			topic := kafkatest.Topic(t, "crash")
			group := topic + ".group"
			b.CreateTopic(t, topic, 1, nil)
			produce(t, b.Addrs(), topic, messages(0, crashTotal)...)
			dsn := pgtest.NewDB(t)
			pool, err := pgxpool.New(ctx, dsn)
			if err != nil {
				t.Fatalf("open pool: %v", err)
			}
			t.Cleanup(pool.Close)
			store, err := setupSchema(ctx, pool)
			if err != nil {
				t.Fatal(err)
			}

			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashDSNEnv+"="+dsn,
				crashBrokersEnv+"="+strings.Join(b.Addrs(), ","), crashTopicEnv+"="+topic)
			out, err := cmd.CombinedOutput()
			if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != crashExitCode {
				t.Fatalf("crash child: %v, want exit code %d; output:\n%s", err, crashExitCode, out)
			}
			applied, err := countApplied(ctx, pool)
			if err != nil {
				t.Fatal(err)
			}
			next, _, err := store.Next(ctx, group, topic, 0)
			if err != nil {
				t.Fatal(err)
			}
			committed := int64(-1)
			if c, ok := b.Cluster().GroupInfo(group).Commits[topic][0]; ok {
				committed = c.Offset
			}
			if int64(applied) != next || applied <= crashAfter || committed >= next {
				t.Fatalf("after the crash: %d rows, recorded next offset %d, Kafka committed %d; want rows = recorded > %d > committed",
					applied, next, committed, crashAfter)
			}

			if tt.waitIdle {
				wctx, cancel := context.WithTimeout(ctx, waitTimeout)
				defer cancel()
				if _, err := b.Cluster().WaitGroupInfo(wctx, group, func(g *kfake.GroupInfo) bool {
					return g != nil && len(g.Members) == 0
				}); err != nil {
					t.Fatalf("wait for the dead member to leave group %s: %v", group, err)
				}
			}
			core, logs := observer.New(zap.InfoLevel)
			reg := prometheus.NewRegistry()
			cfg := consumerConfig(b.Addrs(), group, topic, store)
			cfg.Logger = zap.New(core)
			cfg.Registerer = reg
			r := startConsumer(t, cfg, inserter(pool, store, group, nil))
			await.True(t, waitTimeout, "every message applied", func() bool {
				n, err := countApplied(ctx, pool)
				return err == nil && n == crashTotal
			})
			await.For(t, waitTimeout, "readiness", r.c.Ready)
			if _, err := b.Cluster().WaitGroupInfo(ctx, group, func(g *kfake.GroupInfo) bool {
				return g != nil && g.Commits[topic][0].Offset == crashTotal
			}); err != nil {
				t.Fatalf("wait for the Kafka commit of the whole topic: %v", err)
			}

			skipped := metricSum(t, reg, "bcosdata_kafka_consumer_skipped_messages_total")
			seeded := logs.FilterMessage("group offset moved to the recorded one").Len()
			if tt.waitIdle {
				if seeded != 1 || skipped != 0 {
					t.Errorf("idle group: %d offsets moved, %v messages skipped; want 1 moved and none redelivered", seeded, skipped)
				}
			} else if seeded != 0 || skipped != float64(next-max(committed, 0)) {
				t.Errorf("group with a member: %d offsets moved, %v messages skipped; want none moved and the %d applied but uncommitted skipped",
					seeded, skipped, next-committed)
			}
		})
	}
}

// metricSum returns the sum of the counters or gauges of the metric family name in reg.
func metricSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// TestConsumerStartsNewGroupAtRecordedOffsets starts a group Kafka has never seen (its offsets
// expired, or the group was renamed) over a database that recorded progress: the group starts
// at the recorded offset instead of the beginning of the topic.
func TestConsumerStartsNewGroupAtRecordedOffsets(t *testing.T) {
	t.Parallel()
	const total, recorded = 10, 7
	ctx := t.Context()
	b := kafkatest.NewBroker(t)
	topic := kafkatest.Topic(t, "newgroup")
	group := topic + ".group"
	b.CreateTopic(t, topic, 1, nil)
	produce(t, b.Addrs(), topic, messages(0, total)...)
	pool := pgtest.NewPool(t)
	store, err := setupSchema(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return store.Record(ctx, tx, group, []kafkago.Message{{Topic: topic, Partition: 0, Offset: recorded - 1}})
	}); err != nil {
		t.Fatal(err)
	}

	core, logs := observer.New(zap.InfoLevel)
	cfg := consumerConfig(b.Addrs(), group, topic, store)
	cfg.Logger = zap.New(core)
	var mu sync.Mutex
	var first []int64
	startConsumer(t, cfg, kafka.HandlerFunc(func(ctx context.Context, msgs []kafkago.Message) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			first = append(first, m.Offset)
		}
		return nil
	}))
	await.True(t, waitTimeout, "the rest of the topic", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(first) >= total-recorded
	})
	mu.Lock()
	defer mu.Unlock()
	if first[0] != recorded {
		t.Errorf("new group started at offset %d, want the recorded %d (handled %v)", first[0], recorded, first)
	}
	if n := logs.FilterMessage("group offset moved to the recorded one").Len(); n != 1 {
		t.Errorf("logged %d moved offsets, want 1", n)
	}
}
