package cryptosuite

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// PublicKeyLen is the size of an uncompressed public key without the 0x04 prefix.
const PublicKeyLen = 64

// PublicKey is an uncompressed public key X‖Y (32 bytes each, big-endian, zero-padded) without
// the 0x04 prefix. On FISCO it is also the node id that appears in sealer lists.
type PublicKey [PublicKeyLen]byte

// String returns the 128 lowercase hex digits without 0x, the node-id form used by the RPC.
func (p PublicKey) String() string { return hex.EncodeToString(p[:]) }

// Bytes returns a copy of the 64 key bytes.
func (p PublicKey) Bytes() []byte { return append([]byte(nil), p[:]...) }

// ParsePublicKey parses 128 hex digits, with or without a 0x prefix, into a public key. It does
// not check that the point is on a curve: Verify and RecoverTx do that for their family.
func ParsePublicKey(s string) (PublicKey, error) {
	var p PublicKey
	raw, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil {
		return p, fmt.Errorf("parse public key %q: %w", s, err)
	}
	return PublicKeyFromBytes(raw)
}

// PublicKeyFromBytes copies a 64-byte key.
func PublicKeyFromBytes(b []byte) (PublicKey, error) {
	var p PublicKey
	if len(b) != PublicKeyLen {
		return p, fmt.Errorf("read public key of %d bytes, want %d: %w", len(b), PublicKeyLen, ErrInvalidPublicKey)
	}
	copy(p[:], b)
	return p, nil
}

// PrivateKey is a private key of one suite. Its zero value is not usable; obtain keys from
// Suite.GenerateKey, Suite.KeyFromSeed or Suite.PrivateKeyFromBytes.
type PrivateKey struct {
	suite string
	d     [32]byte
	pub   PublicKey
	key   *ecdsa.PrivateKey // on secp256k1 or on the SM2 curve
}

// Suite returns the name of the suite the key belongs to.
func (k *PrivateKey) Suite() string { return k.suite }

// PublicKey returns the 64-byte public key (the node id).
func (k *PrivateKey) PublicKey() PublicKey { return k.pub }

// Bytes returns the 32-byte big-endian private scalar.
func (k *PrivateKey) Bytes() []byte { return append([]byte(nil), k.d[:]...) }

// PrivateKeyFromBytes returns the key with the 32-byte big-endian scalar d.
func (s *Suite) PrivateKeyFromBytes(d []byte) (*PrivateKey, error) {
	if len(d) != 32 {
		return nil, fmt.Errorf("read %s private key of %d bytes, want 32: %w", s.name, len(d), ErrInvalidPrivateKey)
	}
	if !s.validScalar(new(big.Int).SetBytes(d)) {
		return nil, fmt.Errorf("read %s private key: scalar out of range: %w", s.name, ErrInvalidPrivateKey)
	}
	k, err := s.scheme.keyFromScalar(d)
	if err != nil {
		return nil, fmt.Errorf("read %s private key: %w: %w", s.name, ErrInvalidPrivateKey, err)
	}
	k.suite = s.name
	return k, nil
}

// GenerateKey returns a key made from 32-byte candidates read from r (crypto/rand when r is
// nil), rejecting out-of-range candidates. Unlike the standard library it reads a fixed number
// of bytes per attempt, so a seeded reader gives reproducible keys.
func (s *Suite) GenerateKey(r io.Reader) (*PrivateKey, error) {
	if r == nil {
		r = rand.Reader
	}
	buf := make([]byte, 32)
	for range 1000 {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("generate %s key: %w", s.name, err)
		}
		if s.validScalar(new(big.Int).SetBytes(buf)) {
			return s.PrivateKeyFromBytes(buf)
		}
	}
	return nil, fmt.Errorf("generate %s key: no valid scalar in 1000 draws: %w", s.name, ErrInvalidPrivateKey)
}

// KeyFromSeed derives a key deterministically from seed: the scalar is Hash(seed ‖ u32 counter)
// for the first counter giving a valid scalar. The same seed gives the same key in a suite (and
// different keys in the two suites). Seeds are not secret-strengthened: use them for test and
// simulator keys, not to protect funds.
func (s *Suite) KeyFromSeed(seed []byte) (*PrivateKey, error) {
	var ctr [4]byte
	for i := range uint32(1000) {
		binary.BigEndian.PutUint32(ctr[:], i)
		h := s.Hash(seed, ctr[:])
		if s.validScalar(new(big.Int).SetBytes(h[:])) {
			return s.PrivateKeyFromBytes(h[:])
		}
	}
	return nil, fmt.Errorf("derive %s key from seed: %w", s.name, ErrInvalidPrivateKey)
}

// validScalar reports whether d is a usable private scalar: 1 ≤ d ≤ maxKey.
func (s *Suite) validScalar(d *big.Int) bool {
	return d.Sign() > 0 && d.Cmp(s.scheme.maxKey()) <= 0
}

// TxSignature is a transaction signature as the v, r, s items of the signed transaction RLP
// carry it.
type TxSignature struct {
	// V is the content of the v item: one byte 27 or 28 (recovery id + 27) for ECDSA; the
	// signer's 64-byte public key for SM2 (always 64 bytes, leading zeros kept).
	V []byte
	// R and S are the signature integers (RLP u256).
	R, S *big.Int
}

// fill32 writes x as 32 big-endian bytes; x must fit.
func fill32(x *big.Int) []byte {
	out := make([]byte, 32)
	x.FillBytes(out)
	return out
}

// scalarOK reports whether 0 < x < n.
func scalarOK(x, n *big.Int) bool {
	return x != nil && x.Sign() > 0 && x.Cmp(n) < 0
}
