package audit

import (
	"context"
	"fmt"

	"github.com/bcosdata/bcosdata/libs/kafka"
)

// ForService returns the trail of a bcosdata service: table audit in its schema, published on
// bcos.<chain>.group<group>.audit.v1 through the service's brokers (created when missing), for
// the calls to grpcServices.
func ForService(service, schema, chain string, group uint, k kafka.Flags, grpcServices ...string) Config {
	topic := kafka.TopicName(chain, fmt.Sprintf("group%d", group), "audit")
	return Config{
		Service: service, Schema: schema, GRPCServices: grpcServices, Topic: topic,
		Publisher: kafka.NewWriter(kafka.WriterConfig{Brokers: k.Brokers, MaxMessageBytes: k.MaxMessageBytes, Security: k.Security()}),
		EnsureTopic: func(ctx context.Context) error {
			return kafka.EnsureTopicsWith(ctx, k.Security(), k.Brokers, kafka.TopicSpec{Name: topic, Partitions: 1, ReplicationFactor: k.ReplicationFactor})
		},
	}
}
