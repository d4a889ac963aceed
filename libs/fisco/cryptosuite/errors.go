package cryptosuite

import "errors"

var (
	// ErrUnknownSuite reports a suite name other than "ecdsa" or "sm".
	ErrUnknownSuite = errors.New("unknown crypto suite")
	// ErrInvalidSignature reports a signature that is malformed or does not verify.
	ErrInvalidSignature = errors.New("invalid signature")
	// ErrInvalidPublicKey reports a public key of the wrong size or not on the curve.
	ErrInvalidPublicKey = errors.New("invalid public key")
	// ErrInvalidPrivateKey reports a private key of the wrong size or out of range.
	ErrInvalidPrivateKey = errors.New("invalid private key")
	// ErrSuiteMismatch reports a key used with a suite of the other family.
	ErrSuiteMismatch = errors.New("key belongs to another crypto suite")
)
