package publish

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
)

func TestExplainSaysKafkaErrorsByTitle(t *testing.T) {
	err := explain(fmt.Errorf("write: %w", kafkago.WriteErrors{nil, kafkago.BrokerNotAvailable}))
	if strings.Contains(err.Error(), "not a client facing") || !strings.Contains(err.Error(), "Broker Not Available") {
		t.Errorf("explain = %q", err)
	}
	if !errors.Is(explain(kafkago.WriteErrors{kafkago.UnknownTopicOrPartition}), kafkago.UnknownTopicOrPartition) {
		t.Error("explain hides the error code")
	}
	plain := errors.New("dial tcp: connection refused")
	if explain(plain) != plain { //nolint:errorlint // the very same error value must come back
		t.Error("explain changed an error without a code")
	}
}

// TestPublishCreatesMissingTopics publishes to a broker that does not have the topics (it came
// back empty, or they were deleted): Publish creates them, and a retry goes through.
func TestPublishCreatesMissingTopics(t *testing.T) {
	b := kafkatest.NewBroker(t)
	p := New(Config{Brokers: b.Addrs(), Chain: Chain{Name: "chain0", Group: 1}, Partitions: 1})
	defer p.Close()
	msg := kafkago.Message{Topic: p.cfg.Chain.BlocksTopic(), Key: kafka.BlockKey(1), Value: []byte("block 1")}
	attempts := 0
	await.For(t, 30*time.Second, "a publication to a topic the broker did not have", func() error {
		attempts++
		err := p.Publish(t.Context(), []kafkago.Message{msg})
		if attempts <= 2 || err == nil {
			t.Logf("attempt %d: %v", attempts, err)
		}
		return err
	})
	t.Logf("published after %d attempts", attempts)
	conn, err := kafkago.Dial("tcp", b.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(p.cfg.Chain.StateTopic())
	if err != nil || len(parts) != 1 {
		t.Fatalf("state topic after the publication: %v, %v; want created with the blocks topic", parts, err)
	}
}
