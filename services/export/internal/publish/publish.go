// Package publish sends export's outbox to the decoded topics (events.v1, calls.v1): rows the
// batch transactions queued with the data, in sequence order, recording how far it got after
// each write. Only committed rows are ever seen, so nothing is published that is not stored; a
// crash between a write and its record sends the same bytes again, and nothing is skipped.
package publish

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/retry"
	"github.com/bcosdata/bcosdata/services/export/internal/ingest"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// RoundSize is the most messages one round publishes. A round costs a transaction and a read,
// and its last batch of each partition waits for the writer's batch timeout: a batch of
// blocks of 1,000 transactions queues tens of thousands of messages, which rounds of 500
// published more slowly than they were applied. (The writer's batches stay at its default
// size, well below the broker's message limit of the decoded topics.)
const RoundSize = 5000

// Poll is how often the outbox is looked at without a wake-up (rows queued by other
// instances).
const Poll = 500 * time.Millisecond

// Publisher publishes the outbox.
type Publisher struct {
	st      *store.Store
	w       *kafkago.Writer
	metrics *ingest.Metrics
	log     *zap.Logger
	policy  retry.Policy
	wake    chan struct{}

	mu      sync.Mutex
	lastErr error
}

// New returns a publisher writing with w.
func New(st *store.Store, w *kafkago.Writer, m *ingest.Metrics, log *zap.Logger, policy retry.Policy) *Publisher {
	return &Publisher{st: st, w: w, metrics: m, log: log, policy: policy, wake: make(chan struct{}, 1)}
}

// Wake makes the publisher look at the outbox now.
func (p *Publisher) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Err returns the failure being retried, nil when publishing works.
func (p *Publisher) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// Run publishes until ctx ends. Failures (broker or database away) are retried without limit.
func (p *Publisher) Run(ctx context.Context) error {
	t := time.NewTicker(Poll)
	defer t.Stop()
	for {
		err := retry.Forever(ctx, p.policy, p.drain, func(f retry.Failure) {
			p.mu.Lock()
			p.lastErr = f.Err
			p.mu.Unlock()
		})
		p.mu.Lock()
		p.lastErr = nil
		p.mu.Unlock()
		if err != nil {
			if errors.Is(err, context.Canceled) || ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		case <-t.C:
		}
	}
}

// drain publishes rounds until the outbox is empty.
func (p *Publisher) drain(ctx context.Context) error {
	for {
		n, err := p.st.PublishNext(ctx, RoundSize, func(qs []store.Queued) error {
			msgs := make([]kafkago.Message, 0, len(qs))
			for _, q := range qs {
				msgs = append(msgs, kafkago.Message{Topic: q.Topic, Key: q.Key, Value: q.Value,
					Headers: kafka.Headers(kafka.ContentTypeProtobuf, q.Schema, q.BlockNumber)})
			}
			if err := p.w.WriteMessages(ctx, msgs...); err != nil {
				return fmt.Errorf("publish outbox %d-%d: %w", qs[0].Seq, qs[len(qs)-1].Seq, err)
			}
			for _, q := range qs {
				p.metrics.Published.WithLabelValues(q.Topic).Inc()
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n < RoundSize {
			if b, err := p.st.OutboxBacklog(ctx); err == nil {
				p.metrics.OutboxBacklog.Set(float64(b))
			}
			return nil
		}
	}
}
