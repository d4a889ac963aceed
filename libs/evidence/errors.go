package evidence

import "errors"

var (
	// ErrInvalidRecord reports a record whose fields are malformed or inconsistent.
	ErrInvalidRecord = errors.New("invalid evidence record")
	// ErrBadSignature reports a record signature that does not verify against the publisher key.
	ErrBadSignature = errors.New("record signature does not verify")
	// ErrNotIncluded reports an inclusion path that does not lead from the leaf to the root.
	ErrNotIncluded = errors.New("leaf not included under root")
	// ErrBadSegment reports a segment file that is malformed or does not match its header.
	ErrBadSegment = errors.New("invalid evidence segment")
	// ErrBadProof reports a proof that is malformed or fails a check.
	ErrBadProof = errors.New("invalid evidence proof")
)

// CheckError names the verification step that failed, so a command can tell the user which
// check rejected a proof.
type CheckError struct {
	Check string // one of the Check constants (or the chain package's)
	Err   error
}

func (e *CheckError) Error() string { return e.Check + ": " + e.Err.Error() }

func (e *CheckError) Unwrap() error { return e.Err }
