package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
)

var errPoison = errors.New("cannot decode payload")

func TestNewConsumerRejectsIncompleteConfig(t *testing.T) {
	t.Parallel()
	ok := kafka.ConsumerConfig{Brokers: []string{"127.0.0.1:1"}, GroupID: "g", Topics: []string{"t"}}
	h := kafka.HandlerFunc(func(context.Context, []kafkago.Message) error { return nil })
	tests := []struct {
		name   string
		mutate func(*kafka.ConsumerConfig)
	}{
		{"no brokers", func(c *kafka.ConsumerConfig) { c.Brokers = nil }},
		{"no group", func(c *kafka.ConsumerConfig) { c.GroupID = "" }},
		{"no topics", func(c *kafka.ConsumerConfig) { c.Topics = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := ok
			tt.mutate(&cfg)
			if _, err := kafka.NewConsumer(cfg, h); !errors.Is(err, kafka.ErrConfig) {
				t.Errorf("NewConsumer: error %v, want ErrConfig", err)
			}
		})
	}
	if _, err := kafka.NewConsumer(ok, nil); !errors.Is(err, kafka.ErrConfig) {
		t.Errorf("NewConsumer without handler: error %v, want ErrConfig", err)
	}
	c, err := kafka.NewConsumer(ok, h)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Run(t.Context()); !errors.Is(err, kafka.ErrConsumerClosed) {
		t.Errorf("Run after Close: error %v, want ErrConsumerClosed", err)
	}
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	if kafka.Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	err := kafka.Permanent(errPoison)
	if !errors.Is(err, kafka.ErrPermanent) || !errors.Is(err, errPoison) || err.Error() != errPoison.Error() {
		t.Errorf("Permanent(%v) = %v: want ErrPermanent, the cause, and the cause's text", errPoison, err)
	}
}

// TestConsumerResumesAtFirstUnappliedMessage stops a consumer part-way through a topic and
// checks that a new member of the group starts exactly at the first message the first one did
// not apply: nothing lost, nothing applied twice.
func TestConsumerResumesAtFirstUnappliedMessage(t *testing.T) {
	t.Parallel()
	const total, stopAt = 20, 7
	tests := []struct {
		name string
		// finish says whether the batch holding offset stopAt is applied (a graceful stop
		// finishes the batch in flight) or fails (the process dies mid-transaction).
		finish bool
	}{
		{name: "batch in flight fails", finish: false},
		{name: "batch in flight finishes", finish: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := kafkatest.NewBroker(t)
			topic := kafkatest.Topic(t, "resume")
			group := topic + ".group"
			b.CreateTopic(t, topic, 1, nil)
			produce(t, b, topic, values(total)...)

			cfg := fastConsumerConfig(b, group, topic)
			cfg.MaxBatchMessages = 3

			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			first := newRecorder(func(ctx context.Context, msgs []kafkago.Message) error {
				if msgs[len(msgs)-1].Offset < stopAt {
					return nil
				}
				stop()
				if tt.finish {
					// Like a database call, fail if the stop reached the handler's context:
					// the batch in flight must be allowed to finish.
					return ctx.Err()
				}
				return errors.New("database went away")
			})
			if err := startConsumer(t, ctx, cfg, first).wait(t); err != nil {
				t.Fatalf("first consumer: Run: %v", err)
			}
			applied1, _ := first.snapshot()
			n := int64(len(applied1))
			if want := slices.Collect(seq(0, n)); !slices.Equal(appliedOffsets(applied1), want) {
				t.Fatalf("first consumer applied offsets %v, want a prefix %v", appliedOffsets(applied1), want)
			}
			if got := slices.Contains(appliedOffsets(applied1), stopAt); got != tt.finish {
				t.Fatalf("first consumer applied offset %d: %v, want %v", stopAt, got, tt.finish)
			}
			if got := committed(t, b, group, topic, 0, func(int64) bool { return true }); got != n {
				t.Fatalf("committed offset after stop = %d, want %d (the first unapplied message)", got, n)
			}

			second := newRecorder(nil)
			startConsumer(t, t.Context(), cfg, second)
			second.waitFor(t, "the rest of the topic", func(a []kafkago.Message) bool { return int64(len(a)) >= total-n })
			applied2, calls2 := second.snapshot()
			if calls2[0][0] != n {
				t.Errorf("second consumer started at offset %d, want %d", calls2[0][0], n)
			}
			if got, want := appliedOffsets(applied2), slices.Collect(seq(n, total)); !slices.Equal(got, want) {
				t.Errorf("second consumer applied %v, want %v", got, want)
			}
			committed(t, b, group, topic, 0, func(off int64) bool { return off == total })
		})
	}
}

// TestConsumerDeadLettersFailingMessage checks that a message the handler rejects as permanent
// goes to <topic>.dlq with its origin after one attempt of its own, whether the handler marked
// the error or fault classifies it (a PostgreSQL data exception), and that the messages after
// it are applied and committed.
func TestConsumerDeadLettersFailingMessage(t *testing.T) {
	t.Parallel()
	const total, poison, attempts = 10, 4, 3
	tests := []struct {
		name string
		err  error
	}{
		{name: "marked permanent", err: kafka.Permanent(errPoison)},
		{name: "data exception", err: fmt.Errorf("%w: %w", errPoison, &pgconn.PgError{Code: "22P02", Message: "invalid input syntax"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := kafkatest.NewBroker(t)
			topic := kafkatest.Topic(t, "dlq")
			group := topic + ".group"
			b.CreateTopic(t, topic, 1, nil)
			msgs := values(total)
			msgs[poison] = kafkago.Message{
				Key:     kafka.BlockKey(poison),
				Value:   []byte("poison"),
				Headers: kafka.Headers(kafka.ContentTypeProtobuf, "bcosdata.chain.v1.Block", poison),
			}
			produce(t, b, topic, msgs...)

			reg := prometheus.NewRegistry()
			cfg := fastConsumerConfig(b, group, topic)
			cfg.MaxAttempts = attempts
			cfg.DeadLetter = true
			cfg.Registerer = reg
			h := newRecorder(func(ctx context.Context, msgs []kafkago.Message) error {
				for _, m := range msgs {
					if string(m.Value) == "poison" {
						return tt.err
					}
				}
				return nil
			})
			startConsumer(t, t.Context(), cfg, h)
			committed(t, b, group, topic, 0, func(off int64) bool { return off == total })

			applied, calls := h.snapshot()
			want := slices.DeleteFunc(slices.Collect(seq(0, total)), func(o int64) bool { return o == poison })
			if got := appliedOffsets(applied); !slices.Equal(got, want) {
				t.Errorf("applied offsets %v, want %v", got, want)
			}
			var alone int
			for _, c := range calls {
				if len(c) == 1 && c[0] == poison {
					alone++
				}
			}
			if alone != 1 {
				t.Errorf("handler tried the failing message alone %d times, want 1 (calls %v)", alone, calls)
			}

			dlq := readTopic(t, b, kafka.DeadLetterTopic(topic), 1)[0]
			if !bytes.Equal(dlq.Key, msgs[poison].Key) || !bytes.Equal(dlq.Value, msgs[poison].Value) {
				t.Errorf("dead letter %q=%q, want the original %q=%q", dlq.Key, dlq.Value, msgs[poison].Key, msgs[poison].Value)
			}
			headers := make(map[string]string)
			for _, h := range dlq.Headers {
				headers[h.Key] = string(h.Value)
			}
			wantHeaders := map[string]string{
				kafka.HeaderContentType:        kafka.ContentTypeProtobuf,
				kafka.HeaderSchema:             "bcosdata.chain.v1.Block",
				kafka.HeaderBlockNumber:        strconv.Itoa(poison),
				kafka.HeaderDLQError:           tt.err.Error(),
				kafka.HeaderDLQOriginTopic:     topic,
				kafka.HeaderDLQOriginPartition: "0",
				kafka.HeaderDLQOriginOffset:    strconv.Itoa(poison),
				kafka.HeaderDLQAttempts:        "1",
			}
			if ts, err := time.Parse(time.RFC3339Nano, headers[kafka.HeaderDLQTime]); err != nil || time.Since(ts) > time.Hour {
				t.Errorf("header %s = %q: %v", kafka.HeaderDLQTime, headers[kafka.HeaderDLQTime], err)
			}
			delete(headers, kafka.HeaderDLQTime)
			if diff := cmp.Diff(wantHeaders, headers); diff != "" {
				t.Errorf("dead letter headers (-want +got):\n%s", diff)
			}

			wantMetrics := map[string]float64{
				"bcosdata_kafka_consumer_applied_messages_total":       total - 1,
				"bcosdata_kafka_consumer_dead_lettered_messages_total": 1,
			}
			for name, want := range wantMetrics {
				if got := counter(t, reg, name, topic); got != want {
					t.Errorf("metric %s{topic=%q} = %v, want %v", name, topic, got, want)
				}
			}
			if got := counter(t, reg, "bcosdata_kafka_consumer_retries_total", topic); got != 0 {
				t.Errorf("metric retries_total = %v, want 0: a permanent error is not retried", got)
			}
		})
	}
}

// TestConsumerHaltsPartitionAtRejectedMessage checks that a stream without a dead-letter topic
// never skips: the partition holding a rejected message halts at it (nothing at or after it is
// applied or committed, Halts and the gauge say where, with its block), while another partition
// goes on, Run keeps running and the consumer stays ready; a new consumer after the fix starts
// at the message.
func TestConsumerHaltsPartitionAtRejectedMessage(t *testing.T) {
	t.Parallel()
	const total, poison = 10, 4
	b := kafkatest.NewBroker(t)
	topic := kafkatest.Topic(t, "halt")
	group := topic + ".group"
	b.CreateTopic(t, topic, 2, nil)
	msgs := values(total)
	msgs[poison].Headers = kafka.Headers(kafka.ContentTypeProtobuf, "bcosdata.chain.v1.Block", 1000+poison)
	produceTo(t, b, topic, 0, msgs...)
	produceTo(t, b, topic, 1, values(3)...)

	reg := prometheus.NewRegistry()
	cfg := fastConsumerConfig(b, group, topic)
	cfg.Registerer = reg
	cfg.MaxBatchMessages = 3
	failing := newRecorder(func(ctx context.Context, msgs []kafkago.Message) error {
		for _, m := range msgs {
			if m.Partition == 0 && m.Offset == poison {
				return kafka.Permanent(errPoison)
			}
		}
		return nil
	})
	r := startConsumer(t, t.Context(), cfg, failing)
	var halts []kafka.Halt
	await.True(t, waitTimeout, "a halt", func() bool { halts = r.c.Halts(); return len(halts) > 0 })
	h := halts[0]
	if len(halts) != 1 || h.Topic != topic || h.Partition != 0 || h.Offset != poison || !h.HasBlock || h.Block != 1000+poison ||
		!errors.Is(h.Err, errPoison) || time.Since(h.Time) > time.Minute {
		t.Errorf("Halts() = %+v, want one at partition 0 offset %d block %d caused by %v", halts, poison, 1000+poison, errPoison)
	}
	if got := gauge(t, reg, "bcosdata_kafka_consumer_halted", map[string]string{"group": group, "topic": topic, "partition": "0"}); got != 1 {
		t.Errorf("halted gauge = %v, want 1", got)
	}
	committed(t, b, group, topic, 0, func(off int64) bool { return off == poison })

	// The other partition goes on, also with messages produced after the halt.
	produceTo(t, b, topic, 1, values(3)...)
	committed(t, b, group, topic, 1, func(off int64) bool { return off == 6 })
	failing.waitFor(t, "partition 1", func(a []kafkago.Message) bool {
		return len(slices.DeleteFunc(slices.Clone(a), func(m kafkago.Message) bool { return m.Partition != 1 })) == 6
	})
	if err := r.c.Ready(); err != nil {
		t.Errorf("Ready() while halted = %v, want nil", err)
	}
	select {
	case err := <-r.done:
		t.Fatalf("Run returned %v while a partition was halted, want it to keep running", err)
	default:
	}
	applied, _ := failing.snapshot()
	var on0 []int64
	for _, m := range applied {
		if m.Partition == 0 {
			on0 = append(on0, m.Offset)
		}
	}
	if want := slices.Collect(seq(0, poison)); !slices.Equal(on0, want) {
		t.Errorf("partition 0 applied %v, want %v", on0, want)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := committed(t, b, group, topic, 0, func(int64) bool { return true }); got != poison {
		t.Fatalf("committed offset after stop = %d, want %d (the rejected message, not past it)", got, poison)
	}

	healed := newRecorder(nil)
	startConsumer(t, t.Context(), cfg, healed)
	healed.waitFor(t, "the rest of partition 0", func(a []kafkago.Message) bool { return len(a) >= total-poison })
	applied, calls := healed.snapshot()
	if calls[0][0] != poison {
		t.Errorf("restarted consumer started at offset %d, want %d", calls[0][0], poison)
	}
	if got, want := appliedOffsets(applied), slices.Collect(seq(poison, total)); !slices.Equal(got, want) {
		t.Errorf("restarted consumer applied %v, want %v", got, want)
	}
}

// TestConsumerRetriesTransientErrorsWhileNotReady checks that an error that is not permanent
// is retried far beyond MaxAttempts, never dead-lettered, while Ready names the message and the
// gauge shows 0, with one warning when it starts and one line when it ends, and that everything
// is applied once after it passes.
func TestConsumerRetriesTransientErrorsWhileNotReady(t *testing.T) {
	t.Parallel()
	const total, failAt = 10, 4
	b := kafkatest.NewBroker(t)
	topic := kafkatest.Topic(t, "transient")
	group := topic + ".group"
	b.CreateTopic(t, topic, 1, nil)
	produce(t, b, topic, values(total)...)

	reg := prometheus.NewRegistry()
	core, logs := observer.New(zap.InfoLevel)
	cfg := fastConsumerConfig(b, group, topic)
	cfg.DeadLetter = true
	cfg.Registerer = reg
	cfg.Logger = zap.New(core)
	var outage atomic.Bool
	outage.Store(true)
	var failures atomic.Int64
	h := newRecorder(func(ctx context.Context, msgs []kafkago.Message) error {
		for _, m := range msgs {
			if m.Offset == failAt && outage.Load() {
				failures.Add(1)
				return errors.New("database unreachable")
			}
		}
		return nil
	})
	r := startConsumer(t, t.Context(), cfg, h)
	const many = 10 * 3 // ten times MaxAttempts
	await.True(t, waitTimeout, "many failed attempts", func() bool { return failures.Load() >= many })
	err := r.c.Ready()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("topic %s partition 0 offset %d", topic, failAt)) ||
		!strings.Contains(err.Error(), "database unreachable") {
		t.Errorf("Ready() during the outage = %v, want the topic, partition, offset and cause", err)
	}
	if got := gauge(t, reg, "bcosdata_kafka_consumer_ready", map[string]string{"group": group}); got != 0 {
		t.Errorf("ready gauge during the outage = %v, want 0", got)
	}
	outage.Store(false)
	h.waitFor(t, "the whole topic", func(a []kafkago.Message) bool { return len(a) >= total })
	committed(t, b, group, topic, 0, func(off int64) bool { return off == total })
	await.For(t, waitTimeout, "readiness", r.c.Ready)
	if got := gauge(t, reg, "bcosdata_kafka_consumer_ready", map[string]string{"group": group}); got != 1 {
		t.Errorf("ready gauge after the outage = %v, want 1", got)
	}

	applied, _ := h.snapshot()
	if got, want := appliedOffsets(applied), slices.Collect(seq(0, total)); !slices.Equal(got, want) {
		t.Errorf("applied offsets %v, want %v", got, want)
	}
	if got := counter(t, reg, "bcosdata_kafka_consumer_dead_lettered_messages_total", topic); got != 0 {
		t.Errorf("dead-lettered %v messages, want none", got)
	}
	if n := logs.FilterMessage("consumer failing, retrying").Len(); n != 1 {
		t.Errorf("logged the start of the outage %d times, want once", n)
	}
	if n := logs.FilterMessage("consumer still failing, retrying").Len(); n != 0 {
		t.Errorf("logged the outage again %d times within LogInterval, want none", n)
	}
	if n := logs.FilterMessage("consumer recovered").Len(); n != 1 {
		t.Errorf("logged the recovery %d times, want once", n)
	}
}

// TestConsumerGroupMembersSplitPartitions runs two members of one group on a 4-partition topic:
// each must own some partitions, together all, and in the steady state no message is applied
// by both.
func TestConsumerGroupMembersSplitPartitions(t *testing.T) {
	t.Parallel()
	const partitions, total = 4, 40
	b := kafkatest.NewBroker(t)
	topic := kafkatest.Topic(t, "split")
	group := topic + ".group"
	b.CreateTopic(t, topic, partitions, nil)

	cfg := fastConsumerConfig(b, group, topic)
	// Both members record into one recorder, to wait on the group as a whole, and each into its
	// own list, to see who applied what.
	all := newRecorder(nil)
	var mu sync.Mutex
	byMember := make([][]kafkago.Message, 2)
	for i := range byMember {
		startConsumer(t, t.Context(), cfg, kafka.HandlerFunc(func(ctx context.Context, msgs []kafkago.Message) error {
			// The member's own list first: waiting on all must imply the lists are complete.
			mu.Lock()
			byMember[i] = append(byMember[i], msgs...)
			mu.Unlock()
			return all.Handle(ctx, msgs)
		}))
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if _, err := b.Cluster().WaitGroupStable(ctx, group, len(byMember)); err != nil {
		t.Fatalf("wait for group %s to be stable with %d members: %v", group, len(byMember), err)
	}

	var msgs []kafkago.Message
	for i := range total {
		msgs = append(msgs, kafkago.Message{Key: kafka.BlockKey(uint64(i)), Value: []byte(strconv.Itoa(i))})
	}
	produce(t, b, topic, msgs...)
	for p, info := range b.Cluster().PartitionInfos(topic) {
		if info.HighWatermark == 0 {
			t.Fatalf("partition %d got no messages; the test needs keys on every partition", p)
		}
	}
	all.waitFor(t, "the whole topic", func(a []kafkago.Message) bool { return len(a) >= total })

	seen := make(map[string]int)
	owned := make([]map[int]bool, len(byMember))
	mu.Lock()
	for i, applied := range byMember {
		owned[i] = make(map[int]bool)
		for _, msg := range applied {
			seen[string(msg.Value)]++
			owned[i][msg.Partition] = true
		}
	}
	mu.Unlock()
	for i := range total {
		if n := seen[strconv.Itoa(i)]; n != 1 {
			t.Errorf("message %d applied %d times, want once", i, n)
		}
	}
	for p := range partitions {
		if owned[0][p] == owned[1][p] {
			t.Errorf("partition %d: member 0 owns %v, member 1 owns %v; want exactly one", p, owned[0][p], owned[1][p])
		}
	}
	if len(owned[0]) == 0 || len(owned[1]) == 0 {
		t.Errorf("partitions per member %v, %v: want both to have some", owned[0], owned[1])
	}
}

// TestConsumerAppliesMessageOverOneMiB produces a 3 MiB block with the writer to a topic created
// by EnsureTopics and checks the consumer hands it over whole, although each fetch asks for
// 1 MiB only (the broker returns a larger first batch whole).
func TestConsumerAppliesMessageOverOneMiB(t *testing.T) {
	t.Parallel()
	const size, limit = 3 << 20, 8 << 20
	b := kafkatest.NewBroker(t)
	topic := kafkatest.Topic(t, "big")
	group := topic + ".group"
	if err := kafka.EnsureTopics(t.Context(), b.Addrs(), kafka.TopicSpec{
		Name: topic, Partitions: 1, Configs: map[string]string{"max.message.bytes": strconv.Itoa(limit)},
	}); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	value := make([]byte, size)
	for i := range value {
		value[i] = byte(i * 7)
	}
	want := kafkago.Message{Key: kafka.BlockKey(42), Value: value, Headers: kafka.Headers(kafka.ContentTypeProtobuf, "bcosdata.chain.v1.Block", 42)}

	w := kafka.NewWriter(kafka.WriterConfig{Brokers: b.Addrs(), Topic: topic, MaxMessageBytes: limit})
	defer w.Close()
	if err := w.WriteMessages(t.Context(), want); err != nil {
		t.Fatalf("write %d bytes to %s: %v", size, topic, err)
	}

	cfg := fastConsumerConfig(b, group, topic)
	cfg.MaxMessageBytes = limit
	cfg.FetchMaxBytes = 1 << 20
	h := newRecorder(nil)
	startConsumer(t, t.Context(), cfg, h)
	h.waitFor(t, "the big message", func(a []kafkago.Message) bool { return len(a) == 1 })
	got, _ := h.snapshot()
	if !bytes.Equal(got[0].Value, want.Value) || !bytes.Equal(got[0].Key, want.Key) {
		t.Fatalf("consumed %d-byte value with key %x, want the %d-byte value with key %x", len(got[0].Value), got[0].Key, size, want.Key)
	}
	if diff := cmp.Diff(want.Headers, got[0].Headers); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

// seq yields from, from+1, ..., to-1.
func seq(from, to int64) func(func(int64) bool) {
	return func(yield func(int64) bool) {
		for i := from; i < to; i++ {
			if !yield(i) {
				return
			}
		}
	}
}

// readTopic reads the first n messages of partition 0 of topic without a group.
func readTopic(t *testing.T, b *kafkatest.Broker, topic string, n int) []kafkago.Message {
	t.Helper()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: b.Addrs(), Topic: topic, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	var out []kafkago.Message
	for range n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read message %d of %s: %v", len(out), topic, err)
		}
		out = append(out, m)
	}
	return out
}

// counter returns the value of the counter name with the given topic label in reg.
func counter(t *testing.T, reg *prometheus.Registry, name, topic string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "topic" && l.GetValue() == topic {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// gauge returns the value of the gauge name whose labels include want in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			labels := make(map[string]string)
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metrics
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// TestConsumerStartedBeforeItsTopicExists starts a consumer whose topic its producer has not
// created yet (export starting before stash's first run): it is not ready and says which topic
// it waits for, and once the topic appears it joins and consumes it. A consumer that joined its
// group without the topic would be assigned nothing and wait forever.
func TestConsumerStartedBeforeItsTopicExists(t *testing.T) {
	t.Parallel()
	b := kafkatest.NewBroker(t)
	topic := kafkatest.Topic(t, "later")
	rec := newRecorder(nil)
	r := startConsumer(t, t.Context(), fastConsumerConfig(b, topic+".group", topic), rec)
	await.For(t, waitTimeout, "the consumer to say it waits for its topic", func() error {
		if err := r.c.Ready(); err == nil || !strings.Contains(err.Error(), "waits for its topics") {
			return fmt.Errorf("readiness %w, want it to say it waits for %s", err, topic)
		}
		return nil
	})
	b.CreateTopic(t, topic, 2, nil)
	produce(t, b, topic, kafkago.Message{Key: kafka.BlockKey(1), Value: []byte("1")}, kafkago.Message{Key: kafka.BlockKey(2), Value: []byte("2")})
	rec.waitFor(t, "the topic created after the consumer started", func(a []kafkago.Message) bool { return len(a) >= 2 })
}
