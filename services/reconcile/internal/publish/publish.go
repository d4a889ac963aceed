// Package publish sends reconcile's outbox to bcos.<chain>.<group>.reconcile.results.v1: the
// message of each run that ended, queued by the transaction that ended it (store.Enqueue).
// Only committed rows are seen, so nothing is published for a run that did not end; a row
// leaves the outbox in the transaction that read it, after the broker took the message, so a
// process that stops between a run's commit and its publish publishes it at its next start,
// and one that dies between the write and the delete sends the same bytes again (at least
// once; the idempotency-key header, job/date/vN, is the same on every copy).
//
// Like export's publisher it runs in a retry.Drainer: rounds retried without limit while the
// broker or the database is away, woken after a commit and polled otherwise.
package publish

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/retry"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// HeaderIdempotencyKey names the header carrying a results message's idempotency key.
const HeaderIdempotencyKey = "idempotency-key"

// RoundSize is the most messages one round publishes.
const RoundSize = 100

// Poll is how often the outbox is looked at without a wake-up (rows another instance queued,
// or left by a stopped one).
const Poll = 2 * time.Second

// Writer writes messages to the broker (a *kafkago.Writer).
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafkago.Message) error
}

// Config configures a Publisher.
type Config struct {
	Store *store.Store
	// Topic is the results topic.
	Topic  string
	Writer Writer
	Policy retry.Policy
	Log    *zap.Logger
	// Published counts messages written; Backlog is the outbox's size after a round. Either
	// may be nil.
	Published prometheus.Counter
	Backlog   prometheus.Gauge
}

// Publisher publishes the outbox. Run, Wake and Err are the drainer's (libs/retry).
type Publisher struct {
	*retry.Drainer
	cfg  Config
	warn retry.Every
}

// New returns a publisher.
func New(cfg Config) *Publisher {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	p := &Publisher{cfg: cfg, warn: retry.Every{Interval: time.Minute}}
	p.Drainer = retry.NewDrainer(cfg.Policy, Poll, p.drain, func(f retry.Failure) {
		if ok, _ := p.warn.Allow(); ok {
			p.cfg.Log.Warn("publish run results; retrying", zap.Error(f.Err), zap.Int("attempt", f.Attempt))
		}
	})
	return p
}

// drain publishes rounds until the outbox is empty.
func (p *Publisher) drain(ctx context.Context) error {
	for {
		n, err := p.cfg.Store.PublishNext(ctx, RoundSize, func(ms []store.Message) error {
			msgs := make([]kafkago.Message, len(ms))
			for i, m := range ms {
				msgs[i] = Message(p.cfg.Topic, m)
			}
			if err := p.cfg.Writer.WriteMessages(ctx, msgs...); err != nil {
				return fmt.Errorf("publish the results of run %d (and %d more) to %s: %w", ms[0].RunID, len(ms)-1, p.cfg.Topic, err)
			}
			if p.cfg.Published != nil {
				p.cfg.Published.Add(float64(len(ms)))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n < RoundSize {
			if p.cfg.Backlog != nil {
				if b, err := p.cfg.Store.OutboxBacklog(ctx); err == nil {
					p.cfg.Backlog.Set(float64(b))
				}
			}
			return nil
		}
	}
}

// Message is the Kafka message of a queued one: keyed by the job name (a job's runs stay in
// one partition, in the order they ended), with the contract headers and the idempotency key.
func Message(topic string, m store.Message) kafkago.Message {
	return kafkago.Message{Topic: topic, Key: m.Key, Value: m.Value,
		Headers: append(kafka.Headers(kafka.ContentTypeProtobuf, SchemaName, 0),
			kafkago.Header{Key: HeaderIdempotencyKey, Value: []byte(m.ID)})}
}

// SchemaName is the schema header of a results message.
var SchemaName = string((&reconcilev1.Run{}).ProtoReflect().Descriptor().FullName())
