package evidence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/crypto/fieldcrypt"
	"github.com/bcosdata/bcosdata/libs/evidence"
)

// Batch states.
const (
	StateSealed   = "sealed"
	StateSent     = "sent"
	StateAnchored = "anchored"
)

// Batch is a row of evidence_batches.
type Batch struct {
	Number      int64
	ID          [32]byte
	Segment     string
	Root        [32]byte
	Count       int
	State       string
	CreatedMs   int64
	SealedAt    time.Time
	Archived    bool
	TxHash      *common.Hash
	SentAt      *time.Time
	Contract    string
	BlockNumber *int64
	BlockHash   *common.Hash
	LogIndex    *int32
	AnchoredAt  *time.Time
}

const batchColumns = `number, batch_id, segment, root, count, state, created_ms, sealed_at, archived, tx_hash, sent_at,
	coalesce(contract, ''), block_number, block_hash, log_index, anchored_at`

func scanBatch(row pgx.Row) (*Batch, error) {
	b := &Batch{}
	var id, root, tx, bh []byte
	err := row.Scan(&b.Number, &id, &b.Segment, &root, &b.Count, &b.State, &b.CreatedMs, &b.SealedAt, &b.Archived, &tx, &b.SentAt,
		&b.Contract, &b.BlockNumber, &bh, &b.LogIndex, &b.AnchoredAt)
	if err != nil {
		return nil, err
	}
	copy(b.ID[:], id)
	copy(b.Root[:], root)
	if tx != nil {
		h := common.BytesToHash(tx)
		b.TxHash = &h
	}
	if bh != nil {
		h := common.BytesToHash(bh)
		b.BlockHash = &h
	}
	return b, nil
}

// sealDue seals the unsealed records into batches while a full batch is there or the oldest
// waited BatchAge, and refreshes the spool gauge.
func (s *Service) sealDue(ctx context.Context) error {
	for {
		var n int64
		var oldest *time.Time
		if err := s.pool.QueryRow(ctx, `SELECT count(*), min(accepted_at) FROM reconcile.evidence_records WHERE batch IS NULL`).Scan(&n, &oldest); err != nil {
			return fmt.Errorf("count unsealed records: %w", err)
		}
		s.metrics.Spool.Set(float64(n))
		if n == 0 || (n < int64(s.cfg.BatchSize) && s.now().Sub(*oldest) < s.cfg.BatchAge) {
			return nil
		}
		if _, err := s.seal(ctx); err != nil {
			return err
		}
	}
}

// seal makes a batch of up to BatchSize unsealed records, oldest first, in one transaction:
// the batch row with its root and segment name, each record's batch and leaf index, and the
// sealed event. Nothing is archived or sent here.
func (s *Service) seal(ctx context.Context) (*Batch, error) {
	var b *Batch
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT seq, leaf_hash FROM reconcile.evidence_records WHERE batch IS NULL ORDER BY seq LIMIT $1 FOR UPDATE`, s.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("read unsealed records: %w", err)
		}
		var seqs []int64
		var leaves [][32]byte
		var seq int64
		var leaf []byte
		if _, err := pgx.ForEachRow(rows, []any{&seq, &leaf}, func() error {
			seqs = append(seqs, seq)
			leaves = append(leaves, [32]byte(leaf))
			return nil
		}); err != nil {
			return fmt.Errorf("read unsealed records: %w", err)
		}
		if len(seqs) == 0 {
			return nil
		}
		var number int64
		if err := tx.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('reconcile.evidence_batches', 'number'))`).Scan(&number); err != nil {
			return fmt.Errorf("number batch: %w", err)
		}
		b = &Batch{Number: number, Root: evidence.Root(leaves), Count: len(leaves), State: StateSealed, CreatedMs: s.now().UnixMilli()}
		b.Segment = fmt.Sprintf("%s-group%d-%08d.evseg", s.cfg.Chain, s.cfg.Group, number)
		b.ID = evidence.BatchID(b.Segment, b.Root)
		if _, err := tx.Exec(ctx, `INSERT INTO reconcile.evidence_batches (number, batch_id, segment, root, count, state, created_ms)
			VALUES ($1, $2, $3, $4, $5, 'sealed', $6)`, number, b.ID[:], b.Segment, b.Root[:], b.Count, b.CreatedMs); err != nil {
			return fmt.Errorf("store batch %d: %w", number, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE reconcile.evidence_records r SET batch = $1, leaf_index = t.i - 1
			FROM unnest($2::bigint[]) WITH ORDINALITY AS t(seq, i) WHERE r.seq = t.seq`, number, seqs); err != nil {
			return fmt.Errorf("assign records to batch %d: %w", number, err)
		}
		return addEvent(ctx, tx, "sealed", "", nil, number)
	})
	if err != nil || b == nil {
		return nil, err
	}
	s.metrics.Sealed.Inc()
	s.log.Info("batch sealed", zap.Int64("batch", b.Number), zap.Int("records", b.Count), zap.String("segment", b.Segment))
	s.sealed.notify()
	s.changed()
	return b, nil
}

// batchRecords returns a batch's records in leaf order, as signed (payloads of erased
// records, and of sensitive categories, absent: the archive keeps no personal data, and the
// leaves hash the payload's hash, never the payload).
func (s *Service) batchRecords(ctx context.Context, number int64) ([]evidence.Record, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+recordColumns+` FROM reconcile.evidence_records WHERE batch = $1 ORDER BY leaf_index`, number)
	if err != nil {
		return nil, fmt.Errorf("read records of batch %d: %w", number, err)
	}
	defer rows.Close()
	var out []evidence.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("read records of batch %d: %w", number, err)
		}
		if s.cfg.SensitiveCategory(r.Record.Category) || fieldcrypt.IsSealed(string(r.Record.Payload)) {
			r.Record.Payload = nil
		}
		out = append(out, r.Record)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read records of batch %d: %w", number, err)
	}
	return out, nil
}

// anchorDue archives the segments not archived yet and sends the batches due: sealed ones,
// sent ones from before this start, and sent ones whose event has not come within Resend.
func (s *Service) anchorDue(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `SELECT `+batchColumns+` FROM reconcile.evidence_batches WHERE state <> 'anchored' OR NOT archived ORDER BY number`)
	if err != nil {
		return fmt.Errorf("read pending batches: %w", err)
	}
	batches, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Batch, error) { return scanBatch(row) })
	if err != nil {
		return fmt.Errorf("read pending batches: %w", err)
	}
	var errs []error
	for _, b := range batches {
		if ctx.Err() != nil {
			break // stopping: the loop ends at its next turn
		}
		if !b.Archived {
			if err := s.archive(ctx, b); err != nil {
				errs = append(errs, err)
				continue // never anchor what is not archived
			}
		}
		if s.cfg.Anchorer == nil || !s.due(b) {
			continue
		}
		if r, ok := s.retryAt[b.Number]; ok && time.Now().Before(r.at) {
			errs = append(errs, r.err) // still failing, as far as we know
			continue
		}
		if err := s.send(ctx, b); err != nil {
			// Wait before trying this batch again (1 s doubling, at most Resend): a node that
			// refuses or is away is not asked again at every turn.
			r := s.retryAt[b.Number]
			r.wait = min(max(2*r.wait, time.Second), s.cfg.Resend)
			r.at, r.err = time.Now().Add(r.wait), err
			s.retryAt[b.Number] = r
			errs = append(errs, err)
			continue
		}
		delete(s.retryAt, b.Number)
	}
	return errors.Join(errs...)
}

func (s *Service) due(b *Batch) bool {
	switch b.State {
	case StateSealed:
		return true
	case StateSent:
		// Real time, as the database's sent_at: the batch was sent before this start, or long ago.
		return b.SentAt == nil || b.SentAt.Before(s.started) || time.Since(*b.SentAt) >= s.cfg.Resend
	}
	return false
}

// archive writes a batch's segment (again: the same bytes but for erased payloads).
func (s *Service) archive(ctx context.Context, b *Batch) error {
	recs, err := s.batchRecords(ctx, b.Number)
	if err != nil {
		return err
	}
	if len(recs) != b.Count {
		return fmt.Errorf("batch %d has %d records, its row says %d", b.Number, len(recs), b.Count)
	}
	var buf bytes.Buffer
	hdr := evidence.SegmentHeader{Version: evidence.SegmentVersion, Name: b.Segment, BatchID: b.ID, Root: b.Root, Count: b.Count, Created: time.UnixMilli(b.CreatedMs).UTC()}
	if err := evidence.WriteSegment(&buf, hdr, recs); err != nil {
		return fmt.Errorf("write segment %s: %w", b.Segment, err)
	}
	uri := s.segmentURI(b.Segment)
	if err := s.cfg.Archiver.Put(ctx, uri, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		return fmt.Errorf("archive segment %s: %w", uri, err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE reconcile.evidence_batches SET archived = true WHERE number = $1`, b.Number); err != nil {
		return fmt.Errorf("mark batch %d archived: %w", b.Number, err)
	}
	b.Archived = true
	s.log.Debug("segment archived", zap.Int64("batch", b.Number), zap.String("uri", uri), zap.Int("bytes", buf.Len()))
	return nil
}

// send anchors a batch root and marks it sent; an anchor of ours already on chain counts as
// sent. The batch becomes anchored only through Confirm.
func (s *Service) send(ctx context.Context, b *Batch) error {
	tx, err := s.cfg.Anchorer.Anchor(ctx, b.ID, b.Root, b.Count, b.Segment)
	var txHash []byte
	switch {
	case errors.Is(err, ErrAlreadyAnchored):
		s.log.Info("batch anchored by us already", zap.Int64("batch", b.Number))
	case err != nil:
		return fmt.Errorf("anchor batch %d (%s): %w", b.Number, b.Segment, err)
	default:
		txHash = tx.Bytes()
	}
	s.metrics.Sent.Inc()
	if _, err := s.pool.Exec(ctx, `UPDATE reconcile.evidence_batches SET state = 'sent', tx_hash = coalesce($2, tx_hash), sent_at = now(),
		send_count = send_count + 1 WHERE number = $1 AND state <> 'anchored'`, b.Number, txHash); err != nil {
		return fmt.Errorf("mark batch %d sent: %w", b.Number, err)
	}
	s.log.Info("batch sent", zap.Int64("batch", b.Number), zap.String("tx", tx.Hex()))
	return nil
}

// StoredEvent is an EvidenceStored event read from events.v1.
type StoredEvent struct {
	Contract    common.Address
	ID, DocHash [32]byte
	Submitter   common.Address
	BlockNumber uint64
	BlockHash   common.Hash
	TxHash      common.Hash
	LogIndex    uint32
}

// Confirm marks the batches of the events anchored, in tx (the consumer's transaction, which
// records the consumed offsets too). Events of other contracts, other ids or other roots are
// not ours and change nothing. after is to be called once tx committed.
func (s *Service) Confirm(ctx context.Context, tx pgx.Tx, events []StoredEvent) (after func(), err error) {
	var anchored []int64
	for _, e := range events {
		if s.cfg.Contract == "" || e.Contract != common.HexToAddress(s.cfg.Contract) {
			continue
		}
		var number int64
		err := tx.QueryRow(ctx, `UPDATE reconcile.evidence_batches SET state = 'anchored', contract = $3, block_number = $4, block_hash = $5,
				tx_hash = $6, log_index = $7, anchored_at = now()
			WHERE batch_id = $1 AND root = $2 AND state <> 'anchored' RETURNING number`,
			e.ID[:], e.DocHash[:], strings.ToLower(e.Contract.Hex()), int64(e.BlockNumber), e.BlockHash.Bytes(), e.TxHash.Bytes(), int32(e.LogIndex)).Scan(&number)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("confirm batch %x: %w", e.ID, err)
		}
		if err := addEvent(ctx, tx, "anchored", "", nil, number); err != nil {
			return nil, err
		}
		anchored = append(anchored, number)
	}
	if len(anchored) == 0 {
		return func() {}, nil
	}
	var waits []float64
	rows, err := tx.Query(ctx, `SELECT extract(epoch FROM now() - accepted_at)::float8 FROM reconcile.evidence_records WHERE batch = ANY($1)`, anchored)
	if err != nil {
		return nil, fmt.Errorf("read acceptance times: %w", err)
	}
	var w float64
	if _, err := pgx.ForEachRow(rows, []any{&w}, func() error { waits = append(waits, w); return nil }); err != nil {
		return nil, fmt.Errorf("read acceptance times: %w", err)
	}
	return func() {
		s.metrics.Anchored.Add(float64(len(anchored)))
		for _, w := range waits {
			s.metrics.ToAnchor.Observe(w)
		}
		s.log.Info("batches anchored", zap.Int64s("batches", anchored))
		s.changed()
	}, nil
}
