package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// Message is a reconcile.results.v1 message in the outbox (migrations/002_outbox.sql).
type Message struct {
	RunID int64
	Key   []byte
	Value []byte
	// ID is the message's idempotency key: the same on every copy of it.
	ID string
}

// Enqueue adds the message of a run that ended to the outbox, in the transaction that ends it.
// A run has one message: one already queued for it is kept.
func Enqueue(ctx context.Context, tx pgx.Tx, m Message) error {
	if _, err := tx.Exec(ctx, `INSERT INTO reconcile.outbox (run_id, key, value, message_id) VALUES ($1, $2, $3, $4)
		ON CONFLICT (run_id) DO NOTHING`,
		m.RunID, m.Key, m.Value, m.ID); err != nil {
		return fmt.Errorf("queue the results message of run %d: %w", m.RunID, err)
	}
	return nil
}

// PublishNext hands the oldest queued messages (at most limit) to send and removes them once
// send returns nil, in one transaction. The rows stay locked meanwhile (other instances skip
// them), so a message is sent twice only when a process dies, or the database fails, between
// send and the commit: then the next round sends the same bytes again. It returns how many
// messages were published.
func (s *Store) PublishNext(ctx context.Context, limit int, send func([]Message) error) (int, error) {
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin publish round: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	rows, err := tx.Query(ctx, `SELECT id, run_id, key, value, message_id FROM reconcile.outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	var (
		ids []int64
		ms  []Message
	)
	for rows.Next() {
		var (
			id int64
			m  Message
		)
		if err := rows.Scan(&id, &m.RunID, &m.Key, &m.Value, &m.ID); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read outbox: %w", err)
		}
		ids, ms = append(ids, id), append(ms, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	if len(ms) == 0 {
		return 0, nil
	}
	if err := send(ms); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM reconcile.outbox WHERE id = ANY($1)`, ids); err != nil {
		return 0, fmt.Errorf("remove published messages from the outbox: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit publish round: %w", err)
	}
	return len(ms), nil
}

// OutboxBacklog returns how many messages are queued and not published yet.
func (s *Store) OutboxBacklog(ctx context.Context) (int64, error) {
	var n int64
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM reconcile.outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read outbox backlog: %w", err)
	}
	return n, nil
}

// Label names what a run reconciled: its business date, or run<id> for a run given a file
// only.
func (r *Run) Label() string {
	if r.BusinessDate != "" {
		return r.BusinessDate
	}
	return "run" + strconv.FormatInt(r.ID, 10)
}

// MessageID is the idempotency key of a run's results message: job/date/vN (job/run<id>/vN
// for a run given a file only). A run ends once, so every copy of its message has the same.
func (r *Run) MessageID() string {
	return fmt.Sprintf("%s/%s/v%d", r.Job, r.Label(), r.Version)
}
