package audit

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/retry"
	auditv1 "github.com/bcosdata/bcosdata/proto/bcosdata/audit/v1"
)

// publishInterval is how often the publisher looks for records it was not woken for (those
// another replica wrote, or left unpublished at its last stop).
const publishInterval = time.Second

// publishLoop publishes the table's unpublished records until ctx ends; a broker away only
// delays them (they wait in the table).
func (t *Trail) publishLoop(ctx context.Context) {
	if t.cfg.EnsureTopic != nil {
		err := retry.Forever(ctx, t.cfg.Retry, t.cfg.EnsureTopic, func(f retry.Failure) {
			t.log.Warn("create audit topic failed, retrying", zap.String("topic", t.cfg.Topic), zap.Error(f.Err), zap.Duration("wait", f.Wait))
		})
		if err != nil {
			return
		}
	}
	b := t.cfg.Retry.NewBackoff()
	tick := time.NewTicker(publishInterval)
	defer tick.Stop()
	for {
		n, err := t.publishOnce(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			wait := b.Next()
			t.log.Warn("publish audit records failed, retrying", zap.String("topic", t.cfg.Topic), zap.Error(err), zap.Duration("wait", wait))
			if !retry.Sleep(ctx, wait) {
				return
			}
			continue
		case err == nil:
			b.Reset()
			if n == maxBatch {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
		case <-tick.C:
		}
	}
}

// publishOnce publishes the next unpublished records, at most maxBatch, holding the published
// row FOR UPDATE so replicas do not publish the same records twice. It returns how many.
func (t *Trail) publishOnce(ctx context.Context) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error {
		var done int64
		if err := tx.QueryRow(ctx, "SELECT seq FROM "+t.table("audit_published")+" FOR UPDATE").Scan(&done); err != nil {
			return fmt.Errorf("lock audit publication of %s: %w", t.cfg.Schema, err)
		}
		rows, err := tx.Query(ctx, "SELECT "+selectColumns+" FROM "+t.table("audit")+" WHERE seq > $1 ORDER BY seq LIMIT $2", done, maxBatch)
		if err != nil {
			return fmt.Errorf("read unpublished audit records of %s: %w", t.cfg.Schema, err)
		}
		recs, err := pgx.CollectRows(rows, scanRecord)
		if err != nil {
			return fmt.Errorf("read unpublished audit records of %s: %w", t.cfg.Schema, err)
		}
		if len(recs) == 0 {
			return nil
		}
		msgs := make([]kafkago.Message, len(recs))
		for i, r := range recs {
			value, err := proto.Marshal(toProto(t.cfg.Service, r))
			if err != nil {
				return fmt.Errorf("encode audit record %d: %w", r.Seq, err)
			}
			msgs[i] = kafkago.Message{
				Topic: t.cfg.Topic,
				// One key per trail: its records stay in order on one partition.
				Key:   []byte(t.cfg.Service),
				Value: value,
				// block-number 0, as on every topic whose messages span no one block.
				Headers: kafka.Headers(kafka.ContentTypeProtobuf, string(proto.MessageName(&auditv1.AuditRecord{})), 0),
			}
		}
		if err := t.cfg.Publisher.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("publish audit records %d-%d to %s: %w", recs[0].Seq, recs[len(recs)-1].Seq, t.cfg.Topic, err)
		}
		last := int64(recs[len(recs)-1].Seq)
		if _, err := tx.Exec(ctx, "UPDATE "+t.table("audit_published")+" SET seq = $1", last); err != nil {
			return fmt.Errorf("record audit publication of %s: %w", t.cfg.Schema, err)
		}
		n = len(recs)
		return nil
	})
	if err == nil {
		t.metrics.published.WithLabelValues(t.cfg.Service).Add(float64(n))
	}
	return n, err
}

// hex0x is the API's form of a hash.
func hex0x(b []byte) string { return "0x" + hex.EncodeToString(b) }

func toProto(service string, r Record) *auditv1.AuditRecord {
	return &auditv1.AuditRecord{
		Service: service, Seq: r.Seq, Time: timestamppb.New(r.Time), Subject: r.Subject, Roles: r.Roles,
		Via: r.Via, Peer: r.Peer, Rpc: r.RPC, Resource: r.Resource, Allowed: r.Allowed, Reason: r.Reason,
		RequestId: r.RequestID, PrevHash: hex0x(r.PrevHash), Hash: hex0x(r.Hash),
	}
}
