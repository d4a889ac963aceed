package evidence

import (
	"encoding/json"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// Sign validates r, then sets r.Signature to key's signature over r.Digest(s): 65 bytes
// r‖s‖v for ECDSA, 128 bytes r‖s‖pub for SM2.
func Sign(s *cryptosuite.Suite, key *cryptosuite.PrivateKey, r *Record) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	sig, err := s.Sign(key, r.Digest(s))
	if err != nil {
		return fmt.Errorf("sign record %q: %w", r.ID, err)
	}
	r.Signature = sig
	return nil
}

// VerifySignature checks r.Signature against the publisher's public key pub. It returns an
// error wrapping ErrBadSignature when the signature is malformed or does not verify.
func VerifySignature(s *cryptosuite.Suite, pub cryptosuite.PublicKey, r *Record) error {
	if len(r.Signature) != s.SignatureLen() {
		return fmt.Errorf("record %q: %s signature of %d bytes, want %d: %w", clip(r.ID), s.Name(), len(r.Signature), s.SignatureLen(), ErrBadSignature)
	}
	if err := s.Verify(pub, r.Digest(s), r.Signature); err != nil {
		return fmt.Errorf("record %q: %w: %w", clip(r.ID), ErrBadSignature, err)
	}
	return nil
}

// PublisherKey identifies a publisher's signing key: the crypto suite of the chain, the 64-byte
// public key and the FISCO account address derived from it.
type PublisherKey struct {
	Suite     string // cryptosuite.NameECDSA or cryptosuite.NameSM
	PublicKey cryptosuite.PublicKey
	Address   common.Address
}

// NewPublisherKey returns the key of pub in suite s, with its address.
func NewPublisherKey(s *cryptosuite.Suite, pub cryptosuite.PublicKey) PublisherKey {
	return PublisherKey{Suite: s.Name(), PublicKey: pub, Address: s.Address(pub)}
}

// CryptoSuite returns the suite the key belongs to and checks that Address is derived from
// PublicKey in it.
func (k PublisherKey) CryptoSuite() (*cryptosuite.Suite, error) {
	s, err := cryptosuite.New(k.Suite)
	if err != nil {
		return nil, fmt.Errorf("publisher key: %w", err)
	}
	if got := s.Address(k.PublicKey); got != k.Address {
		return nil, fmt.Errorf("publisher key: address %s is not the %s address %s of public key 0x%s: %w",
			k.Address.Hex(), s.Name(), got.Hex(), k.PublicKey, cryptosuite.ErrInvalidPublicKey)
	}
	return s, nil
}

type publisherKeyJSON struct {
	Suite     string         `json:"suite"`
	PublicKey hexutil.Bytes  `json:"public_key"`
	Address   common.Address `json:"address"`
}

// MarshalJSON writes {"suite", "public_key" (0x hex), "address" (0x hex)}.
func (k PublisherKey) MarshalJSON() ([]byte, error) {
	return json.Marshal(publisherKeyJSON{Suite: k.Suite, PublicKey: k.PublicKey[:], Address: k.Address})
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (k *PublisherKey) UnmarshalJSON(b []byte) error {
	var j publisherKeyJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("decode publisher key: %w", err)
	}
	pub, err := cryptosuite.PublicKeyFromBytes(j.PublicKey)
	if err != nil {
		return fmt.Errorf("decode publisher key: %w", err)
	}
	*k = PublisherKey{Suite: j.Suite, PublicKey: pub, Address: j.Address}
	return nil
}

// Verify checks r's signature against this publisher key (and the key's own consistency).
func (k PublisherKey) Verify(r *Record) error {
	s, err := k.CryptoSuite()
	if err != nil {
		return err
	}
	return VerifySignature(s, k.PublicKey, r)
}
