package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// Rejection reasons: the label of the rejected metric and the start of the error message.
const (
	ReasonInvalid         = "invalid_record"
	ReasonTooLarge        = "payload_too_large"
	ReasonUnknown         = "unknown_publisher"
	ReasonBadSignature    = "bad_signature"
	ReasonIDReused        = "id_reused"
	ReasonNotYetValid     = "not_yet_valid"
	ReasonExpired         = "expired"
	ReasonUnknownTarget   = "unknown_target"
	ReasonNotOwner        = "not_owner"
	ReasonTargetInactive  = "target_not_active"
	ReasonPublisherExists = "publisher_exists"
)

// Rejection is a record refused: nothing of it was stored. It carries its gRPC status.
type Rejection struct {
	Reason string
	Code   codes.Code
	Err    error
}

func (r *Rejection) Error() string { return r.Reason + ": " + r.Err.Error() }

// Unwrap returns the cause.
func (r *Rejection) Unwrap() error { return r.Err }

// GRPCStatus makes the rejection its gRPC status.
func (r *Rejection) GRPCStatus() *status.Status { return status.New(r.Code, r.Error()) }

func reject(reason string, code codes.Code, format string, args ...any) *Rejection {
	return &Rejection{Reason: reason, Code: code, Err: fmt.Errorf(format, args...)}
}

// Kinds of records.
const (
	KindPublish   = evidence.KindPublish
	KindSupersede = evidence.KindSupersede
	KindRevoke    = evidence.KindRevoke
	KindErase     = evidence.KindErase
	KindPublisher = evidence.KindPublisher
)

// Incoming is a record offered on one of the paths.
type Incoming struct {
	Record evidence.Record
	// Source is "grpc", "inbox" or "kafka".
	Source string
	// Want restricts the kind (the lifecycle RPCs); empty accepts any but "publisher".
	Want string
}

// Accepted is the outcome of a record that was stored (or was already stored, identical).
type Accepted struct {
	ID   string
	Leaf [32]byte
	Seq  int64
	// Again says the same record had been accepted before; nothing new was stored.
	Again bool
}

// publisherRow is a registered publisher.
type publisherRow struct {
	Name      string
	Suite     string
	PublicKey cryptosuite.PublicKey
	Address   string
	Roles     []string
	RecordID  string
	At        time.Time
}

func (p *publisherRow) suite() *cryptosuite.Suite {
	if p.Suite == "sm" {
		return cryptosuite.SM()
	}
	return cryptosuite.ECDSA()
}

// registration is the payload of a "publisher" record.
type registration struct {
	Name      string   `json:"name"`
	Suite     string   `json:"suite"`
	PublicKey string   `json:"public_key"`
	Roles     []string `json:"roles,omitempty"`
}

// checked is a record that passed every check but the database ones.
type checked struct {
	in   Incoming
	id   string
	leaf [32]byte
	pub  *publisherRow
	reg  *publisherRow // a registration's new publisher
	err  error
	out  Accepted
}

// Accept checks records and stores those that pass in one transaction, committed before it
// returns. The result has, for each record, its Accepted or its error (a *Rejection, or the
// database error that stored none of them).
func (s *Service) Accept(ctx context.Context, in []Incoming) ([]Accepted, []error) {
	items := s.checkAll(ctx, in)
	outs := make([]Accepted, len(items))
	errs := make([]error, len(items))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.store(ctx, tx, items) })
	for i, it := range items {
		switch {
		case it.err != nil:
			errs[i] = it.err
		case err != nil:
			errs[i] = err
		default:
			outs[i] = it.out
		}
	}
	s.finish(items, err)
	return outs, errs
}

// finish counts the outcomes once the transaction is over.
func (s *Service) finish(items []*checked, txErr error) {
	stored := false
	for _, it := range items {
		var rej *Rejection
		switch {
		case errors.As(it.err, &rej):
			s.metrics.Rejected.WithLabelValues(rej.Reason).Inc()
		case it.err == nil && txErr == nil && !it.out.Again:
			s.metrics.Accepted.WithLabelValues(it.in.Source).Inc()
			stored = true
		}
	}
	if stored {
		s.changed()
	}
}

// checkAll runs the checks that need no transaction, signatures in parallel.
func (s *Service) checkAll(ctx context.Context, in []Incoming) []*checked {
	items := make([]*checked, len(in))
	for i := range in {
		items[i] = &checked{in: in[i]}
	}
	if len(items) == 1 {
		s.check(ctx, items[0])
		return items
	}
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, it := range items {
		g.Go(func() error { s.check(ctx, it); return nil })
	}
	_ = g.Wait()
	return items
}

// check fills it.err with the first check the record fails.
func (s *Service) check(ctx context.Context, it *checked) {
	it.err = s.checkOne(ctx, it)
}

func (s *Service) checkOne(ctx context.Context, it *checked) error {
	r := &it.in.Record
	if r.Kind == "" {
		r.Kind = KindPublish
	}
	if it.in.Want != r.Kind && (it.in.Want != "" || r.Kind == KindPublisher) {
		want := it.in.Want
		if want == "" {
			want = "publish, supersede, revoke or erase (register publishers with RegisterPublisher)"
		}
		return reject(ReasonInvalid, codes.InvalidArgument, "record %q of kind %q here: want %s", r.ID, r.Kind, want)
	}
	if len(r.Payload) > s.cfg.MaxPayload {
		return reject(ReasonTooLarge, codes.InvalidArgument, "record %q: payload of %d bytes, at most %d (-evidence.max-payload)", r.ID, len(r.Payload), s.cfg.MaxPayload)
	}
	if r.Payload == nil {
		r.Payload = []byte{} // an empty payload; nil would say erased
	}
	if r.PayloadHash == ([32]byte{}) {
		r.PayloadHash = sha256.Sum256(r.Payload)
	}
	if err := r.Validate(); err != nil {
		return reject(ReasonInvalid, codes.InvalidArgument, "%v", err)
	}
	if len(r.Signature) == 0 {
		return reject(ReasonBadSignature, codes.InvalidArgument, "record %q is not signed", r.ID)
	}
	if r.Kind == KindPublisher {
		p, err := parseRegistration(r)
		if err != nil {
			return err
		}
		it.reg, it.pub = p, p
	} else {
		p, err := s.publisher(ctx, r.Publisher)
		if err != nil {
			return err
		}
		it.pub = p
	}
	if err := evidence.VerifySignature(it.pub.suite(), it.pub.PublicKey, r); err != nil {
		return reject(ReasonBadSignature, codes.InvalidArgument, "publisher %s: %v", r.Publisher, err)
	}
	now := s.now()
	if !r.ValidAt(now) {
		if !r.NotBefore.IsZero() && now.UnixMilli() < r.NotBefore.UnixMilli() {
			return reject(ReasonNotYetValid, codes.FailedPrecondition, "record %q is valid from %s, now is %s", r.ID, r.NotBefore.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
		}
		return reject(ReasonExpired, codes.FailedPrecondition, "record %q expired at %s, now is %s", r.ID, r.NotAfter.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	}
	it.leaf = evidence.LeafHash(r)
	it.id = r.ID
	return nil
}

// parseRegistration reads a "publisher" record's payload: the record's publisher is the name
// registered, its payload the key, and it is signed by that key (proof of possession).
func parseRegistration(r *evidence.Record) (*publisherRow, error) {
	var reg registration
	if r.PayloadType != "json" || json.Unmarshal(r.Payload, &reg) != nil {
		return nil, reject(ReasonInvalid, codes.InvalidArgument, `publisher record: payload must be JSON {"name":…, "suite":"ecdsa"|"sm", "public_key":"0x…"}`)
	}
	if reg.Name == "" {
		reg.Name = r.Publisher
	}
	if reg.Name != r.Publisher {
		return nil, reject(ReasonInvalid, codes.InvalidArgument, "publisher record of %q registers the name %q", r.Publisher, reg.Name)
	}
	if len(reg.Name) > 63 || strings.ContainsAny(reg.Name, " /\t\n") {
		return nil, reject(ReasonInvalid, codes.InvalidArgument, "publisher name %q: want 1 to 63 characters without spaces or /", reg.Name)
	}
	if reg.Suite == "" {
		reg.Suite = "ecdsa"
	}
	if reg.Suite != "ecdsa" && reg.Suite != "sm" {
		return nil, reject(ReasonInvalid, codes.InvalidArgument, "publisher suite %q: want ecdsa or sm", reg.Suite)
	}
	key, err := cryptosuite.ParsePublicKey(strings.TrimPrefix(reg.PublicKey, "0x"))
	if err != nil {
		return nil, reject(ReasonInvalid, codes.InvalidArgument, "publisher public_key: %v", err)
	}
	p := &publisherRow{Name: reg.Name, Suite: reg.Suite, PublicKey: key, Roles: reg.Roles}
	p.Address = strings.ToLower(p.suite().Address(key).Hex())
	return p, nil
}

// publisher returns the registered publisher of name, cached (publishers never change).
func (s *Service) publisher(ctx context.Context, name string) (*publisherRow, error) {
	if p, ok := s.pubs.Load(name); ok {
		return p.(*publisherRow), nil
	}
	p, err := s.loadPublisher(ctx, `name = $1`, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, reject(ReasonUnknown, codes.FailedPrecondition, "publisher %q is not registered", name)
	}
	if err != nil {
		return nil, err
	}
	s.pubs.Store(name, p)
	return p, nil
}

func (s *Service) loadPublisher(ctx context.Context, where string, arg any) (*publisherRow, error) {
	p := &publisherRow{}
	var key []byte
	err := s.pool.QueryRow(ctx, `SELECT name, suite, public_key, address, roles, record_id, registered_at
		FROM reconcile.evidence_publishers WHERE `+where, arg).Scan(&p.Name, &p.Suite, &key, &p.Address, &p.Roles, &p.RecordID, &p.At)
	if err != nil {
		return nil, err
	}
	if p.PublicKey, err = cryptosuite.PublicKeyFromBytes(key); err != nil {
		return nil, fmt.Errorf("publisher %s: stored key: %w", p.Name, err)
	}
	return p, nil
}

// store writes the records that passed the checks in tx, with their events. A record whose id
// is taken is refused unless it is the same record (same leaf hash): delivered again, it is
// accepted again without storing anything.
func (s *Service) store(ctx context.Context, tx pgx.Tx, items []*checked) error {
	var plain []*checked
	for _, it := range items {
		if it.err == nil && it.in.Record.Kind == KindPublish {
			plain = append(plain, it)
		}
	}
	if err := s.storePlain(ctx, tx, plain); err != nil {
		return err
	}
	for _, it := range items {
		if it.err != nil || it.in.Record.Kind == KindPublish {
			continue
		}
		if err := s.storeOne(ctx, tx, it); err != nil {
			var rej *Rejection
			if errors.As(err, &rej) {
				it.err = rej
				continue
			}
			return err
		}
	}
	return nil
}

// insertPlain stores a "publish" record and its accepted event in one statement.
const insertPlain = `WITH ins AS (
		INSERT INTO reconcile.evidence_records (id, publisher, kind, category, target, payload_type, payload, payload_hash,
			not_before, not_after, signature, leaf_hash, source)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (id) DO NOTHING RETURNING seq, id, leaf_hash),
	ev AS (INSERT INTO reconcile.evidence_events (type, record_id, leaf_hash) SELECT 'accepted', id, leaf_hash FROM ins)
	SELECT seq FROM ins`

// storePlain stores "publish" records, which touch no other row, pipelined in one round trip.
func (s *Service) storePlain(ctx context.Context, tx pgx.Tx, items []*checked) error {
	if len(items) == 0 {
		return nil
	}
	var b pgx.Batch
	for _, it := range items {
		r := &it.in.Record
		b.Queue(insertPlain, it.id, r.Publisher, r.Kind, r.Category, r.Target, r.PayloadType, s.storedPayload(r), r.PayloadHash[:],
			nullTime(r.NotBefore), nullTime(r.NotAfter), r.Signature, it.leaf[:], it.in.Source)
	}
	br := tx.SendBatch(ctx, &b)
	taken := make([]bool, len(items))
	for i, it := range items {
		err := br.QueryRow().Scan(&it.out.Seq)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			taken[i] = true
		case err != nil:
			_ = br.Close()
			return fmt.Errorf("store record %s: %w", it.id, err)
		default:
			it.out.ID, it.out.Leaf = it.id, it.leaf
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("store records: %w", err)
	}
	for i, it := range items {
		if taken[i] {
			if err := s.again(ctx, tx, it); err != nil {
				var rej *Rejection
				if !errors.As(err, &rej) {
					return err
				}
				it.err = rej
			}
		}
	}
	return nil
}

// again settles a record whose id is taken: the same record (same leaf hash) is accepted
// again without storing anything; another is refused.
func (s *Service) again(ctx context.Context, tx pgx.Tx, it *checked) error {
	var leaf []byte
	if err := tx.QueryRow(ctx, `SELECT seq, leaf_hash FROM reconcile.evidence_records WHERE id = $1`, it.id).Scan(&it.out.Seq, &leaf); err != nil {
		return fmt.Errorf("read record %s: %w", it.id, err)
	}
	if !bytes.Equal(leaf, it.leaf[:]) {
		return reject(ReasonIDReused, codes.AlreadyExists, "record id %q is taken by another record", it.id)
	}
	it.out = Accepted{ID: it.id, Leaf: it.leaf, Seq: it.out.Seq, Again: true}
	return nil
}

func (s *Service) storeOne(ctx context.Context, tx pgx.Tx, it *checked) error {
	r := &it.in.Record
	var target struct {
		publisher, status string
	}
	if r.Kind == KindSupersede || r.Kind == KindRevoke || r.Kind == KindErase {
		err := tx.QueryRow(ctx, `SELECT publisher, status FROM reconcile.evidence_records WHERE id = $1 FOR UPDATE`, r.Target).Scan(&target.publisher, &target.status)
		if errors.Is(err, pgx.ErrNoRows) {
			return reject(ReasonUnknownTarget, codes.NotFound, "%s record %q: target %q is not an accepted record", r.Kind, it.id, r.Target)
		}
		if err != nil {
			return fmt.Errorf("read target %s: %w", r.Target, err)
		}
		if target.publisher != r.Publisher && !s.admin(ctx, it.pub) {
			return reject(ReasonNotOwner, codes.PermissionDenied, "%s record %q: target %q belongs to publisher %s, not %s", r.Kind, it.id, r.Target, target.publisher, r.Publisher)
		}
		if r.Kind != KindErase && target.status != "active" {
			return reject(ReasonTargetInactive, codes.FailedPrecondition, "%s record %q: target %q is %s already", r.Kind, it.id, r.Target, target.status)
		}
	}
	if it.reg != nil {
		tag, err := tx.Exec(ctx, `INSERT INTO reconcile.evidence_publishers (name, suite, public_key, address, roles, record_id)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, it.reg.Name, it.reg.Suite, it.reg.PublicKey.Bytes(), it.reg.Address, nonNil(it.reg.Roles), it.id)
		if err != nil {
			return fmt.Errorf("store publisher %s: %w", it.reg.Name, err)
		}
		if tag.RowsAffected() == 0 {
			return reject(ReasonPublisherExists, codes.AlreadyExists, "publisher name %q or address %s is registered already", it.reg.Name, it.reg.Address)
		}
	}
	err := tx.QueryRow(ctx, `INSERT INTO reconcile.evidence_records (id, publisher, kind, category, target, payload_type, payload,
			payload_hash, not_before, not_after, signature, leaf_hash, source)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (id) DO NOTHING RETURNING seq`,
		it.id, r.Publisher, r.Kind, r.Category, r.Target, r.PayloadType, s.storedPayload(r), r.PayloadHash[:],
		nullTime(r.NotBefore), nullTime(r.NotAfter), r.Signature, it.leaf[:], it.in.Source).Scan(&it.out.Seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.again(ctx, tx, it)
	}
	if err != nil {
		return fmt.Errorf("store record %s: %w", it.id, err)
	}
	it.out.ID, it.out.Leaf = it.id, it.leaf
	if err := addEvent(ctx, tx, "accepted", it.id, it.leaf[:], 0); err != nil {
		return err
	}
	switch r.Kind {
	case KindSupersede, KindRevoke:
		st := map[string]string{KindSupersede: "superseded", KindRevoke: "revoked"}[r.Kind]
		if _, err := tx.Exec(ctx, `UPDATE reconcile.evidence_records SET status = $2, replaced_by = $3 WHERE id = $1`, r.Target, st, it.id); err != nil {
			return fmt.Errorf("mark %s %s: %w", r.Target, st, err)
		}
		if err := addEvent(ctx, tx, st, r.Target, nil, 0); err != nil {
			return err
		}
	case KindErase:
		// The archived segment is written again without the payload (its leaves do not
		// change: a leaf covers the payload hash, never the payload).
		if _, err := tx.Exec(ctx, `UPDATE reconcile.evidence_records SET payload = NULL, erased_at = now() WHERE id = $1`, r.Target); err != nil {
			return fmt.Errorf("erase %s: %w", r.Target, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE reconcile.evidence_batches SET archived = false
			WHERE number = (SELECT batch FROM reconcile.evidence_records WHERE id = $1)`, r.Target); err != nil {
			return fmt.Errorf("erase %s: %w", r.Target, err)
		}
		if err := addEvent(ctx, tx, "erased", r.Target, nil, 0); err != nil {
			return err
		}
	}
	return nil
}

// admin reports whether p may act on other publishers' records. This build has no admin
// role: the hook Config.Admin (issue 14, roles and authentication) decides; nil says no.
func (s *Service) admin(ctx context.Context, p *publisherRow) bool {
	return s.cfg.Admin != nil && s.cfg.Admin(ctx, p.Name, slices.Clone(p.Roles))
}

func addEvent(ctx context.Context, tx pgx.Tx, typ, record string, leaf []byte, batch int64) error {
	if _, err := tx.Exec(ctx, `INSERT INTO reconcile.evidence_events (type, record_id, leaf_hash, batch) VALUES ($1, $2, $3, $4)`,
		typ, record, leaf, batch); err != nil {
		return fmt.Errorf("add %s event: %w", typ, err)
	}
	return nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// notifier wakes the subscribers when events were added.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}
