package kafka

import (
	"context"
	"fmt"
	"sync"

	kafkago "github.com/segmentio/kafka-go"
)

// OffsetStore reads the consumed offsets a handler records in its own database transaction,
// with the data (see package pgoffset). With it the Consumer hands the handler only messages
// the database has not seen, so the effect is exactly once even for a handler that is not
// idempotent: a message applied before a crash, but whose Kafka commit was lost, is skipped.
type OffsetStore interface {
	// Next returns the offset after the last message of the partition the group applied, and
	// false if the group has applied none.
	Next(ctx context.Context, group, topic string, partition int) (next int64, ok bool, err error)
}

// appliedOffsets caches the stored next offset of each partition. A cached value is trusted
// only while nothing can have moved it behind the consumer's back: it is read again after a
// rebalance (another member may have applied the partition), when a partition goes back to an
// earlier offset (the group resumed from its committed offset), and after a failed handler
// call (its transaction may have committed before the error reached us).
type appliedOffsets struct {
	store OffsetStore
	group string

	mu      sync.Mutex
	entries map[partition]offsetEntry
}

type offsetEntry struct {
	next  int64 // stored next offset, -1 when none
	seen  int64 // offset after the last message handed out
	epoch uint64
}

// unapplied returns the messages of msgs, one partition's in offset order, that the store does
// not show as applied. epoch counts the rebalances seen so far.
func (a *appliedOffsets) unapplied(ctx context.Context, p partition, msgs []kafkago.Message, epoch uint64) ([]kafkago.Message, error) {
	if a.store == nil {
		return msgs, nil
	}
	a.mu.Lock()
	e, ok := a.entries[p]
	a.mu.Unlock()
	if !ok || e.epoch != epoch || msgs[0].Offset < e.seen {
		next, found, err := a.store.Next(ctx, a.group, p.topic, p.id)
		if err != nil {
			return nil, fmt.Errorf("read applied offset of topic %s partition %d: %w", p.topic, p.id, err)
		}
		e = offsetEntry{next: -1, epoch: epoch}
		if found {
			e.next = next
		}
	}
	e.seen = msgs[len(msgs)-1].Offset + 1
	a.mu.Lock()
	a.entries[p] = e
	a.mu.Unlock()
	i := 0
	for i < len(msgs) && msgs[i].Offset < e.next {
		i++
	}
	return msgs[i:], nil
}

// applied notes that the handler applied the partition up to next.
func (a *appliedOffsets) applied(p partition, next int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.entries[p]; ok {
		e.next = max(e.next, next)
		a.entries[p] = e
	}
}

// forget drops what is known of p, so the next batch reads the store again.
func (a *appliedOffsets) forget(p partition) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.entries, p)
}
