package evidence

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bcosdata/bcosdata/libs/evidence"
)

// Finding kinds.
const (
	FindingNotAnchored    = "record_not_anchored"
	FindingRootNotOurs    = "root_not_ours"
	FindingSegmentAltered = "segment_altered"
	FindingSegmentMissing = "segment_missing"
)

// Finding is one problem a verification found.
type Finding struct {
	Kind     string
	RecordID string
	Batch    int64
	Detail   string
}

// Verification is a verification run.
type Verification struct {
	ID                                              int64
	State, Trigger, Error                           string
	Started                                         time.Time
	Finished                                        *time.Time
	RecordsChecked, BatchesChecked, SegmentsChecked int64
	Findings                                        []Finding
}

// maxFindings bounds the findings kept per kind, so a broken archive does not flood the table.
const maxFindings = 1000

// Verify runs a verification now and stores its findings: every record accepted more than
// Grace ago is in an anchored batch; every EvidenceStored event our account emitted (as
// consumed from events.v1) anchors a batch we sealed, with its root; every archived segment
// still hashes to its batch's root and count.
func (s *Service) Verify(ctx context.Context, trigger string) (*Verification, error) {
	v := &Verification{Trigger: trigger, State: "running"}
	if err := s.pool.QueryRow(ctx, `INSERT INTO reconcile.evidence_verifications (state, trigger) VALUES ('running', $1) RETURNING id, started_at`,
		trigger).Scan(&v.ID, &v.Started); err != nil {
		return nil, fmt.Errorf("start verification: %w", err)
	}
	err := s.verify(ctx, v)
	v.State = "succeeded"
	if err != nil {
		v.Error = err.Error()
	}
	if err != nil || len(v.Findings) > 0 {
		v.State = "failed"
	}
	err = pgx.BeginFunc(context.WithoutCancel(ctx), s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE reconcile.evidence_verifications SET state = $2, finished_at = now(), records_checked = $3,
			batches_checked = $4, segments_checked = $5, error = $6 WHERE id = $1`,
			v.ID, v.State, v.RecordsChecked, v.BatchesChecked, v.SegmentsChecked, v.Error); err != nil {
			return err
		}
		for i, f := range v.Findings {
			if _, err := tx.Exec(ctx, `INSERT INTO reconcile.evidence_findings (verification, n, kind, record_id, batch, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
				v.ID, i, f.Kind, f.RecordID, f.Batch, f.Detail); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store verification %d: %w", v.ID, err)
	}
	s.log.Info("evidence verification", zap.Int64("id", v.ID), zap.String("state", v.State), zap.Int("findings", len(v.Findings)))
	return s.GetVerification(ctx, v.ID)
}

func (s *Service) verify(ctx context.Context, v *Verification) error {
	// Records without an anchored batch, beyond the grace.
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM reconcile.evidence_records`).Scan(&v.RecordsChecked); err != nil {
		return fmt.Errorf("count records: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT r.id, coalesce(r.batch, 0), coalesce(b.state, 'unsealed') FROM reconcile.evidence_records r
		LEFT JOIN reconcile.evidence_batches b ON b.number = r.batch
		WHERE (b.state IS NULL OR b.state <> 'anchored') AND r.accepted_at < now() - $1::interval ORDER BY r.seq LIMIT $2`,
		s.cfg.Grace, maxFindings)
	if err != nil {
		return fmt.Errorf("find unanchored records: %w", err)
	}
	var id, state string
	var batch int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &batch, &state}, func() error {
		v.Findings = append(v.Findings, Finding{Kind: FindingNotAnchored, RecordID: id, Batch: batch,
			Detail: fmt.Sprintf("accepted more than %s ago, its batch is %s", s.cfg.Grace, state)})
		return nil
	}); err != nil {
		return fmt.Errorf("find unanchored records: %w", err)
	}

	// Anchors of our account on chain (from events.v1) that are not batches we sealed.
	if s.cfg.Contract != "" && s.cfg.Anchorer != nil {
		rows, err := s.pool.Query(ctx, `SELECT c.params->>'id', c.params->>'docHash', c.transaction_hash, c.block_number,
				b.number, b.root FROM reconcile.records c
			LEFT JOIN reconcile.evidence_batches b ON b.batch_id = decode(substr(c.params->>'id', 3), 'hex')
			WHERE c.kind = 'event' AND c.contract_address = $1 AND c.name = 'EvidenceStored' AND lower(c.params->>'submitter') = $2`,
			strings.ToLower(s.cfg.Contract), strings.ToLower(s.cfg.Submitter.Hex()))
		if err != nil {
			return fmt.Errorf("read anchors on chain: %w", err)
		}
		var id, doc, tx string
		var block int64
		var number *int64
		var root []byte
		if _, err := pgx.ForEachRow(rows, []any{&id, &doc, &tx, &block, &number, &root}, func() error {
			v.BatchesChecked++
			switch {
			case number == nil:
				v.Findings = append(v.Findings, Finding{Kind: FindingRootNotOurs,
					Detail: fmt.Sprintf("batch id %s (root %s) anchored in block %d transaction %s was never sealed here", id, doc, block, tx)})
			case !strings.EqualFold(doc, "0x"+hex.EncodeToString(root)):
				v.Findings = append(v.Findings, Finding{Kind: FindingRootNotOurs, Batch: *number,
					Detail: fmt.Sprintf("batch id %s anchored with root %s in block %d, sealed with root 0x%x", id, doc, block, root)})
			}
			return nil
		}); err != nil {
			return fmt.Errorf("read anchors on chain: %w", err)
		}
	}

	// Archived segments against their batches.
	rows, err = s.pool.Query(ctx, `SELECT `+batchColumns+` FROM reconcile.evidence_batches WHERE archived ORDER BY number`)
	if err != nil {
		return fmt.Errorf("read batches: %w", err)
	}
	batches, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Batch, error) { return scanBatch(row) })
	if err != nil {
		return fmt.Errorf("read batches: %w", err)
	}
	for _, b := range batches {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		v.SegmentsChecked++
		if f := s.checkSegment(ctx, b); f != nil {
			v.Findings = append(v.Findings, *f)
		}
	}
	return nil
}

// checkSegment reads a batch's archived segment and recomputes its root.
func (s *Service) checkSegment(ctx context.Context, b *Batch) *Finding {
	uri := s.segmentURI(b.Segment)
	f, err := s.cfg.Archiver.Open(ctx, uri)
	if err != nil {
		return &Finding{Kind: FindingSegmentMissing, Batch: b.Number, Detail: fmt.Sprintf("open %s: %v", uri, err)}
	}
	defer f.Close()
	root, n, err := evidence.VerifySegment(f)
	switch {
	case err != nil:
		return &Finding{Kind: FindingSegmentAltered, Batch: b.Number, Detail: fmt.Sprintf("%s: %v", uri, err)}
	case root != b.Root || n != b.Count:
		return &Finding{Kind: FindingSegmentAltered, Batch: b.Number,
			Detail: fmt.Sprintf("%s: %d records with root 0x%x, the batch sealed %d with root 0x%x", uri, n, root, b.Count, b.Root)}
	}
	return nil
}

// GetVerification returns a verification run with its findings.
func (s *Service) GetVerification(ctx context.Context, id int64) (*Verification, error) {
	v := &Verification{ID: id}
	err := s.pool.QueryRow(ctx, `SELECT state, trigger, error, started_at, finished_at, records_checked, batches_checked, segments_checked
		FROM reconcile.evidence_verifications WHERE id = $1`, id).Scan(&v.State, &v.Trigger, &v.Error, &v.Started, &v.Finished,
		&v.RecordsChecked, &v.BatchesChecked, &v.SegmentsChecked)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, status.Errorf(codes.NotFound, "verification %d: not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read verification %d: %w", id, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT kind, record_id, batch, detail FROM reconcile.evidence_findings WHERE verification = $1 ORDER BY n`, id)
	if err != nil {
		return nil, fmt.Errorf("read findings of verification %d: %w", id, err)
	}
	var f Finding
	if _, err := pgx.ForEachRow(rows, []any{&f.Kind, &f.RecordID, &f.Batch, &f.Detail}, func() error {
		v.Findings = append(v.Findings, f)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read findings of verification %d: %w", id, err)
	}
	return v, nil
}

// ListVerifications returns verification runs newest first, below the cursor (0: newest).
func (s *Service) ListVerifications(ctx context.Context, beforeID int64, limit int) ([]*Verification, error) {
	if limit <= 0 {
		limit = 20
	}
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM reconcile.evidence_verifications WHERE id < $1 ORDER BY id DESC LIMIT $2`, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("list verifications: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("list verifications: %w", err)
	}
	out := make([]*Verification, 0, len(ids))
	for _, id := range ids {
		v, err := s.GetVerification(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
