package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// OutboxChannel is the notification channel of the outbox: every transaction that queues
// messages notifies it, delivered when it commits.
const OutboxChannel = "export_outbox"

// Listen calls wake each time a transaction that queued messages commits (in any instance),
// until ctx ends. It listens on a connection of its own, taken out of the pool; after a
// failure it connects again, calling wake once more for what it may have missed.
func (s *Store) Listen(ctx context.Context, wake func()) {
	for {
		_ = s.listen(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		wake()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (s *Store) listen(ctx context.Context, wake func()) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := c.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+OutboxChannel); err != nil {
		return fmt.Errorf("listen %s: %w", OutboxChannel, err)
	}
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("wait for %s: %w", OutboxChannel, err)
		}
		wake()
	}
}

// Queued is an outbox message with its sequence number.
type Queued struct {
	Seq int64
	Message
}

// PublishNext hands the next messages after the last published one (at most limit, in
// sequence order) to send, and records them published once send returns nil. The progress row
// stays locked meanwhile, so the publishers of several instances take turns and never send a
// message twice unless one dies between sending and recording (then the next one sends the
// same bytes again). It returns how many messages were published.
func (s *Store) PublishNext(ctx context.Context, limit int, send func([]Queued) error) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin publish round: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var last int64
	if err := tx.QueryRow(ctx, `SELECT published_seq FROM export.outbox_progress FOR UPDATE`).Scan(&last); err != nil {
		return 0, fmt.Errorf("read publish progress: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT seq, topic, key, value, schema, block_number, transaction_hash, log_index
		FROM export.outbox WHERE seq > $1 ORDER BY seq LIMIT $2`, last, limit)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	var qs []Queued
	for rows.Next() {
		var q Queued
		var bn int64
		if err := rows.Scan(&q.Seq, &q.Topic, &q.Key, &q.Value, &q.Schema, &bn, &q.TxHash, &q.LogIndex); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read outbox: %w", err)
		}
		q.BlockNumber = uint64(bn)
		qs = append(qs, q)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	if len(qs) == 0 {
		return 0, nil
	}
	if err := send(qs); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE export.outbox_progress SET published_seq = $1, published = published + $2, updated_at = now()`,
		qs[len(qs)-1].Seq, len(qs)); err != nil {
		return 0, fmt.Errorf("record outbox published up to %d: %w", qs[len(qs)-1].Seq, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit publish round: %w", err)
	}
	return len(qs), nil
}

// OutboxBacklog returns how many queued messages are not published yet.
func (s *Store) OutboxBacklog(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT p.events_queued + p.calls_queued - o.published FROM export.progress p, export.outbox_progress o`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read outbox backlog: %w", err)
	}
	return n, nil
}

// Counts are the totals Status reports.
type Counts struct {
	Events, Calls, Backlog, Failures uint64
}

// Counts returns the messages queued per decoded topic, those not yet published, and the
// decode failures recorded: the counters kept with the rows (see Tx.Commit), so Status costs
// the same at any size.
func (s *Store) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	err := s.pool.QueryRow(ctx, `SELECT p.events_queued, p.calls_queued, p.events_queued + p.calls_queued - o.published, p.decode_failures
		FROM export.progress p, export.outbox_progress o`).Scan(&c.Events, &c.Calls, &c.Backlog, &c.Failures)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read counters: %w", err)
	}
	return c, nil
}
