package ingest

import (
	"context"
	"fmt"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/pgoffset"
)

// Lag returns how many messages of topic the group has not applied: per partition, the end
// of the log minus the offset recorded with the data.
func Lag(ctx context.Context, sec kafka.Security, brokers []string, topic, group string, offsets *pgoffset.Store) (uint64, error) {
	transport := sec.Transport()
	defer transport.CloseIdleConnections()
	c := &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: transport}
	md, err := c.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("read metadata of %s: %w", topic, err)
	}
	var reqs []kafkago.OffsetRequest
	for _, t := range md.Topics {
		if t.Error != nil {
			return 0, fmt.Errorf("read metadata of %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			reqs = append(reqs, kafkago.LastOffsetOf(p.ID))
		}
	}
	res, err := c.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		return 0, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	var lag uint64
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return 0, fmt.Errorf("list offsets of %s partition %d: %w", topic, po.Partition, po.Error)
		}
		next, _, err := offsets.Next(ctx, group, topic, po.Partition)
		if err != nil {
			return 0, err
		}
		if po.LastOffset > next {
			lag += uint64(po.LastOffset - next)
		}
	}
	return lag, nil
}
