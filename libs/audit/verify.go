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
	// BrokenAnchor: the chain, although consistent in itself, does not reach or does not
	// match the last anchored head: it was rewritten from some record before the anchor on.
	BrokenAnchor = "anchor"
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
// record), or records that end before, or disagree with, the head. When heads were anchored
// it then compares the chain with every anchored head (audit_anchor): a chain rewritten from
// some record on, every later hash recomputed and the head moved, no longer has the anchored
// hash at the first anchored seq at or after the rewrite (anchors taken after the rewrite agree
// with it, so every anchor counts, not only the last). With an Anchorer that is an
// AnchorReader, the last local anchor row is also checked against the anchor itself (the
// evidence record), so a rewrite of that row is found too.
func (t *Trail) Verify(ctx context.Context) (*auditv1.VerifyAuditResponse, error) {
	resp := &auditv1.VerifyAuditResponse{}
	var anchor *anchorRow
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
		if resp.Broken != nil {
			return nil
		}
		// The walk proved every stored hash follows from the records; an anchor whose record
		// is gone or holds another hash means the chain was rewritten.
		if resp.Broken, err = t.checkAnchors(ctx, tx); err != nil {
			return err
		}
		if resp.Broken == nil {
			anchor, err = t.lastAnchor(ctx, tx)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if resp.Broken == nil && anchor != nil {
		if resp.Broken, err = t.checkAnchor(ctx, anchor); err != nil {
			return nil, err
		}
	}
	resp.Ok = resp.Broken == nil
	return resp, nil
}

// anchorRow is a row of audit_anchor.
type anchorRow struct {
	seq  uint64
	hash []byte
	ref  string
}

// checkAnchors returns the first anchored head the records no longer match, or nil.
func (t *Trail) checkAnchors(ctx context.Context, tx pgx.Tx) (*auditv1.BrokenRecord, error) {
	var seq int64
	var anchored, stored []byte
	var ref string
	err := tx.QueryRow(ctx, "SELECT a.seq, a.hash, a.ref, r.hash FROM "+t.table("audit_anchor")+" a LEFT JOIN "+t.table("audit")+
		" r ON r.seq = a.seq WHERE r.hash IS DISTINCT FROM a.hash ORDER BY a.seq LIMIT 1").Scan(&seq, &anchored, &ref, &stored)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("compare audit records of %s with their anchored heads: %w", t.cfg.Schema, err)
	case stored == nil:
		return &auditv1.BrokenRecord{Seq: uint64(seq), Kind: BrokenAnchor,
			Detail: fmt.Sprintf("the head was anchored at record %d (%s) but there is no record %d", seq, ref, seq)}, nil
	}
	return &auditv1.BrokenRecord{Seq: uint64(seq), Kind: BrokenAnchor,
		Detail: fmt.Sprintf("record %d's hash %s is not the anchored head's hash %s (%s): the chain was rewritten up to record %d or before",
			seq, hex0x(stored), hex0x(anchored), ref, seq)}, nil
}

// lastAnchor returns the last anchored head recorded, or nil when none was.
func (t *Trail) lastAnchor(ctx context.Context, tx pgx.Tx) (*anchorRow, error) {
	var a anchorRow
	var seq int64
	err := tx.QueryRow(ctx, "SELECT seq, hash, ref FROM "+t.table("audit_anchor")+" ORDER BY seq DESC LIMIT 1").Scan(&seq, &a.hash, &a.ref)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read anchored audit head of %s: %w", t.cfg.Schema, err)
	}
	a.seq = uint64(seq)
	return &a, nil
}

// checkAnchor compares the local record of an anchor with the anchor itself, when the
// Anchorer can read it back.
func (t *Trail) checkAnchor(ctx context.Context, a *anchorRow) (*auditv1.BrokenRecord, error) {
	r, ok := t.cfg.Anchorer.(AnchorReader)
	if !ok {
		return nil, nil
	}
	seq, hash, err := r.AnchoredHead(ctx, a.ref)
	if err != nil {
		return nil, fmt.Errorf("read anchored audit head %s of %s: %w", a.ref, t.cfg.Service, err)
	}
	if seq != a.seq || !bytes.Equal(hash, a.hash) {
		return &auditv1.BrokenRecord{Seq: a.seq, Kind: BrokenAnchor,
			Detail: fmt.Sprintf("the anchor %s holds record %d's hash %s, the local copy record %d's hash %s: audit_anchor was rewritten",
				a.ref, seq, hex0x(hash), a.seq, hex0x(a.hash))}, nil
	}
	return nil, nil
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
