package block

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed reports bytes that are not a valid encoding of the value asked for. Every
	// decode error wraps it.
	ErrMalformed = errors.New("malformed FISCO block data")
	// ErrHashMismatch reports a stored hash that differs from the hash recomputed from the bytes.
	ErrHashMismatch = errors.New("hash mismatch")
	// ErrBadSignature reports a consensus signature that does not check out.
	ErrBadSignature = errors.New("bad consensus signature")
)

// FieldError locates a decode or validation failure: which value, which field, and why.
type FieldError struct {
	// Type is the value being decoded: "block", "header", "transaction", "receipt", "log",
	// "signature" or "transactions".
	Type string
	// Field names the RLP item, e.g. "logsBloom", or "(list)" for the enclosing list.
	Field string
	// Err is the underlying cause.
	Err error
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s %s: %v", e.Type, e.Field, e.Err) }

// Unwrap returns ErrMalformed and the cause, so errors.Is works for both.
func (e *FieldError) Unwrap() []error { return []error{ErrMalformed, e.Err} }

// SignatureError reports which consensus signature failed and why.
type SignatureError struct {
	// Position is the entry's position in the block's signature list.
	Position int
	// Index is the sealer index the entry claims.
	Index uint64
	// Err is the cause, e.g. a cryptosuite.ErrInvalidSignature.
	Err error
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("signature %d (sealer %d): %v", e.Position, e.Index, e.Err)
}

// Unwrap returns ErrBadSignature and the cause.
func (e *SignatureError) Unwrap() []error { return []error{ErrBadSignature, e.Err} }
