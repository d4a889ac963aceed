package evidence

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Event is a row of evidence_events: a record accepted, superseded, revoked or erased, or a
// batch sealed or anchored.
type Event struct {
	// Seq is the publication order (pub_seq): what RecordEvent.seq and SubscribeRecords use.
	Seq      int64
	Type     string
	RecordID string
	Leaf     []byte
	Batch    *Batch // sealed and anchored events
	At       time.Time
}

// outboxLock serialises publishers (several reconcile processes on one database) so that
// pub_seq follows publication order.
const outboxLock = 0x65766964 // "evid"

// scanEvents reads event rows (seq, type, record_id, leaf_hash, batch, at) and their batches.
func (s *Service) scanEvents(ctx context.Context, rows pgx.Rows) ([]*Event, []int64, error) {
	var out []*Event
	var rowSeqs []int64
	batches := map[int64]*Batch{}
	var e Event
	var rowSeq int64
	var batch *int64
	if _, err := pgx.ForEachRow(rows, []any{&rowSeq, &e.Seq, &e.Type, &e.RecordID, &e.Leaf, &batch, &e.At}, func() error {
		ev := e
		if batch != nil && *batch != 0 {
			batches[*batch] = nil
			ev.Batch = &Batch{Number: *batch}
		}
		out = append(out, &ev)
		rowSeqs = append(rowSeqs, rowSeq)
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("read events: %w", err)
	}
	for n := range batches {
		b, err := s.GetBatch(ctx, n, nil)
		if err != nil {
			return nil, nil, err
		}
		batches[n] = b
	}
	for _, ev := range out {
		if ev.Batch != nil {
			ev.Batch = batches[ev.Batch.Number]
		}
	}
	return out, rowSeqs, nil
}

// Events returns the published events after pub_seq afterSeq, in publication order.
func (s *Service) Events(ctx context.Context, afterSeq int64, limit int) ([]*Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, pub_seq, type, record_id, leaf_hash, batch, at FROM reconcile.evidence_events
		WHERE pub_seq > $1 ORDER BY pub_seq LIMIT $2`, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	out, _, err := s.scanEvents(ctx, rows)
	return out, err
}

// publishEvents numbers the events not published yet, sends them to the records topic and
// marks them, in one transaction. A crash after the send and before the commit sends them
// again: consumers see an event at least once, with the same record or batch (a repeat may
// carry another seq).
func (s *Service) publishEvents(ctx context.Context) error {
	for {
		n, err := s.publishSome(ctx)
		if err != nil || n == 0 {
			return err
		}
		s.events.notify()
	}
}

func (s *Service) publishSome(ctx context.Context) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, outboxLock); err != nil {
			return fmt.Errorf("lock outbox: %w", err)
		}
		var last int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(pub_seq), 0) FROM reconcile.evidence_events`).Scan(&last); err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT seq, $1 + row_number() OVER (ORDER BY seq), type, record_id, leaf_hash, batch, at
			FROM reconcile.evidence_events WHERE pub_seq IS NULL ORDER BY seq LIMIT 500`, last)
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		evs, seqs, err := s.scanEvents(ctx, rows)
		if err != nil || len(evs) == 0 {
			return err
		}
		if s.cfg.Publish != nil {
			if err := s.cfg.Publish(ctx, evs); err != nil {
				return fmt.Errorf("publish record events: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE reconcile.evidence_events e SET pub_seq = $2 + t.i
			FROM unnest($1::bigint[]) WITH ORDINALITY AS t(seq, i) WHERE e.seq = t.seq`, seqs, last); err != nil {
			return fmt.Errorf("mark events published: %w", err)
		}
		n = len(evs)
		return nil
	})
	return n, err
}

// Subscribe calls send with every published event after afterSeq, then with each new one,
// until ctx ends or send fails.
func (s *Service) Subscribe(ctx context.Context, afterSeq int64, send func(*Event) error) error {
	for {
		wake := s.events.wait()
		evs, err := s.Events(ctx, afterSeq, 500)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if err := send(e); err != nil {
				return err
			}
			afterSeq = e.Seq
		}
		if len(evs) == 500 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-time.After(time.Second): // events published by another process
		}
	}
}
