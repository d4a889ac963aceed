// Package cryptosuite implements the two FISCO BCOS 2.x crypto families behind one Suite: the
// standard one (keccak256 hashing, secp256k1 ECDSA) and the national-crypto one (SM3 hashing,
// SM2 signatures with the default user id "1234567812345678").
//
// A Suite hashes, derives and generates keys, signs and verifies consensus (sealer) signatures
// over a 32-byte block hash, signs transactions and recovers their senders, and turns a 64-byte
// public key (a FISCO node id) into an address. Signing is deterministic by default so a seeded
// simulator reproduces byte-identical chains; see WithNonceSource for SM2.
package cryptosuite

import (
	"fmt"
	"io"
	"math/big"
	"sync"

	"github.com/emmansun/gmsm/sm3"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Names of the crypto families accepted by New.
const (
	// NameECDSA selects keccak256 and secp256k1 ECDSA (FISCO "standard" chains).
	NameECDSA = "ecdsa"
	// NameSM selects SM3 and SM2 (FISCO national-crypto, "gm", chains).
	NameSM = "sm"
)

// Signature sizes of consensus (sealer) signatures.
const (
	// ECDSASignatureLen is r‖s‖v with v the recovery id 0 or 1.
	ECDSASignatureLen = 65
	// SM2SignatureLen is r‖s‖pub with pub the signer's 64-byte public key.
	SM2SignatureLen = 128
)

// Suite is one crypto family. It is safe for concurrent use.
type Suite struct {
	name   string
	scheme scheme

	nonceMu sync.Mutex
	nonce   io.Reader
}

// scheme is what differs between the families beyond the hash function.
type scheme interface {
	hash(data ...[]byte) common.Hash
	maxKey() *big.Int
	keyFromScalar(d []byte) (*PrivateKey, error)
	sign(s *Suite, key *PrivateKey, hash common.Hash) ([]byte, error)
	verify(pub PublicKey, hash common.Hash, sig []byte) error
	signTx(s *Suite, key *PrivateKey, hash common.Hash) (TxSignature, error)
	recoverTx(hash common.Hash, sig TxSignature) (PublicKey, error)
	sigLen() int
}

// Option configures a Suite.
type Option func(*Suite)

// WithNonceSource mixes 32 bytes read from r into every SM2 signing nonce (RFC 6979 §3.6
// "additional data"). Without it SM2 signatures are a deterministic function of key and hash,
// like go-ethereum's ECDSA ones. A seeded reader keeps signatures reproducible as long as the
// signing order is. ECDSA signing ignores it: go-ethereum's signer is always RFC 6979.
func WithNonceSource(r io.Reader) Option {
	return func(s *Suite) { s.nonce = r }
}

// New returns the suite named name: NameECDSA ("ecdsa") or NameSM ("sm").
func New(name string, opts ...Option) (*Suite, error) {
	var s *Suite
	switch name {
	case NameECDSA:
		s = &Suite{name: name, scheme: ecdsaScheme{}}
	case NameSM:
		s = &Suite{name: name, scheme: sm2Scheme{}}
	default:
		return nil, fmt.Errorf("select crypto suite %q: %w", name, ErrUnknownSuite)
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// ECDSA returns the keccak256/secp256k1 suite.
func ECDSA(opts ...Option) *Suite {
	s, _ := New(NameECDSA, opts...)
	return s
}

// SM returns the SM3/SM2 suite.
func SM(opts ...Option) *Suite {
	s, _ := New(NameSM, opts...)
	return s
}

// Name returns "ecdsa" or "sm".
func (s *Suite) Name() string { return s.name }

// String returns the suite name.
func (s *Suite) String() string { return s.name }

// Hash returns keccak256 (ECDSA suite) or SM3 (SM suite) of the concatenation of data.
func (s *Suite) Hash(data ...[]byte) common.Hash { return s.scheme.hash(data...) }

// SignatureLen returns the size of a consensus signature: 65 (ECDSA) or 128 (SM2).
func (s *Suite) SignatureLen() int { return s.scheme.sigLen() }

// Address returns the account address of a public key: the last 20 bytes of Hash(pub).
func (s *Suite) Address(pub PublicKey) common.Address {
	h := s.Hash(pub[:])
	return common.BytesToAddress(h[12:])
}

// Sign returns the consensus signature of key over a 32-byte hash, as FISCO sealers sign block
// hashes: ECDSA r‖s‖v (65 bytes, low s, v∈{0,1}) or SM2 r‖s‖pub (128 bytes).
func (s *Suite) Sign(key *PrivateKey, hash common.Hash) ([]byte, error) {
	if err := s.checkKey(key); err != nil {
		return nil, err
	}
	return s.scheme.sign(s, key, hash)
}

// Verify checks a consensus signature over hash against pub (a node id). It returns nil when the
// signature is valid and an error wrapping ErrInvalidSignature otherwise.
//
// ECDSA follows the node (recover and compare) and also requires v∈{0,1} and a low s. SM2
// follows the node too: r and s are checked against pub; the public key embedded in the last 64
// bytes is not compared, as the node ignores it.
func (s *Suite) Verify(pub PublicKey, hash common.Hash, sig []byte) error {
	return s.scheme.verify(pub, hash, sig)
}

// SignTx signs a transaction signing hash (Hash of the 10-field unsigned RLP) and returns the
// v, r, s items to store in the transaction.
func (s *Suite) SignTx(key *PrivateKey, hash common.Hash) (TxSignature, error) {
	if err := s.checkKey(key); err != nil {
		return TxSignature{}, err
	}
	return s.scheme.signTx(s, key, hash)
}

// RecoverTx returns the public key that signed a transaction signing hash: ECDSA recovery for
// the ECDSA suite; for SM2, the public key carried in v once the signature verifies against it.
func (s *Suite) RecoverTx(hash common.Hash, sig TxSignature) (PublicKey, error) {
	return s.scheme.recoverTx(hash, sig)
}

// TxSender returns the address that signed a transaction signing hash.
func (s *Suite) TxSender(hash common.Hash, sig TxSignature) (common.Address, error) {
	pub, err := s.RecoverTx(hash, sig)
	if err != nil {
		return common.Address{}, err
	}
	return s.Address(pub), nil
}

func (s *Suite) checkKey(key *PrivateKey) error {
	if key == nil {
		return fmt.Errorf("sign with a nil key: %w", ErrInvalidPrivateKey)
	}
	if key.suite != s.name {
		return fmt.Errorf("sign with a %s key in the %s suite: %w", key.suite, s.name, ErrSuiteMismatch)
	}
	return nil
}

// extraEntropy reads the optional nonce additional data; nil when no source is set.
func (s *Suite) extraEntropy() ([]byte, error) {
	if s.nonce == nil {
		return nil, nil
	}
	s.nonceMu.Lock()
	defer s.nonceMu.Unlock()
	buf := make([]byte, 32)
	if _, err := io.ReadFull(s.nonce, buf); err != nil {
		return nil, fmt.Errorf("read signing nonce entropy: %w", err)
	}
	return buf, nil
}

func keccak(data ...[]byte) common.Hash { return crypto.Keccak256Hash(data...) }

func sm3Hash(data ...[]byte) common.Hash {
	if len(data) == 1 {
		return sm3.Sum(data[0])
	}
	h := sm3.New()
	for _, d := range data {
		h.Write(d)
	}
	var out common.Hash
	h.Sum(out[:0])
	return out
}
