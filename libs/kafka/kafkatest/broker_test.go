package kafkatest_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/goleak"

	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func write(t *testing.T, addrs []string, topic string, msgs ...kafkago.Message) error {
	t.Helper()
	w := kafkago.NewWriter(kafkago.WriterConfig{
		Brokers:      addrs,
		Topic:        topic,
		BatchTimeout: time.Millisecond,
		BatchBytes:   16 << 20,
		MaxAttempts:  1,
	})
	defer w.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := w.WriteMessages(ctx, msgs...)
	// kafka-go reports per-message errors in a WriteErrors that errors.Is does not look into.
	if we, ok := errors.AsType[kafkago.WriteErrors](err); ok {
		return errors.Join(we...)
	}
	return err
}

func read(t *testing.T, addrs []string, topic string, n int) []kafkago.Message {
	t.Helper()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: addrs, Topic: topic, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var got []kafkago.Message
	for range n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read message %d of topic %s: %v", len(got), topic, err)
		}
		got = append(got, m)
	}
	return got
}

func TestBrokerSpeaksKafkaOverLoopbackTCP(t *testing.T) {
	t.Parallel()
	b := kafkatest.NewBroker(t)
	addrs := b.Addrs()
	if len(addrs) != 1 {
		t.Fatalf("Addrs() = %v, want one broker", addrs)
	}
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("broker address %q is not on 127.0.0.1 (%v)", a, err)
		}
	}
	topic := kafkatest.Topic(t, "tcp")
	b.CreateTopic(t, topic, 1, nil)

	want := []kafkago.Message{
		{Key: []byte("k0"), Value: []byte("v0"), Headers: []kafkago.Header{{Key: "content-type", Value: []byte("application/json")}}},
		{Key: []byte("k1"), Value: []byte("v1")},
		{Key: []byte("k2"), Value: []byte("v2")},
	}
	if err := write(t, addrs, topic, want...); err != nil {
		t.Fatalf("write to %s: %v", topic, err)
	}
	got := read(t, addrs, topic, len(want))
	for i := range want {
		if got[i].Offset != int64(i) || !bytes.Equal(got[i].Key, want[i].Key) || !bytes.Equal(got[i].Value, want[i].Value) {
			t.Errorf("message %d = offset %d %q=%q, want offset %d %q=%q", i, got[i].Offset, got[i].Key, got[i].Value, i, want[i].Key, want[i].Value)
		}
	}
	if diff := cmp.Diff(want[0].Headers, got[0].Headers); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

func TestWithMaxMessageBytes(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte{0xab}, 2<<20)
	tests := []struct {
		name    string
		opts    []kafkatest.Option
		wantErr error
	}{
		{name: "kafka default rejects 2 MiB", wantErr: kafkago.MessageSizeTooLarge},
		{name: "raised limit accepts 2 MiB", opts: []kafkatest.Option{kafkatest.WithMaxMessageBytes(4 << 20)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := kafkatest.NewBroker(t, tt.opts...)
			topic := kafkatest.Topic(t, "big")
			b.CreateTopic(t, topic, 1, nil)
			err := write(t, b.Addrs(), topic, kafkago.Message{Value: big})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("write 2 MiB to %s: error %v, want %v", topic, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := read(t, b.Addrs(), topic, 1); !bytes.Equal(got[0].Value, big) {
				t.Fatalf("read back %d bytes, want the %d written", len(got[0].Value), len(big))
			}
		})
	}
}

func TestWithDataDirSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	topic := kafkatest.Topic(t, "persist")

	first := kafkatest.NewBroker(t, kafkatest.WithDataDir(dir), kafkatest.WithTopics(1, topic))
	if err := write(t, first.Addrs(), topic, kafkago.Message{Value: []byte("kept")}); err != nil {
		t.Fatalf("write to %s: %v", topic, err)
	}
	first.Stop()

	second := kafkatest.NewBroker(t, kafkatest.WithDataDir(dir))
	if got := read(t, second.Addrs(), topic, 1); string(got[0].Value) != "kept" {
		t.Fatalf("after restart read %q, want %q", got[0].Value, "kept")
	}
}

func TestWithBrokersAndPartitions(t *testing.T) {
	t.Parallel()
	b := kafkatest.NewBroker(t, kafkatest.WithBrokers(3), kafkatest.WithPartitions(4))
	if n := len(b.Addrs()); n != 3 {
		t.Fatalf("Addrs() has %d brokers, want 3", n)
	}
	topic := kafkatest.Topic(t, "defaults")
	transport := &kafkago.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(b.Addrs()...), Transport: transport}
	resp, err := client.CreateTopics(t.Context(), &kafkago.CreateTopicsRequest{
		Topics: []kafkago.TopicConfig{{Topic: topic, NumPartitions: -1, ReplicationFactor: -1}},
	})
	if err != nil || resp.Errors[topic] != nil {
		t.Fatalf("create topic %s with default partitions: %v %v", topic, err, resp.Errors)
	}
	meta, err := client.Metadata(t.Context(), &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("read metadata of %s: %v", topic, err)
	}
	if len(meta.Brokers) != 3 || len(meta.Topics) != 1 || len(meta.Topics[0].Partitions) != 4 {
		t.Fatalf("metadata: %d brokers, topics %+v; want 3 brokers and 4 partitions", len(meta.Brokers), meta.Topics)
	}
}

func TestTopicIsUniqueAndValid(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^[a-zA-Z0-9.-]+$`)
	seen := make(map[string]bool)
	for range 50 {
		name := kafkatest.Topic(t, "bcos_x/y")
		if !valid.MatchString(name) || len(name) > 249 {
			t.Fatalf("Topic() = %q, not a portable Kafka topic name", name)
		}
		if !strings.HasPrefix(name, "bcos-x-y.TestTopicIsUniqueAndValid.") {
			t.Fatalf("Topic() = %q, want the prefix and test name", name)
		}
		if seen[name] {
			t.Fatalf("Topic() returned %q twice", name)
		}
		seen[name] = true
	}
}
