package evidence

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// Kinds of record. A record never changes once accepted; superseding, revoking or erasing one
// is itself a new record naming the old one in Target.
const (
	KindPublish   = "publish"   // a new statement
	KindSupersede = "supersede" // replaces Target; carries the new payload
	KindRevoke    = "revoke"    // withdraws Target
	KindErase     = "erase"     // asks that Target's payload be erased; its hashes stay
	KindPublisher = "publisher" // a change to the publisher registry, signed by an admin
)

// Payload types.
const (
	PayloadJSON  = "json"  // the payload is one JSON value
	PayloadBytes = "bytes" // the payload is opaque bytes
)

// Limits on the string fields, so one record cannot make a segment line or a signing buffer
// unbounded. Payloads are limited by the caller (the service's request size).
const (
	MaxIDLen       = 256
	MaxNameLen     = 256 // Publisher and Category
	maxPayloadType = 16
)

// signingTag starts SigningBytes so a record signature can never be mistaken for a signature
// over another structure (a block hash, a transaction).
const signingTag = "bcosdata.evidence.record.v1\x00"

// Record is one signed statement of a publisher.
type Record struct {
	// ID is unique across the log, chosen by the publisher.
	ID string
	// Publisher is the registry name of the signer.
	Publisher string
	// Category is free text grouping records (e.g. "invoice", "audit-report").
	Category string
	// PayloadType is PayloadJSON or PayloadBytes.
	PayloadType string
	// Payload is the content; nil once erased (PayloadHash stays).
	Payload []byte
	// PayloadHash is SHA-256 of Payload.
	PayloadHash [32]byte
	// NotBefore and NotAfter bound the validity window at millisecond precision; the zero
	// time is an open bound.
	NotBefore, NotAfter time.Time
	// Kind is one of the Kind constants.
	Kind string
	// Target is the record id superseded, revoked or erased; empty for other kinds.
	Target string
	// Signature is the publisher's signature over Digest (see Sign).
	Signature []byte
}

// SetPayload sets Payload and PayloadHash together.
func (r *Record) SetPayload(typ string, payload []byte) {
	r.PayloadType = typ
	r.Payload = append(make([]byte, 0, len(payload)), payload...) // non-nil even when empty
	r.PayloadHash = sha256.Sum256(payload)
}

// Erase drops the payload and keeps its hash, so the signature and the leaf hash still verify.
func (r *Record) Erase() { r.Payload = nil }

// Erased reports whether the payload is absent.
func (r *Record) Erased() bool { return r.Payload == nil }

// Validate checks the fields a signature cannot vouch for: kinds, lengths, the payload against
// its hash (when present) and the validity window. It does not check the signature.
func (r *Record) Validate() error {
	switch {
	case r.ID == "":
		return fmt.Errorf("record: empty id: %w", ErrInvalidRecord)
	case len(r.ID) > MaxIDLen:
		return fmt.Errorf("record %q: id of %d bytes, max %d: %w", clip(r.ID), len(r.ID), MaxIDLen, ErrInvalidRecord)
	case r.Publisher == "":
		return fmt.Errorf("record %q: empty publisher: %w", r.ID, ErrInvalidRecord)
	case len(r.Publisher) > MaxNameLen || len(r.Category) > MaxNameLen:
		return fmt.Errorf("record %q: publisher or category over %d bytes: %w", r.ID, MaxNameLen, ErrInvalidRecord)
	case len(r.Target) > MaxIDLen:
		return fmt.Errorf("record %q: target of %d bytes, max %d: %w", r.ID, len(r.Target), MaxIDLen, ErrInvalidRecord)
	}
	for name, s := range map[string]string{"id": r.ID, "publisher": r.Publisher, "category": r.Category, "target": r.Target} {
		if !utf8.ValidString(s) {
			return fmt.Errorf("record %q: %s is not UTF-8: %w", clip(r.ID), name, ErrInvalidRecord)
		}
	}
	switch r.Kind {
	case KindPublish, KindPublisher:
		if r.Target != "" {
			return fmt.Errorf("record %q: kind %s takes no target: %w", r.ID, r.Kind, ErrInvalidRecord)
		}
	case KindSupersede, KindRevoke, KindErase:
		if r.Target == "" {
			return fmt.Errorf("record %q: kind %s needs a target: %w", r.ID, r.Kind, ErrInvalidRecord)
		}
		if r.Target == r.ID {
			return fmt.Errorf("record %q: targets itself: %w", r.ID, ErrInvalidRecord)
		}
	default:
		return fmt.Errorf("record %q: unknown kind %q: %w", r.ID, r.Kind, ErrInvalidRecord)
	}
	switch r.PayloadType {
	case PayloadJSON, PayloadBytes:
	default:
		return fmt.Errorf("record %q: unknown payload type %q: %w", r.ID, r.PayloadType, ErrInvalidRecord)
	}
	if r.Payload != nil {
		if sha256.Sum256(r.Payload) != r.PayloadHash {
			return fmt.Errorf("record %q: payload does not match payload_hash %s: %w", r.ID, hexutil.Encode(r.PayloadHash[:]), ErrInvalidRecord)
		}
		if r.PayloadType == PayloadJSON && !json.Valid(r.Payload) {
			return fmt.Errorf("record %q: payload type json but payload is not valid JSON: %w", r.ID, ErrInvalidRecord)
		}
	}
	if !r.NotBefore.IsZero() && !r.NotAfter.IsZero() && r.NotAfter.UnixMilli() < r.NotBefore.UnixMilli() {
		return fmt.Errorf("record %q: not_after %s before not_before %s: %w", r.ID,
			r.NotAfter.UTC().Format(timeLayout), r.NotBefore.UTC().Format(timeLayout), ErrInvalidRecord)
	}
	return nil
}

// ValidAt reports whether t is inside the validity window.
func (r *Record) ValidAt(t time.Time) bool {
	ms := t.UnixMilli()
	if !r.NotBefore.IsZero() && ms < r.NotBefore.UnixMilli() {
		return false
	}
	return r.NotAfter.IsZero() || ms <= r.NotAfter.UnixMilli()
}

// SigningBytes returns the canonical encoding the publisher signs; the layout is in the package
// documentation. It covers every field but Payload (only its hash) and Signature.
func (r *Record) SigningBytes() []byte {
	n := len(signingTag) + 5*4 + len(r.Kind) + len(r.ID) + len(r.Publisher) + len(r.Category) +
		len(r.PayloadType) + 32 + 2*9 + 4 + len(r.Target)
	b := make([]byte, 0, n)
	b = append(b, signingTag...)
	b = appendField(b, r.Kind)
	b = appendField(b, r.ID)
	b = appendField(b, r.Publisher)
	b = appendField(b, r.Category)
	b = appendField(b, r.PayloadType)
	b = append(b, r.PayloadHash[:]...)
	b = appendTime(b, r.NotBefore)
	b = appendTime(b, r.NotAfter)
	b = appendField(b, r.Target)
	return b
}

// Digest is what the signature signs: the suite hash of SigningBytes.
func (r *Record) Digest(s *cryptosuite.Suite) common.Hash { return s.Hash(r.SigningBytes()) }

func appendField(b []byte, s string) []byte {
	// Fields over 4 GiB cannot occur: Validate caps them far lower, and a caller that skips
	// Validate still gets a well-formed (if unacceptable) encoding from the clamp.
	n := min(uint64(len(s)), math.MaxUint32)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	return append(b, s[:n]...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	return binary.BigEndian.AppendUint64(b, uint64(t.UnixMilli()))
}

// timeLayout is RFC 3339 at millisecond precision, the precision that is signed.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// recordJSON is the JSON form of a Record: byte strings in 0x hex, times in RFC 3339 UTC at
// millisecond precision, open bounds and an erased payload omitted.
type recordJSON struct {
	ID          string         `json:"id"`
	Publisher   string         `json:"publisher"`
	Category    string         `json:"category"`
	Kind        string         `json:"kind"`
	Target      string         `json:"target,omitempty"`
	PayloadType string         `json:"payload_type"`
	Payload     *hexutil.Bytes `json:"payload,omitempty"`
	PayloadHash common.Hash    `json:"payload_hash"`
	NotBefore   string         `json:"not_before,omitempty"`
	NotAfter    string         `json:"not_after,omitempty"`
	Signature   hexutil.Bytes  `json:"signature"`
}

// MarshalJSON writes the record's JSON form (see docs/evidence.md).
func (r Record) MarshalJSON() ([]byte, error) {
	j := recordJSON{
		ID: r.ID, Publisher: r.Publisher, Category: r.Category, Kind: r.Kind, Target: r.Target,
		PayloadType: r.PayloadType, PayloadHash: r.PayloadHash,
		NotBefore: formatTime(r.NotBefore), NotAfter: formatTime(r.NotAfter), Signature: r.Signature,
	}
	if r.Payload != nil {
		p := hexutil.Bytes(r.Payload)
		j.Payload = &p
	}
	if j.Signature == nil {
		j.Signature = hexutil.Bytes{}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the record's JSON form. A present empty payload ("0x") is kept as an
// empty, not erased, payload.
func (r *Record) UnmarshalJSON(b []byte) error {
	var j recordJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("decode record: %w", err)
	}
	nb, err := parseTime(j.NotBefore)
	if err != nil {
		return fmt.Errorf("decode record %q: not_before: %w", clip(j.ID), err)
	}
	na, err := parseTime(j.NotAfter)
	if err != nil {
		return fmt.Errorf("decode record %q: not_after: %w", clip(j.ID), err)
	}
	var payload []byte
	if j.Payload != nil {
		payload = append([]byte{}, *j.Payload...)
	}
	var sig []byte
	if len(j.Signature) > 0 {
		sig = j.Signature
	}
	*r = Record{
		ID: j.ID, Publisher: j.Publisher, Category: j.Category, Kind: j.Kind, Target: j.Target,
		PayloadType: j.PayloadType, Payload: payload, PayloadHash: j.PayloadHash,
		NotBefore: nb, NotAfter: na, Signature: sig,
	}
	return nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	t = time.UnixMilli(t.UnixMilli()).UTC()
	if t.IsZero() {
		return time.Time{}, errors.New("time 0001-01-01T00:00:00Z is the open bound; omit the field instead")
	}
	return t, nil
}

// clip shortens a user-supplied string for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
