package kafka_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/goleak"

	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait on the broker or a consumer; generous for -race on 2 cores.
const waitTimeout = 30 * time.Second

// fastConsumerConfig returns a consumer configuration tuned so that joins, rebalances and
// retries take milliseconds instead of kafka-go's multi-second defaults.
func fastConsumerConfig(b *kafkatest.Broker, group string, topics ...string) kafka.ConsumerConfig {
	return kafka.ConsumerConfig{
		Brokers:           b.Addrs(),
		GroupID:           group,
		Topics:            topics,
		BatchLinger:       5 * time.Millisecond,
		MaxAttempts:       3,
		InitialBackoff:    time.Millisecond,
		MaxBackoff:        5 * time.Millisecond,
		MaxWait:           100 * time.Millisecond,
		HeartbeatInterval: kafkatest.HeartbeatInterval,
		SessionTimeout:    kafkatest.SessionTimeout,
		RebalanceTimeout:  kafkatest.RebalanceTimeout,
		JoinGroupBackoff:  kafkatest.JoinGroupBackoff,
	}
}

// produceTo writes msgs to one partition of topic and fails the test on error.
func produceTo(t *testing.T, b *kafkatest.Broker, topic string, partition int, msgs ...kafkago.Message) {
	t.Helper()
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: b.Addrs(), Topic: topic})
	w.Balancer = kafkago.BalancerFunc(func(kafkago.Message, ...int) int { return partition })
	defer w.Close()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce %d messages to %s partition %d: %v", len(msgs), topic, partition, err)
	}
}

// produce writes msgs to topic with the package's writer and fails the test on error.
func produce(t *testing.T, b *kafkatest.Broker, topic string, msgs ...kafkago.Message) {
	t.Helper()
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: b.Addrs(), Topic: topic})
	defer w.Close()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce %d messages to %s: %v", len(msgs), topic, err)
	}
}

// values returns messages with values v0..v(n-1) and no key.
func values(n int) []kafkago.Message {
	msgs := make([]kafkago.Message, n)
	for i := range msgs {
		msgs[i] = kafkago.Message{Value: []byte("v" + strconv.Itoa(i))}
	}
	return msgs
}

// recorder is a Handler that records what it was given and what it applied. decide, if set,
// is called first and its error makes the call fail without applying.
type recorder struct {
	decide func(ctx context.Context, msgs []kafkago.Message) error

	mu      sync.Mutex
	applied []kafkago.Message
	calls   [][]int64
	changed chan struct{}
}

func newRecorder(decide func(ctx context.Context, msgs []kafkago.Message) error) *recorder {
	return &recorder{decide: decide, changed: make(chan struct{})}
}

func (r *recorder) Handle(ctx context.Context, msgs []kafkago.Message) error {
	var err error
	if r.decide != nil {
		err = r.decide(ctx, msgs)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	offsets := make([]int64, len(msgs))
	for i, m := range msgs {
		offsets[i] = m.Offset
	}
	r.calls = append(r.calls, offsets)
	if err == nil {
		r.applied = append(r.applied, msgs...)
	}
	close(r.changed)
	r.changed = make(chan struct{})
	return err
}

func (r *recorder) snapshot() (applied []kafkago.Message, calls [][]int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.applied), slices.Clone(r.calls)
}

// waitFor blocks until cond holds for the recorder's state, failing the test at the deadline.
func (r *recorder) waitFor(t *testing.T, what string, cond func(applied []kafkago.Message) bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok, changed := cond(r.applied), r.changed
		n := len(r.applied)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s (%d messages applied)", what, n)
		}
	}
}

func appliedOffsets(msgs []kafkago.Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Offset
	}
	return out
}

// run is a consumer running in the background.
type run struct {
	c      *kafka.Consumer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startConsumer runs a consumer until ctx is cancelled (or the test ends) and returns it.
func startConsumer(t *testing.T, ctx context.Context, cfg kafka.ConsumerConfig, h kafka.Handler) *run {
	t.Helper()
	c, err := kafka.NewConsumer(cfg, h)
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &run{c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// wait returns Run's result, failing the test if Run does not return in time.
func (r *run) wait(t *testing.T) error {
	t.Helper()
	r.once.Do(func() {
		select {
		case r.err = <-r.done:
		case <-time.After(waitTimeout):
			r.err = errors.New("consumer did not stop in time")
			t.Errorf("consumer did not stop within %v", waitTimeout)
		}
	})
	return r.err
}

// stop cancels the consumer and returns Run's result.
func (r *run) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

// committed waits until the group's committed offset of topic partition satisfies cond and
// returns it; -1 stands for no commit.
func committed(t *testing.T, b *kafkatest.Broker, group, topic string, partition int32, cond func(int64) bool) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	off := int64(-1)
	_, err := b.Cluster().WaitGroupInfo(ctx, group, func(g *kfake.GroupInfo) bool {
		off = -1
		if g != nil {
			if c, ok := g.Commits[topic][partition]; ok {
				off = c.Offset
			}
		}
		return cond(off)
	})
	if err != nil {
		t.Fatalf("wait for committed offset of group %s topic %s partition %d (last %d): %v", group, topic, partition, off, err)
	}
	return off
}
