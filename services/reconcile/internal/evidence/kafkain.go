package evidence

import (
	"context"
	"errors"
	"fmt"

	kafkago "github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/pgoffset"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
)

// InHandler is the kafka.Handler of bcos.<chain>.<group>.records.in.v1: one record per
// message, as protobuf or JSON with the bus headers (schema bcosdata.reconcile.v1.EvidenceRecord),
// or as bare JSON without headers. A batch's records and the consumed offsets commit in one
// transaction. A record refused makes the batch fail as permanent: the consumer then applies
// the messages one at a time and dead-letters the refused one, its reason in the dlq headers.
type InHandler struct {
	svc     *Service
	offsets *pgoffset.Store
	groupID string
}

// NewInHandler returns the handler; groupID is the consumer group whose offsets it records.
func (s *Service) NewInHandler(offsets *pgoffset.Store, groupID string) *InHandler {
	return &InHandler{svc: s, offsets: offsets, groupID: groupID}
}

// Handle accepts one partition's batch.
func (h *InHandler) Handle(ctx context.Context, msgs []kafkago.Message) error {
	// A batch refused is applied again one message at a time: count refusals then only.
	count := func(reason string) {
		if len(msgs) == 1 {
			h.svc.metrics.Rejected.WithLabelValues(reason).Inc()
		}
	}
	in := make([]Incoming, len(msgs))
	for i, m := range msgs {
		var p reconcilev1.EvidenceRecord
		if _, ok := kafka.HeaderValue(m.Headers, kafka.HeaderSchema); ok {
			if err := kafka.DecodeInto(m, &p); err != nil {
				count(ReasonInvalid)
				return err
			}
		} else if err := protojson.Unmarshal(m.Value, &p); err != nil {
			count(ReasonInvalid)
			return kafka.Permanent(fmt.Errorf("%s partition %d offset %d: %s: %w", m.Topic, m.Partition, m.Offset, ReasonInvalid, err))
		}
		rec, err := RecordFromProto(&p)
		if err != nil {
			count(ReasonInvalid)
			return kafka.Permanent(fmt.Errorf("%s partition %d offset %d: %w", m.Topic, m.Partition, m.Offset, err))
		}
		in[i] = Incoming{Record: rec, Source: "kafka"}
	}
	items := h.svc.checkAll(ctx, in)
	tx, err := h.svc.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := h.svc.store(ctx, tx, items); err != nil {
		return err
	}
	for i, it := range items {
		var rej *Rejection
		if errors.As(it.err, &rej) {
			count(rej.Reason)
			m := msgs[i]
			return kafka.Permanent(fmt.Errorf("%s partition %d offset %d: %w", m.Topic, m.Partition, m.Offset, rej))
		}
	}
	if err := h.offsets.Record(ctx, tx, h.groupID, msgs); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	for _, it := range items {
		if !it.out.Again {
			h.svc.metrics.Accepted.WithLabelValues("kafka").Inc()
		}
	}
	h.svc.changed()
	return nil
}
