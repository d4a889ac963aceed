package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	auditv1 "github.com/bcosdata/bcosdata/proto/bcosdata/audit/v1"
)

// Kinds of BrokenRecord.
const (
	BrokenMissing   = "missing"
	BrokenEdited    = "edited"
	BrokenReordered = "reordered"
	BrokenHead      = "head"
)

// Page sizes of List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// ErrInvalidArgument marks a List request that cannot be served (bad token or decision).
var ErrInvalidArgument = errors.New("invalid argument")

// Verify walks the chain from record 1 to the head and returns the first record that breaks
// it: a gap in seq (a deleted record), a prev_hash that is not the previous record's hash (a
// record moved or replaced), content that no longer hashes to the record's hash (an edited
// record), or records that end before, or disagree with, the head.
func (t *Trail) Verify(ctx context.Context) (*auditv1.VerifyAuditResponse, error) {
	resp := &auditv1.VerifyAuditResponse{}
	err := pgx.BeginTxFunc(ctx, t.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var headSeq int64
		var headHash []byte
		if err := tx.QueryRow(ctx, "SELECT seq, hash FROM "+t.table("audit_head")).Scan(&headSeq, &headHash); err != nil {
			return fmt.Errorf("read audit head of %s: %w", t.cfg.Schema, err)
		}
		resp.HeadSeq, resp.HeadHash = uint64(headSeq), hex0x(headHash)
		rows, err := tx.Query(ctx, "SELECT "+selectColumns+" FROM "+t.table("audit")+" ORDER BY seq")
		if err != nil {
			return fmt.Errorf("read audit records of %s: %w", t.cfg.Schema, err)
		}
		defer rows.Close()
		want, prev := uint64(1), genesis
		for rows.Next() {
			r, err := scanRecord(rows)
			if err != nil {
				return fmt.Errorf("read audit record of %s after %d: %w", t.cfg.Schema, want-1, err)
			}
			if b := check(t.cfg.Service, want, prev, r); b != nil {
				resp.Broken = b
				return nil
			}
			resp.Checked++
			want, prev = r.Seq+1, r.Hash
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read audit records of %s: %w", t.cfg.Schema, err)
		}
		last := want - 1
		switch {
		case uint64(headSeq) > last:
			resp.Broken = &auditv1.BrokenRecord{Seq: want, Kind: BrokenMissing,
				Detail: fmt.Sprintf("records %d to %d are missing: the head is at %d but the records end at %d", want, headSeq, headSeq, last)}
		case uint64(headSeq) < last:
			resp.Broken = &auditv1.BrokenRecord{Seq: uint64(headSeq) + 1, Kind: BrokenHead,
				Detail: fmt.Sprintf("records %d to %d lie beyond the head at %d", headSeq+1, last, headSeq)}
		case !bytes.Equal(headHash, prev):
			resp.Broken = &auditv1.BrokenRecord{Seq: last, Kind: BrokenHead,
				Detail: fmt.Sprintf("the head's hash %s is not record %d's hash %s", hex0x(headHash), last, hex0x(prev))}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	resp.Ok = resp.Broken == nil
	return resp, nil
}

// check returns how r breaks the chain when it should be record want following prev, or nil.
func check(service string, want uint64, prev []byte, r Record) *auditv1.BrokenRecord {
	switch {
	case r.Seq != want:
		detail := fmt.Sprintf("record %d is missing: the record after %d is %d", want, want-1, r.Seq)
		if r.Seq > want+1 {
			detail = fmt.Sprintf("records %d to %d are missing: the record after %d is %d", want, r.Seq-1, want-1, r.Seq)
		}
		return &auditv1.BrokenRecord{Seq: want, Kind: BrokenMissing, Detail: detail}
	case !bytes.Equal(r.PrevHash, prev):
		return &auditv1.BrokenRecord{Seq: r.Seq, Kind: BrokenReordered,
			Detail: fmt.Sprintf("record %d's prev_hash %s is not record %d's hash %s: records were moved or replaced", r.Seq, hex0x(r.PrevHash), want-1, hex0x(prev))}
	case !bytes.Equal(ChainHash(service, r.PrevHash, r), r.Hash):
		return &auditv1.BrokenRecord{Seq: r.Seq, Kind: BrokenEdited,
			Detail: fmt.Sprintf("record %d's content does not hash to its hash %s: it was edited", r.Seq, hex0x(r.Hash))}
	}
	return nil
}

// List returns the records req selects, in seq order, a page at a time.
func (t *Trail) List(ctx context.Context, req *auditv1.ListAuditRequest) (*auditv1.ListAuditResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size <= 0:
		size = DefaultPageSize
	case size > MaxPageSize:
		size = MaxPageSize
	}
	var after int64
	if tok := req.GetPageToken(); tok != "" {
		v, err := strconv.ParseInt(tok, 10, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("page_token %q: %w: not a token from a previous page", tok, ErrInvalidArgument)
		}
		after = v
	}
	where := []string{"seq > $1"}
	args := []any{after}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if req.GetSubject() != "" {
		add("subject = $%d", req.GetSubject())
	}
	if req.GetRpc() != "" {
		add("rpc = $%d", req.GetRpc())
	}
	if req.GetResource() != "" {
		add("resource = $%d", req.GetResource())
	}
	switch req.GetDecision() {
	case "":
	case "allowed":
		add("allowed = $%d", true)
	case "denied":
		add("allowed = $%d", false)
	default:
		return nil, fmt.Errorf("decision %q: %w: want allowed, denied or empty", req.GetDecision(), ErrInvalidArgument)
	}
	if req.GetSince() != nil {
		add("at >= $%d", req.GetSince().AsTime())
	}
	if req.GetUntil() != nil {
		add("at < $%d", req.GetUntil().AsTime())
	}
	args = append(args, size+1)
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY seq LIMIT $%d", selectColumns, t.table("audit"), strings.Join(where, " AND "), len(args))
	rows, err := t.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit records of %s: %w", t.cfg.Schema, err)
	}
	recs, err := pgx.CollectRows(rows, scanRecord)
	if err != nil {
		return nil, fmt.Errorf("list audit records of %s: %w", t.cfg.Schema, err)
	}
	resp := &auditv1.ListAuditResponse{}
	if len(recs) > size {
		recs = recs[:size]
		resp.NextPageToken = strconv.FormatUint(recs[size-1].Seq, 10)
	}
	for _, r := range recs {
		resp.Records = append(resp.Records, toProto(t.cfg.Service, r))
	}
	return resp, nil
}
