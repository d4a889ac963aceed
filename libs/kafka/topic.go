package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// TopicName returns the bus topic for one kind of message of one chain group, following the
// contract bcos.<chain>.<group>.<kind>.v1, e.g. TopicName("chain0", "group1", "blocks").
func TopicName(chain, group, kind string) string {
	return "bcos." + chain + "." + group + "." + kind + ".v1"
}

// DeadLetterTopic returns the topic that receives topic's messages no handler could apply.
func DeadLetterTopic(topic string) string { return topic + ".dlq" }

// TopicSpec describes a topic for EnsureTopics.
type TopicSpec struct {
	Name string
	// Partitions is the partition count; zero or less leaves it to the broker default.
	Partitions int
	// ReplicationFactor is the replica count; zero or less leaves it to the broker default.
	ReplicationFactor int
	// Configs are topic configs such as max.message.bytes or retention.ms.
	Configs map[string]string
}

// ensureTimeout bounds a topic creation whose ctx has no deadline, so a wedged broker turns
// into an error instead of a hung start-up.
const ensureTimeout = 30 * time.Second

// EnsureTopics creates the topics that do not exist yet. A topic that exists is left as it is,
// even if its partitions or configs differ from the spec: changing a live topic is an operator
// decision, not a start-up side effect.
func EnsureTopics(ctx context.Context, brokers []string, specs ...TopicSpec) error {
	return EnsureTopicsWith(ctx, Security{}, brokers, specs...)
}

// EnsureTopicsWith is EnsureTopics over TLS and SASL as sec says.
func EnsureTopicsWith(ctx context.Context, sec Security, brokers []string, specs ...TopicSpec) error {
	if len(specs) == 0 {
		return nil
	}
	if len(brokers) == 0 {
		return fmt.Errorf("create topics %v: %w: no brokers", specNames(specs), ErrConfig)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ensureTimeout)
		defer cancel()
	}
	// A transport of our own, closed on return: the shared default one would keep connection
	// goroutines alive for the life of the process.
	transport := sec.Transport()
	defer transport.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: transport}

	req := &kafkago.CreateTopicsRequest{Topics: make([]kafkago.TopicConfig, 0, len(specs))}
	for _, s := range specs {
		tc := kafkago.TopicConfig{Topic: s.Name, NumPartitions: -1, ReplicationFactor: -1}
		if s.Partitions > 0 {
			tc.NumPartitions = s.Partitions
		}
		if s.ReplicationFactor > 0 {
			tc.ReplicationFactor = s.ReplicationFactor
		}
		for _, k := range slices.Sorted(maps.Keys(s.Configs)) {
			tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: k, ConfigValue: s.Configs[k]})
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics %v on %v: %w", specNames(specs), brokers, err)
	}
	var errs []error
	for _, s := range specs {
		if err := resp.Errors[s.Name]; err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}

func specNames(specs []TopicSpec) []string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return names
}
