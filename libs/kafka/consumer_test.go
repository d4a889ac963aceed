package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

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

// TestConsumerDeadLettersFailingMessage checks that a message the handler keeps rejecting goes
// to <topic>.dlq with its origin after exactly MaxAttempts attempts of its own (one if the
// error is marked permanent), and that the messages after it are applied and committed.
func TestConsumerDeadLettersFailingMessage(t *testing.T) {
	t.Parallel()
	const total, poison, attempts = 10, 4, 3
	tests := []struct {
		name        string
		err         error
		wantAlone   int  // attempts on the failing message alone
		wantRetries bool // whether any attempt was retried
	}{
		{name: "transient error", err: errPoison, wantAlone: attempts, wantRetries: true},
		{name: "permanent error", err: kafka.Permanent(errPoison), wantAlone: 1, wantRetries: false},
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
			if alone != tt.wantAlone {
				t.Errorf("handler tried the failing message alone %d times, want %d (calls %v)", alone, tt.wantAlone, calls)
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
				kafka.HeaderDLQError:           errPoison.Error(),
				kafka.HeaderDLQOriginTopic:     topic,
				kafka.HeaderDLQOriginPartition: "0",
				kafka.HeaderDLQOriginOffset:    strconv.Itoa(poison),
				kafka.HeaderDLQAttempts:        strconv.Itoa(tt.wantAlone),
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
			if got := counter(t, reg, "bcosdata_kafka_consumer_retries_total", topic); tt.wantRetries && got < attempts-1 || !tt.wantRetries && got != 0 {
				t.Errorf("metric retries_total = %v, want retries %v", got, tt.wantRetries)
			}
		})
	}
}

// TestConsumerWithoutDeadLetterStopsAtFailingOffset checks that a stream without a dead-letter
// topic never skips: the consumer applies everything before the failing message, stops with an
// error naming it, does not commit it, and a restart is handed the same message again.
func TestConsumerWithoutDeadLetterStopsAtFailingOffset(t *testing.T) {
	t.Parallel()
	const total, poison, attempts = 10, 4, 2
	b := kafkatest.NewBroker(t)
	topic := kafkatest.Topic(t, "nodlq")
	group := topic + ".group"
	b.CreateTopic(t, topic, 1, nil)
	produce(t, b, topic, values(total)...)

	cfg := fastConsumerConfig(b, group, topic)
	cfg.MaxAttempts = attempts
	failing := newRecorder(func(ctx context.Context, msgs []kafkago.Message) error {
		for _, m := range msgs {
			if m.Offset == poison {
				return errPoison
			}
		}
		return nil
	})
	err := startConsumer(t, t.Context(), cfg, failing).wait(t)
	ae, ok := errors.AsType[*kafka.ApplyError](err)
	if !ok {
		t.Fatalf("Run: error %v, want an *ApplyError", err)
	}
	wantErr := kafka.ApplyError{Topic: topic, Partition: 0, Offset: poison, Attempts: attempts, Err: errPoison}
	if ae.Topic != wantErr.Topic || ae.Partition != wantErr.Partition || ae.Offset != wantErr.Offset ||
		ae.Attempts != wantErr.Attempts || !errors.Is(err, errPoison) {
		t.Errorf("Run: error %+v, want %+v", *ae, wantErr)
	}
	if msg := err.Error(); !strings.Contains(msg, topic) || !strings.Contains(msg, "offset 4") {
		t.Errorf("error %q does not name the topic and offset", msg)
	}
	applied, _ := failing.snapshot()
	if got, want := appliedOffsets(applied), slices.Collect(seq(0, poison)); !slices.Equal(got, want) {
		t.Errorf("applied offsets %v, want %v", got, want)
	}
	if got := committed(t, b, group, topic, 0, func(int64) bool { return true }); got != poison {
		t.Fatalf("committed offset = %d, want %d (the failing message, not past it)", got, poison)
	}

	healed := newRecorder(nil)
	startConsumer(t, t.Context(), cfg, healed)
	healed.waitFor(t, "the rest of the topic", func(a []kafkago.Message) bool { return len(a) >= total-poison })
	applied, calls := healed.snapshot()
	if calls[0][0] != poison {
		t.Errorf("restarted consumer started at offset %d, want %d", calls[0][0], poison)
	}
	if got, want := appliedOffsets(applied), slices.Collect(seq(poison, total)); !slices.Equal(got, want) {
		t.Errorf("restarted consumer applied %v, want %v", got, want)
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
// by EnsureTopics and checks the consumer hands it over whole.
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
