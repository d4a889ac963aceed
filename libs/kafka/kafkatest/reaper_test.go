package kafkatest_test

import (
	"context"
	"net"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
)

// TestMemberKilledWhileJoiningIsRemoved: a client that dies while its JoinGroup waits for the
// rebalance can leave a member in the group that never heartbeats and holds partitions; the
// broker removes it, and the live member gets every partition back. Seen in a test that
// SIGKILLs consumers: the group's live member never read the partition the dead one held.
//
// kfake loses track of such a member only when it tries the JoinGroup response on the closed
// connection and its select picks the closed connection over the free slot in the response
// queue: a coin toss. And any later rebalance removes the member, so the clients die one at a
// time, five times over: a broker without the workaround keeps a dead member for good, and
// fails this test, 31 times out of 32.
func TestMemberKilledWhileJoiningIsRemoved(t *testing.T) {
	t.Parallel()
	b := kafkatest.NewBroker(t)
	topic := kafkatest.Topic(t, "reap")
	b.CreateTopic(t, topic, 2, nil)
	group := "group-" + topic
	// The live member notices a rebalance at its next heartbeat, up to half a second later:
	// time for a dying client's join to be parked in the group, waiting for it.
	live := kafkago.NewReader(kafkago.ReaderConfig{Brokers: b.Addrs(), GroupID: group, Topic: topic,
		HeartbeatInterval: 500 * time.Millisecond, SessionTimeout: time.Second, RebalanceTimeout: time.Second,
		JoinGroupBackoff: kafkatest.JoinGroupBackoff, MaxWait: 100 * time.Millisecond})
	defer live.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	go func() { // the reader rejoins only while it is read from
		for ctx.Err() == nil {
			_, _ = live.FetchMessage(ctx)
		}
	}()
	if _, err := b.Cluster().WaitGroupStable(ctx, group, 1); err != nil {
		t.Fatalf("the live member alone in the group: %v", err)
	}

	// A dying client: a JoinGroup v2, as kafka-go sends it (the broker makes the member at
	// once and parks the request until the rebalance completes), on a connection closed while
	// the request is parked, as when a consumer is killed during a rebalance.
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version = 2
	join.Group = group
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 1000, 1000
	join.ProtocolType = "consumer"
	meta := kmsg.ConsumerMemberMetadata{Topics: []string{topic}}
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("dying")).AppendRequest(nil, join, 1)
	for i := range 5 {
		conn, err := net.Dial("tcp", b.Addrs()[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(frame); err != nil {
			t.Fatal(err)
		}
		info, err := b.Cluster().WaitGroupInfo(ctx, group, func(g *kfake.GroupInfo) bool {
			return g != nil && g.State == "PreparingRebalance" && len(g.Members) == 2
		})
		conn.Close()
		if err != nil {
			t.Fatalf("client %d: the join parked in a rebalance: %v (group %+v)", i, err, info)
		}
		// The rebalance completes with the dead member in the group, holding a partition.
		if info, err := b.Cluster().WaitGroupStable(ctx, group, 2); err != nil {
			t.Fatalf("client %d: the dead member joined: %v (group %+v)", i, err, info)
		}
		took := time.Now()
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		info, err = b.Cluster().WaitGroupInfo(rctx, group, func(g *kfake.GroupInfo) bool {
			return g != nil && g.State == "Stable" && len(g.Members) == 1 && g.Members[0].ClientID != "dying" && g.NumAssigned() == 2
		})
		cancel()
		if err != nil {
			t.Fatalf("client %d: the dead member is still in the group: %v (group %+v)", i, err, info)
		}
		t.Logf("client %d: the dead member was removed %s after the rebalance that took it in", i, time.Since(took).Round(time.Millisecond))
	}
}
