package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// seedTimeout bounds the whole seeding step; it is an optimisation, never worth a slow start.
const seedTimeout = 30 * time.Second

// groupIdle are the states of a group without members, whose offsets anyone may commit.
var groupIdle = map[string]bool{"Empty": true, "Dead": true}

// seedGroupOffsets moves the group's committed offsets up to the ones the OffsetStore holds,
// before joining, when no member is active. The store is ahead after a crash between the
// database commit and the Kafka commit; without this, the group would fetch again everything
// in between just for the consumer to skip it. It is best effort: on any error, or with members
// present (they own the offsets), it does nothing and skipping covers the gap.
func (c *Consumer) seedGroupOffsets(ctx context.Context) {
	if c.cfg.Offsets == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, seedTimeout)
	defer cancel()
	seeded, err := c.seed(ctx)
	if err != nil {
		c.log.Info("group offsets not moved to the recorded ones", zap.Error(err))
		return
	}
	for _, s := range seeded {
		c.log.Info("group offset moved to the recorded one", zap.String("topic", s.topic),
			zap.Int("partition", s.id), zap.Int64("offset", s.to), zap.Int64("from", s.from))
	}
}

type seededOffset struct {
	partition
	from, to int64
}

func (c *Consumer) seed(ctx context.Context) ([]seededOffset, error) {
	transport := c.cfg.Security.Transport()
	defer transport.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(c.cfg.Brokers...), Timeout: c.cfg.CommitTimeout, Transport: transport}
	desc, err := client.DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: []string{c.cfg.GroupID}})
	if err != nil {
		return nil, fmt.Errorf("describe group: %w", err)
	}
	for _, g := range desc.Groups {
		if g.Error != nil && !errors.Is(g.Error, kafkago.GroupIdNotFound) {
			return nil, fmt.Errorf("describe group: %w", g.Error)
		}
		if g.Error == nil && (!groupIdle[g.GroupState] || len(g.Members) > 0) {
			return nil, fmt.Errorf("group is %s with %d members", g.GroupState, len(g.Members))
		}
	}

	meta, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: c.cfg.Topics})
	if err != nil {
		return nil, fmt.Errorf("read topic metadata: %w", err)
	}
	want := make(map[string][]int)
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("read metadata of topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			want[t.Name] = append(want[t.Name], p.ID)
		}
	}
	// A group that never committed may be unknown to the broker: it has no offsets to compare.
	noGroup := func(err error) bool { return err == nil || errors.Is(err, kafkago.GroupIdNotFound) }
	fetched, err := client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: c.cfg.GroupID, Topics: want})
	if err != nil {
		if !noGroup(err) {
			return nil, fmt.Errorf("fetch committed offsets: %w", err)
		}
		fetched = &kafkago.OffsetFetchResponse{}
	}
	if !noGroup(fetched.Error) {
		return nil, fmt.Errorf("fetch committed offsets: %w", fetched.Error)
	}
	committed := make(map[partition]int64)
	for topic, ps := range fetched.Topics {
		for _, p := range ps {
			if !noGroup(p.Error) {
				return nil, fmt.Errorf("fetch committed offset of topic %s partition %d: %w", topic, p.Partition, p.Error)
			}
			if p.Error == nil {
				committed[partition{topic: topic, id: p.Partition}] = p.CommittedOffset
			}
		}
	}

	var (
		commits = make(map[string][]kafkago.OffsetCommit)
		seeded  []seededOffset
	)
	for topic, ids := range want {
		for _, id := range ids {
			p := partition{topic: topic, id: id}
			next, ok, err := c.cfg.Offsets.Next(ctx, c.cfg.GroupID, topic, id)
			if err != nil {
				return nil, fmt.Errorf("read applied offset of topic %s partition %d: %w", topic, id, err)
			}
			from, has := committed[p]
			if !has {
				from = -1
			}
			if ok && next > from {
				commits[topic] = append(commits[topic], kafkago.OffsetCommit{Partition: id, Offset: next})
				seeded = append(seeded, seededOffset{partition: p, from: from, to: next})
			}
		}
	}
	if len(seeded) == 0 {
		return nil, nil
	}
	// Generation -1 and no member id: a commit on behalf of no member, which brokers accept
	// only while the group is empty, so it cannot race an active member.
	resp, err := client.OffsetCommit(ctx, &kafkago.OffsetCommitRequest{GroupID: c.cfg.GroupID, GenerationID: -1, Topics: commits})
	if err != nil {
		return nil, fmt.Errorf("commit recorded offsets: %w", err)
	}
	for topic, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("commit recorded offset of topic %s partition %d: %w", topic, p.Partition, p.Error)
			}
		}
	}
	return seeded, nil
}
