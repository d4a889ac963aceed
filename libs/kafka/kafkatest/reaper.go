package kafkatest

import (
	"context"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// reaper works around a kfake bug (seen in v0.0.0-20260918054303-01f206a7e32c): when a
// client dies while its JoinGroup is parked waiting for the rebalance, kfake tries the
// response on the closed connection, and a select between the closed connection and a free
// slot of its response queue decides, at random, whether it then arms the member's session
// timer. Half the time it does not; the leader's SyncGroup then completes the rebalance and
// cancels the timer that removes members that never sync, and the dead member stays in the
// group for good, never heartbeating, holding the partitions it was assigned: the group's live
// members never read them. Kafka schedules every member's session expiry when a rebalance
// completes, whether or not the response reached it. kafka-go makes this likely in tests that
// kill consumers: it joins with JoinGroup v1/v2, where the broker makes the member at once.
//
// The reaper plays the part of that expiry. It notes every request that carries a member id
// (join, sync, heartbeat, offset commit), and every sweep lists the groups' members: one that
// nothing has named for reapAfter is removed on its behalf with a LeaveGroup, which
// rebalances the group as an expiry does. A live member names itself every heartbeat
// interval, and kfake itself expires one that is silent for its session timeout, so the
// reaper only ever removes members the broker has lost track of.
type reaper struct {
	addrs []string

	mu     sync.Mutex
	groups map[string]*reapGroup

	cancel context.CancelFunc
	done   chan struct{}
}

// reapGroup is what the reaper knows of one group.
type reapGroup struct {
	// timeout is the longest session or rebalance timeout a join of the group asked for.
	timeout time.Duration
	// seen is when each member was last named by a request, or first listed by a sweep.
	seen map[string]time.Time
}

// reapAfter is how long a member can go unnamed before the reaper removes it: twice the longest
// session or rebalance timeout of its group (a member waiting in a join is silent until the
// rebalance completes), and a second for a loaded machine.
func reapAfter(timeout time.Duration) time.Duration { return 2*timeout + time.Second }

// reapEvery is how often the reaper lists the members of the groups it knows.
const reapEvery = 500 * time.Millisecond

// startReaper installs the reaper's request controls on c and starts its sweeps, which send
// their LeaveGroup requests to addrs.
func startReaper(c *kfake.Cluster, addrs []string) *reaper {
	ctx, cancel := context.WithCancel(context.Background())
	r := &reaper{addrs: addrs, groups: make(map[string]*reapGroup), cancel: cancel, done: make(chan struct{})}
	observe := func(key kmsg.Key, note func(kmsg.Request)) {
		c.ControlKey(int16(key), func(req kmsg.Request) (kmsg.Response, error, bool) {
			note(req)
			return nil, nil, false // observed, not handled: kfake answers as usual
		})
	}
	observe(kmsg.JoinGroup, func(req kmsg.Request) {
		j := req.(*kmsg.JoinGroupRequest)
		r.note(j.Group, j.MemberID, time.Duration(max(j.SessionTimeoutMillis, j.RebalanceTimeoutMillis))*time.Millisecond)
	})
	observe(kmsg.SyncGroup, func(req kmsg.Request) {
		s := req.(*kmsg.SyncGroupRequest)
		r.note(s.Group, s.MemberID, 0)
	})
	observe(kmsg.Heartbeat, func(req kmsg.Request) {
		h := req.(*kmsg.HeartbeatRequest)
		r.note(h.Group, h.MemberID, 0)
	})
	observe(kmsg.OffsetCommit, func(req kmsg.Request) {
		o := req.(*kmsg.OffsetCommitRequest)
		r.note(o.Group, o.MemberID, 0)
	})
	go r.run(ctx, c)
	return r
}

// note records that a request of group named member (empty for a first join), and a join's
// timeout. Groups are tracked from their first join on.
func (r *reaper) note(group, member string, timeout time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.groups[group]
	if g == nil {
		if timeout == 0 {
			return // not a group this reaper saw join
		}
		g = &reapGroup{seen: make(map[string]time.Time)}
		r.groups[group] = g
	}
	g.timeout = max(g.timeout, timeout)
	if member != "" {
		g.seen[member] = time.Now()
	}
}

// stop ends the sweeps and waits for the one under way; it must return before the cluster is
// closed, since listing a closed cluster's groups blocks forever.
func (r *reaper) stop() {
	r.cancel()
	<-r.done
}

func (r *reaper) run(ctx context.Context, c *kfake.Cluster) {
	defer close(r.done)
	t := time.NewTicker(reapEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for group, lost := range r.sweep(c, time.Now()) {
			r.leave(ctx, group, lost)
		}
	}
}

// sweep lists the members of every tracked group and returns, by group, those unnamed for
// longer than reapAfter. It forgets members that are gone.
func (r *reaper) sweep(c *kfake.Cluster, now time.Time) map[string][]string {
	r.mu.Lock()
	names := make([]string, 0, len(r.groups))
	for name := range r.groups {
		names = append(names, name)
	}
	r.mu.Unlock()
	lost := make(map[string][]string)
	for _, name := range names {
		info := c.GroupInfo(name)
		r.mu.Lock()
		g := r.groups[name]
		listed := make(map[string]bool)
		if info != nil {
			for _, m := range info.Members {
				listed[m.MemberID] = true
				last, ok := g.seen[m.MemberID]
				switch {
				case !ok:
					g.seen[m.MemberID] = now // first listed: its clock starts now
				case now.Sub(last) > reapAfter(g.timeout):
					lost[name] = append(lost[name], m.MemberID)
				}
			}
		}
		for id := range g.seen {
			if !listed[id] {
				delete(g.seen, id)
			}
		}
		r.mu.Unlock()
	}
	return lost
}

// leave removes members from group on their behalf. A member it fails to remove is still
// listed and unnamed at the next sweep, which tries again; one it removed is forgotten then.
func (r *reaper) leave(ctx context.Context, group string, members []string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	transport := &kafkago.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(r.addrs...), Transport: transport}
	req := &kafkago.LeaveGroupRequest{GroupID: group}
	for _, m := range members {
		req.Members = append(req.Members, kafkago.LeaveGroupRequestMember{ID: m})
	}
	_, _ = client.LeaveGroup(ctx, req)
}
