package pgoffset_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
	"github.com/bcosdata/bcosdata/libs/kafka/pgoffset"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	pgtest.Main(m)
}

var _ kafka.OffsetStore = (*pgoffset.Store)(nil)

// waitTimeout bounds every wait on the broker, the database or a consumer; generous for -race
// on 2 cores.
const waitTimeout = 60 * time.Second

// schema is the service schema the tests create their tables in.
const schema = "consume"

// setupSchema creates the schema, the offsets table and the applied table, whose primary key
// makes applying a message twice an error.
func setupSchema(ctx context.Context, pool *pgxpool.Pool) (*pgoffset.Store, error) {
	if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		return nil, fmt.Errorf("create schema: %w", err)
	}
	store, err := pgoffset.New(pool, schema)
	if err != nil {
		return nil, err
	}
	if err := store.EnsureTable(ctx); err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+schema+`.applied (
		topic text NOT NULL, partition integer NOT NULL, "offset" bigint NOT NULL, value bytea NOT NULL,
		PRIMARY KEY (topic, partition, "offset"))`); err != nil {
		return nil, fmt.Errorf("create table applied: %w", err)
	}
	return store, nil
}

// inserter is a handler that is not idempotent: a plain INSERT per message, in one transaction
// with the recorded offsets. A message applied twice violates the primary key, which fault
// leaves unclassified: the consumer would retry it forever and the test would time out.
func inserter(pool *pgxpool.Pool, store *pgoffset.Store, group string, afterCommit func([]kafkago.Message)) kafka.Handler {
	return kafka.HandlerFunc(func(ctx context.Context, msgs []kafkago.Message) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			batch := &pgx.Batch{}
			for _, m := range msgs {
				batch.Queue(`INSERT INTO `+schema+`.applied (topic, partition, "offset", value) VALUES ($1, $2, $3, $4)`,
					m.Topic, m.Partition, m.Offset, m.Value)
			}
			if err := tx.SendBatch(ctx, batch).Close(); err != nil {
				return fmt.Errorf("insert %d messages from offset %d: %w", len(msgs), msgs[0].Offset, err)
			}
			return store.Record(ctx, tx, group, msgs)
		})
		if err == nil && afterCommit != nil {
			afterCommit(msgs)
		}
		return err
	})
}

// countApplied returns the number of applied rows, or an error while the database is away.
func countApplied(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var n int
	err := pool.QueryRow(ctx, "SELECT count(*) FROM "+schema+".applied").Scan(&n)
	return n, err
}

// consumerConfig returns a consumer configuration tuned for kfake: quick joins and rebalances,
// retries capped at half a second.
func consumerConfig(brokers []string, group, topic string, store kafka.OffsetStore) kafka.ConsumerConfig {
	return kafka.ConsumerConfig{
		Brokers:           brokers,
		GroupID:           group,
		Topics:            []string{topic},
		MaxBatchMessages:  5,
		BatchLinger:       5 * time.Millisecond,
		MaxAttempts:       3,
		InitialBackoff:    10 * time.Millisecond,
		MaxBackoff:        500 * time.Millisecond,
		MaxWait:           100 * time.Millisecond,
		HeartbeatInterval: kafkatest.HeartbeatInterval,
		SessionTimeout:    kafkatest.SessionTimeout,
		RebalanceTimeout:  kafkatest.RebalanceTimeout,
		JoinGroupBackoff:  kafkatest.JoinGroupBackoff,
		Offsets:           store,
	}
}

// messages returns n messages with values named from first on, and block-number headers.
func messages(first, n int) []kafkago.Message {
	msgs := make([]kafkago.Message, n)
	for i := range msgs {
		b := uint64(first + i)
		msgs[i] = kafkago.Message{Key: kafka.BlockKey(b), Value: []byte("m" + strconv.Itoa(first+i)),
			Headers: kafka.Headers(kafka.ContentTypeProtobuf, "test", b)}
	}
	return msgs
}

// produce writes msgs to topic, failing the test on error.
func produce(t *testing.T, brokers []string, topic string, msgs ...kafkago.Message) {
	t.Helper()
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: brokers, Topic: topic, BatchTimeout: time.Millisecond})
	defer w.Close()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce %d messages to %s: %v", len(msgs), topic, err)
	}
}

// running is a consumer running in the background until the test ends.
type running struct {
	c    *kafka.Consumer
	done chan error
}

func startConsumer(t *testing.T, cfg kafka.ConsumerConfig, h kafka.Handler) *running {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	}
	c, err := kafka.NewConsumer(cfg, h)
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("consumer did not stop within %v", waitTimeout)
		}
	})
	return r
}

// stillRunning fails the test if Run returned.
func (r *running) stillRunning(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.done:
		t.Fatalf("Run returned %v, want it to keep running", err)
	default:
	}
}

// contains reports whether err's text contains every part.
func contains(err error, parts ...string) bool {
	if err == nil {
		return false
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			return false
		}
	}
	return true
}
