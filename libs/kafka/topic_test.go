package kafka_test

import (
	"errors"
	"strings"
	"testing"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
)

func TestTopicName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		chain, group, kind string
		want               string
	}{
		{"chain0", "group1", "blocks", "bcos.chain0.group1.blocks.v1"},
		{"chain0", "group1", "state", "bcos.chain0.group1.state.v1"},
		{"c", "g", "reconcile.results", "bcos.c.g.reconcile.results.v1"},
	}
	for _, tt := range tests {
		if got := kafka.TopicName(tt.chain, tt.group, tt.kind); got != tt.want {
			t.Errorf("TopicName(%q, %q, %q) = %q, want %q", tt.chain, tt.group, tt.kind, got, tt.want)
		}
	}
	if got, want := kafka.DeadLetterTopic("bcos.chain0.group1.events.v1"), "bcos.chain0.group1.events.v1.dlq"; got != want {
		t.Errorf("DeadLetterTopic() = %q, want %q", got, want)
	}
}

func TestEnsureTopicsCreatesOnceAndIsIdempotent(t *testing.T) {
	t.Parallel()
	b := kafkatest.NewBroker(t)
	blocks := kafkatest.Topic(t, "blocks")
	events := kafkatest.Topic(t, "events")
	specs := []kafka.TopicSpec{
		{Name: blocks, Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"max.message.bytes": "8388608"}},
		{Name: events, Partitions: 3},
	}
	wantParts := map[string]int{blocks: 1, events: 3}

	// The second call must succeed and change nothing, including for a spec that now
	// disagrees with the live topic.
	again := []kafka.TopicSpec{specs[0], {Name: events, Partitions: 6}}
	for i, call := range [][]kafka.TopicSpec{specs, again} {
		if err := kafka.EnsureTopics(t.Context(), b.Addrs(), call...); err != nil {
			t.Fatalf("call %d: EnsureTopics: %v", i, err)
		}
		for name, want := range wantParts {
			if got := len(b.Cluster().PartitionInfos(name)); got != want {
				t.Errorf("call %d: topic %s has %d partitions, want %d", i, name, got, want)
			}
		}
		info := b.Cluster().TopicInfo(blocks)
		if v := info.Configs["max.message.bytes"]; v == nil || *v != "8388608" {
			t.Errorf("call %d: topic %s max.message.bytes = %v, want 8388608", i, blocks, v)
		}
	}
}

func TestEnsureTopicsErrors(t *testing.T) {
	t.Parallel()
	b := kafkatest.NewBroker(t)
	if err := kafka.EnsureTopics(t.Context(), nil, kafka.TopicSpec{Name: "x"}); !errors.Is(err, kafka.ErrConfig) {
		t.Errorf("EnsureTopics without brokers: error %v, want ErrConfig", err)
	}
	// One broker cannot hold three replicas: the error must name the topic and wrap Kafka's code,
	// and the valid topic in the same call is still created.
	bad, good := kafkatest.Topic(t, "bad"), kafkatest.Topic(t, "good")
	err := kafka.EnsureTopics(t.Context(), b.Addrs(),
		kafka.TopicSpec{Name: bad, Partitions: 1, ReplicationFactor: 3},
		kafka.TopicSpec{Name: good, Partitions: 1})
	if !errors.Is(err, kafkago.InvalidReplicationFactor) || !strings.Contains(err.Error(), bad) {
		t.Errorf("EnsureTopics with 3 replicas on 1 broker: error %v, want InvalidReplicationFactor naming %s", err, bad)
	}
	if b.Cluster().TopicInfo(bad) != nil || b.Cluster().TopicInfo(good) == nil {
		t.Errorf("after a partly failed EnsureTopics: %s exists %v, %s exists %v; want false, true",
			bad, b.Cluster().TopicInfo(bad) != nil, good, b.Cluster().TopicInfo(good) != nil)
	}
}
