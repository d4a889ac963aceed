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
	Seq      int64
	Type     string
	RecordID string
	Leaf     []byte
	Batch    *Batch // sealed and anchored events
	At       time.Time
}

// Events returns the events after seq, oldest first, with their batches; unpublished only
// restricts them to those not sent to the records topic yet.
func (s *Service) Events(ctx context.Context, afterSeq int64, limit int, unpublished bool) ([]*Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, type, record_id, leaf_hash, batch, at FROM reconcile.evidence_events
		WHERE seq > $1 AND (NOT $2 OR NOT published) ORDER BY seq LIMIT $3`, afterSeq, unpublished, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	var out []*Event
	batches := map[int64]*Batch{}
	var e Event
	var batch *int64
	if _, err := pgx.ForEachRow(rows, []any{&e.Seq, &e.Type, &e.RecordID, &e.Leaf, &batch, &e.At}, func() error {
		ev := e
		if batch != nil && *batch != 0 {
			batches[*batch] = nil
			ev.Batch = &Batch{Number: *batch}
		}
		out = append(out, &ev)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	for n := range batches {
		b, err := s.GetBatch(ctx, n, nil)
		if err != nil {
			return nil, err
		}
		batches[n] = b
	}
	for _, ev := range out {
		if ev.Batch != nil {
			ev.Batch = batches[ev.Batch.Number]
		}
	}
	return out, nil
}

// publishEvents sends the events not published yet to the records topic, then marks them.
// A crash between the two sends them again: consumers see an event at least once (its seq
// tells a repeat).
func (s *Service) publishEvents(ctx context.Context) error {
	if s.cfg.Publish == nil {
		return nil
	}
	for {
		evs, err := s.Events(ctx, 0, 500, true)
		if err != nil || len(evs) == 0 {
			return err
		}
		if err := s.cfg.Publish(ctx, evs); err != nil {
			return fmt.Errorf("publish record events: %w", err)
		}
		if _, err := s.pool.Exec(ctx, `UPDATE reconcile.evidence_events SET published = true WHERE seq <= $1 AND NOT published`, evs[len(evs)-1].Seq); err != nil {
			return fmt.Errorf("mark events published: %w", err)
		}
	}
}

// Subscribe calls send with every event after afterSeq, then with each new one, until ctx
// ends or send fails.
func (s *Service) Subscribe(ctx context.Context, afterSeq int64, send func(*Event) error) error {
	for {
		wake := s.events.wait()
		evs, err := s.Events(ctx, afterSeq, 500, false)
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
		case <-time.After(time.Second): // events committed by another process
		}
	}
}
