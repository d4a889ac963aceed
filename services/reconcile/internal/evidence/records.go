package evidence

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bcosdata/bcosdata/libs/crypto/fieldcrypt"
	"github.com/bcosdata/bcosdata/libs/evidence"
)

// RecordRow is an accepted record with where it stands.
type RecordRow struct {
	Record      evidence.Record
	ID          string
	Seq         int64
	Leaf        [32]byte
	Source      string
	AcceptedAt  time.Time
	Batch       int64 // 0: not sealed
	LeafIndex   int64
	Status      string
	ReplacedBy  string
	Erased      bool
	AnchorState string // unsealed, sealed, sent, anchored
}

const recordColumns = `seq, id, publisher, kind, category, target, payload_type, payload, payload_hash,
	not_before, not_after, signature, leaf_hash, source, accepted_at, coalesce(batch, 0), coalesce(leaf_index, 0), status, replaced_by,
	erased_at IS NOT NULL, coalesce((SELECT state FROM reconcile.evidence_batches b WHERE b.number = batch), 'unsealed')`

// storedPayload is the payload as stored: sealed (fieldcrypt's text) for a sensitive category.
func (s *Service) storedPayload(r *evidence.Record) []byte {
	if r.Payload == nil || !s.cfg.SensitiveCategory(r.Category) {
		return r.Payload
	}
	return []byte(s.cfg.Keys.Seal(string(r.Payload)))
}

// openPayload turns a stored sealed payload back into the signed one.
func (s *Service) openPayload(r *RecordRow) error {
	if r.Record.Payload == nil || !fieldcrypt.IsSealed(string(r.Record.Payload)) {
		return nil
	}
	if s.cfg.Keys == nil {
		return fmt.Errorf("record %s: its payload is sealed and no key ring is configured (-crypto.keys)", r.ID)
	}
	clear, err := s.cfg.Keys.Open(string(r.Record.Payload))
	if err != nil {
		return fmt.Errorf("record %s: open its sealed payload: %w", r.ID, err)
	}
	r.Record.Payload = []byte(clear)
	return nil
}

// scanOpen scans a record and opens its payload.
func (s *Service) scanOpen(row pgx.Row) (*RecordRow, error) {
	r, err := scanRecord(row)
	if err != nil {
		return nil, err
	}
	return r, s.openPayload(r)
}

func scanRecord(row pgx.Row) (*RecordRow, error) {
	r := &RecordRow{}
	var payload, payloadHash, leaf []byte
	var nb, na *time.Time
	err := row.Scan(&r.Seq, &r.ID, &r.Record.Publisher, &r.Record.Kind, &r.Record.Category, &r.Record.Target,
		&r.Record.PayloadType, &payload, &payloadHash, &nb, &na, &r.Record.Signature, &leaf, &r.Source, &r.AcceptedAt,
		&r.Batch, &r.LeafIndex, &r.Status, &r.ReplacedBy, &r.Erased, &r.AnchorState)
	if err != nil {
		return nil, err
	}
	r.Record.ID = r.ID
	r.Record.Payload = payload // nil once erased
	copy(r.Record.PayloadHash[:], payloadHash)
	copy(r.Leaf[:], leaf)
	if nb != nil {
		r.Record.NotBefore = nb.UTC()
	}
	if na != nil {
		r.Record.NotAfter = na.UTC()
	}
	return r, nil
}

// ErrNotFound is wrapped by errors for a record, batch, publisher or verification that is
// not there; it carries NotFound as its gRPC status.
var ErrNotFound = status.Error(codes.NotFound, "not found")

// GetRecord returns an accepted record by id.
func (s *Service) GetRecord(ctx context.Context, id string) (*RecordRow, error) {
	r, err := s.scanOpen(s.pool.QueryRow(ctx, `SELECT `+recordColumns+` FROM reconcile.evidence_records WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, status.Errorf(codes.NotFound, "record %q: not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read record %s: %w", id, err)
	}
	return r, nil
}

// RecordFilter selects records; zero fields match everything.
type RecordFilter struct {
	Publisher, Category, Kind, Status string
	Batch                             int64
	After, Before                     time.Time
	// AfterSeq is the paging cursor.
	AfterSeq int64
	Limit    int
}

// ListRecords returns records in acceptance order.
func (s *Service) ListRecords(ctx context.Context, f RecordFilter) ([]*RecordRow, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	add("seq > ?", f.AfterSeq)
	if f.Publisher != "" {
		add("publisher = ?", f.Publisher)
	}
	if f.Category != "" {
		add("category = ?", f.Category)
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if f.Batch != 0 {
		add("batch = ?", f.Batch)
	}
	if !f.After.IsZero() {
		add("accepted_at > ?", f.After)
	}
	if !f.Before.IsZero() {
		add("accepted_at < ?", f.Before)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	args = append(args, f.Limit)
	rows, err := s.pool.Query(ctx, `SELECT `+recordColumns+` FROM reconcile.evidence_records WHERE `+strings.Join(where, " AND ")+
		` ORDER BY seq LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*RecordRow, error) { return s.scanOpen(row) })
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	return out, nil
}

// GetBatch returns a batch by number, or by batch id when number is 0.
func (s *Service) GetBatch(ctx context.Context, number int64, id []byte) (*Batch, error) {
	var row pgx.Row
	if number != 0 {
		row = s.pool.QueryRow(ctx, `SELECT `+batchColumns+` FROM reconcile.evidence_batches WHERE number = $1`, number)
	} else {
		row = s.pool.QueryRow(ctx, `SELECT `+batchColumns+` FROM reconcile.evidence_batches WHERE batch_id = $1`, id)
	}
	b, err := scanBatch(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, status.Errorf(codes.NotFound, "batch %d %x: not found", number, id)
	}
	if err != nil {
		return nil, fmt.Errorf("read batch %d: %w", number, err)
	}
	return b, nil
}

// ListBatches returns batches newest first, below the cursor beforeNumber (0: from the newest).
func (s *Service) ListBatches(ctx context.Context, state string, beforeNumber int64, limit int) ([]*Batch, error) {
	if limit <= 0 {
		limit = 100
	}
	if beforeNumber <= 0 {
		beforeNumber = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `SELECT `+batchColumns+` FROM reconcile.evidence_batches WHERE number < $1 AND ($2 = '' OR state = $2)
		ORDER BY number DESC LIMIT $3`, beforeNumber, state, limit)
	if err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Batch, error) { return scanBatch(row) })
	if err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	return out, nil
}

// Publisher returns a publisher by name or address.
func (s *Service) Publisher(ctx context.Context, nameOrAddress string) (*publisherRow, error) {
	p, err := s.loadPublisher(ctx, `name = $1 OR address = lower($1)`, nameOrAddress)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, status.Errorf(codes.NotFound, "publisher %q: not registered", nameOrAddress)
	}
	return p, err
}

// Publishers returns every publisher by name.
func (s *Service) Publishers(ctx context.Context) ([]*publisherRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT name FROM reconcile.evidence_publishers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list publishers: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list publishers: %w", err)
	}
	out := make([]*publisherRow, 0, len(names))
	for _, n := range names {
		p, err := s.Publisher(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Proof returns the inclusion proof of an anchored record, verified offline first.
func (s *Service) Proof(ctx context.Context, id string) (*evidence.Proof, error) {
	r, err := s.GetRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.AnchorState != StateAnchored {
		return nil, status.Errorf(codes.FailedPrecondition, "record %q is not anchored yet: its batch is %s", id, r.AnchorState)
	}
	b, err := s.GetBatch(ctx, r.Batch, nil)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT leaf_hash FROM reconcile.evidence_records WHERE batch = $1 ORDER BY leaf_index`, r.Batch)
	if err != nil {
		return nil, fmt.Errorf("read leaves of batch %d: %w", r.Batch, err)
	}
	var leaves [][32]byte
	var leaf []byte
	if _, err := pgx.ForEachRow(rows, []any{&leaf}, func() error { leaves = append(leaves, [32]byte(leaf)); return nil }); err != nil {
		return nil, fmt.Errorf("read leaves of batch %d: %w", r.Batch, err)
	}
	path, err := evidence.InclusionPath(leaves, uint64(r.LeafIndex))
	if err != nil {
		return nil, fmt.Errorf("inclusion path of %s in batch %d: %w", id, r.Batch, err)
	}
	pub, err := s.publisher(ctx, r.Record.Publisher)
	if err != nil {
		return nil, err
	}
	p := &evidence.Proof{
		Version: evidence.ProofVersion, Record: r.Record, LeafHash: r.Leaf, LeafIndex: uint64(r.LeafIndex), TreeSize: uint64(len(leaves)), Path: path,
		BatchID: b.ID, Root: b.Root, Segment: b.Segment,
		Publisher: evidence.PublisherKey{Suite: pub.Suite, PublicKey: pub.PublicKey, Address: common.HexToAddress(pub.Address)},
		Anchor: evidence.Anchor{Contract: common.HexToAddress(b.Contract), BlockNumber: uint64(*b.BlockNumber), BlockHash: *b.BlockHash,
			TxHash: *b.TxHash, LogIndex: uint(*b.LogIndex)},
	}
	if err := p.VerifyOffline(); err != nil {
		return nil, status.Errorf(codes.DataLoss, "proof of record %q does not verify: %v", id, err)
	}
	return p, nil
}
