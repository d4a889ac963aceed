// Package publish sends export's outbox to the decoded topics (events.v1, calls.v1): rows the
// batch transactions queued with the data, in sequence order, recording how far it got after
// each write. Only committed rows are ever seen, so nothing is published that is not stored; a
// crash between a write and its record sends the same bytes again, and nothing is skipped.
package publish

import (
	"context"
	"fmt"
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

// Publisher publishes the outbox. Run (until ctx ends, retrying failures without limit), Wake
// and Err (the failure being retried) are the drainer's (libs/retry).
type Publisher struct {
	*retry.Drainer
	st      *store.Store
	w       *kafkago.Writer
	metrics *ingest.Metrics
	log     *zap.Logger
}

// New returns a publisher writing with w.
func New(st *store.Store, w *kafkago.Writer, m *ingest.Metrics, log *zap.Logger, policy retry.Policy) *Publisher {
	p := &Publisher{st: st, w: w, metrics: m, log: log}
	p.Drainer = retry.NewDrainer(policy, Poll, p.drain, nil)
	return p
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
