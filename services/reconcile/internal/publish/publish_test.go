package publish

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	"github.com/bcosdata/bcosdata/libs/retry"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// lostAck writes to the broker, then fails the first write as a process that died before it
// recorded the write would.
type lostAck struct {
	w    *kafkago.Writer
	mu   sync.Mutex
	lost bool
}

func (l *lostAck) WriteMessages(ctx context.Context, msgs ...kafkago.Message) error {
	if err := l.w.WriteMessages(ctx, msgs...); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.lost {
		l.lost = true
		return errors.New("stopped before the outbox row was removed")
	}
	return nil
}

// TestSentAgainIsTheSameMessage checks the at-least-once contract: a message whose write was
// not recorded is sent again, byte for byte, with the same key and idempotency key, and then
// leaves the outbox.
func TestSentAgainIsTheSameMessage(t *testing.T) {
	st, err := store.Open(t.Context(), pgtest.NewPool(t))
	if err != nil {
		t.Fatal(err)
	}
	const topic = "bcos.chain0.group1.reconcile.results.v1"
	b := kafkatest.NewBroker(t, kafkatest.WithTopics(1, topic))
	run, err := st.CreateRun(t.Context(), "transfers", "2025-12-05", "2025-12-05", "file:///x/t-20251205.csv", "spec")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := st.Pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Enqueue(t.Context(), tx, store.Message{RunID: run.ID, Key: []byte(run.Job), Value: []byte("summary"), ID: run.MessageID()}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: b.Addrs()})
	defer w.Close()
	p := New(Config{Store: st, Topic: topic, Writer: &lostAck{w: w}, Policy: retry.Policy{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	await.For(t, 30*time.Second, "outbox emptied", func() error {
		n, err := st.OutboxBacklog(t.Context())
		if err == nil && n != 0 {
			err = errors.New("not yet")
		}
		return err
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rd := kafkago.NewReader(kafkago.ReaderConfig{Brokers: b.Addrs(), Topic: topic, MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	var got []kafkago.Message
	for range 2 {
		m, err := rd.ReadMessage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if run.MessageID() != "transfers/2025-12-05/v1" {
		t.Errorf("message id %q", run.MessageID())
	}
	for _, m := range got {
		id, _ := kafka.HeaderValue(m.Headers, HeaderIdempotencyKey)
		schema, _ := kafka.HeaderValue(m.Headers, kafka.HeaderSchema)
		if string(m.Key) != "transfers" || string(m.Value) != "summary" || string(id) != run.MessageID() || string(schema) != "bcosdata.reconcile.v1.Run" {
			t.Errorf("message key %q value %q idempotency-key %q schema %q", m.Key, m.Value, id, schema)
		}
	}
	if !bytes.Equal(got[0].Value, got[1].Value) {
		t.Error("the copy differs")
	}
}
