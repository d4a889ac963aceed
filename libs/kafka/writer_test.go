package kafka_test

import (
	"context"
	"errors"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
)

func TestNewWriterDefaults(t *testing.T) {
	t.Parallel()
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: []string{"127.0.0.1:1"}})
	defer w.Close()
	if w.RequiredAcks != kafkago.RequireAll {
		t.Errorf("RequiredAcks = %v, want RequireAll", w.RequiredAcks)
	}
	if w.BatchTimeout != kafka.DefaultBatchTimeout {
		t.Errorf("BatchTimeout = %v, want %v", w.BatchTimeout, kafka.DefaultBatchTimeout)
	}
	if w.BatchBytes != kafka.DefaultMaxMessageBytes {
		t.Errorf("BatchBytes = %d, want %d", w.BatchBytes, kafka.DefaultMaxMessageBytes)
	}
	if w.AllowAutoTopicCreation {
		t.Error("AllowAutoTopicCreation = true, want false")
	}
}

func TestWriterRoutesAKeyToOnePartition(t *testing.T) {
	t.Parallel()
	const partitions, keys, copies = 4, 7, 3 // 7 keys: a round robin would not line them up
	b := kafkatest.NewBroker(t)
	topic := kafkatest.Topic(t, "keys")
	b.CreateTopic(t, topic, partitions, nil)
	var msgs []kafkago.Message
	for range copies {
		for k := range uint64(keys) {
			msgs = append(msgs, kafkago.Message{Key: kafka.BlockKey(k), Value: []byte("x")})
		}
	}
	produce(t, b, topic, msgs...)

	where := make(map[uint64]map[int]bool)
	for p, info := range b.Cluster().PartitionInfos(topic) {
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: b.Addrs(), Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		for range info.HighWatermark {
			m, err := r.ReadMessage(t.Context())
			if err != nil {
				t.Fatalf("read partition %d of %s: %v", p, topic, err)
			}
			k, err := kafka.ParseBlockKey(m.Key)
			if err != nil {
				t.Fatal(err)
			}
			if where[k] == nil {
				where[k] = make(map[int]bool)
			}
			where[k][p] = true
		}
		r.Close()
	}
	used := make(map[int]bool)
	for k, ps := range where {
		if len(ps) != 1 {
			t.Errorf("key %d landed on partitions %v, want one", k, ps)
		}
		for p := range ps {
			used[p] = true
		}
	}
	if len(where) != keys || len(used) < 2 {
		t.Errorf("%d keys read back over partitions %v; want %d keys spread over more than one", len(where), used, keys)
	}
}

func TestWriterDoesNotCreateTopics(t *testing.T) {
	t.Parallel()
	b := kafkatest.NewBroker(t, kafkatest.WithAutoTopicCreation())
	topic := kafkatest.Topic(t, "missing")
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: b.Addrs(), Topic: topic})
	w.MaxAttempts = 1
	defer w.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := w.WriteMessages(ctx, kafkago.Message{Value: []byte("x")})
	if !errors.Is(err, kafkago.UnknownTopicOrPartition) {
		t.Errorf("write to missing topic %s: error %v, want UnknownTopicOrPartition", topic, err)
	}
	if b.Cluster().TopicInfo(topic) != nil {
		t.Errorf("writing created topic %s on a broker that allows auto-creation", topic)
	}
}
