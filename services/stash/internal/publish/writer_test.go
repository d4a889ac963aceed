package publish

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
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
	if explain(plain) != plain {
		t.Error("explain changed an error without a code")
	}
}
