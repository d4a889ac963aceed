package cryptosuite

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/hmac"
	"fmt"
	"hash"
	"math/big"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/ethereum/go-ethereum/common"
)

// SM2 curve constants. GB/T 32918.1 limits private keys to [1, n-2] so that 1+d is invertible.
var (
	sm2N    = new(big.Int).Set(sm2.P256().Params().N)
	sm2MaxD = new(big.Int).Sub(sm2N, big.NewInt(2))
	bigOne  = big.NewInt(1)
)

// sm2Scheme is SM3 hashing and SM2 signatures with the default user id, as FISCO 2.x uses them:
// e = SM3(Z ‖ hash) where Z = SM3(ENTL ‖ "1234567812345678" ‖ a ‖ b ‖ Gx ‖ Gy ‖ Px ‖ Py) over
// fixed 32-byte coordinates. Verification is gmsm's; signing is implemented here because
// gmsm's signer consumes a random number of bytes from its reader (randutil.MaybeReadByte) and
// so can never be made reproducible.
type sm2Scheme struct{}

func (sm2Scheme) hash(data ...[]byte) common.Hash { return sm3Hash(data...) }
func (sm2Scheme) maxKey() *big.Int                { return sm2MaxD }
func (sm2Scheme) sigLen() int                     { return SM2SignatureLen }

func (sm2Scheme) keyFromScalar(d []byte) (*PrivateKey, error) {
	k, err := sm2.NewPrivateKey(d)
	if err != nil {
		return nil, err
	}
	pk := &PrivateKey{key: &k.PrivateKey}
	copy(pk.d[:], d)
	// Fixed-width coordinates: go-sdk's SM2PubBytes left-aligns short ones (its bug #12).
	k.X.FillBytes(pk.pub[:32])
	k.Y.FillBytes(pk.pub[32:])
	return pk, nil
}

// sm2Digest returns e = SM3(Z ‖ msg) with the default user id.
func sm2Digest(pub *ecdsa.PublicKey, msg []byte) ([]byte, error) {
	return sm2.CalculateSM2Hash(pub, msg, nil)
}

func (sm2Scheme) sign(s *Suite, key *PrivateKey, h common.Hash) ([]byte, error) {
	r, sv, err := sm2SignRS(s, key, h)
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 0, SM2SignatureLen)
	sig = append(sig, fill32(r)...)
	sig = append(sig, fill32(sv)...)
	sig = append(sig, key.pub[:]...)
	return sig, nil
}

func sm2SignRS(s *Suite, key *PrivateKey, h common.Hash) (r, sv *big.Int, err error) {
	e, err := sm2Digest(&key.key.PublicKey, h[:])
	if err != nil {
		return nil, nil, fmt.Errorf("sign %s with sm2: %w", h.Hex(), err)
	}
	extra, err := s.extraEntropy()
	if err != nil {
		return nil, nil, fmt.Errorf("sign %s with sm2: %w", h.Hex(), err)
	}
	r, sv = sm2SignDigest(key.key.D, e, extra)
	return r, sv, nil
}

// sm2SignDigest is GB/T 32918.2 §6.1 steps A3–A7 with k drawn from an RFC 6979 HMAC-SM3 DRBG
// seeded by the key, the digest and optional extra entropy.
func sm2SignDigest(d *big.Int, e, extra []byte) (r, s *big.Int) {
	n := sm2N
	curve := sm2.P256()
	eInt := new(big.Int).SetBytes(e)
	h1 := new(big.Int).Mod(eInt, n)
	g := newDRBG(sm3.New, fill32(d), fill32(h1), extra)
	dPlus1Inv := new(big.Int).ModInverse(new(big.Int).Add(d, bigOne), n)
	for {
		k := g.scalar(n)
		x1, _ := curve.ScalarBaseMult(fill32(k))
		r = new(big.Int).Add(eInt, x1)
		r.Mod(r, n)
		if r.Sign() == 0 || new(big.Int).Add(r, k).Cmp(n) == 0 {
			continue
		}
		s = new(big.Int).Mul(r, d)
		s.Sub(k, s)
		s.Mul(s, dPlus1Inv)
		s.Mod(s, n)
		if s.Sign() != 0 {
			return r, s
		}
	}
}

func (sm2Scheme) verify(pub PublicKey, h common.Hash, sig []byte) error {
	if len(sig) != SM2SignatureLen {
		return fmt.Errorf("check sm2 signature: %d bytes, want %d: %w", len(sig), SM2SignatureLen, ErrInvalidSignature)
	}
	return sm2VerifyRS(pub, h, new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:64]))
}

func sm2VerifyRS(pub PublicKey, h common.Hash, r, s *big.Int) error {
	if !scalarOK(r, sm2N) || !scalarOK(s, sm2N) {
		return fmt.Errorf("check sm2 signature: r or s out of range: %w", ErrInvalidSignature)
	}
	pk, err := sm2.NewPublicKey(append([]byte{4}, pub[:]...))
	if err != nil {
		return fmt.Errorf("check sm2 signature: key %s: %w: %w", shortKey(pub), ErrInvalidPublicKey, err)
	}
	e, err := sm2Digest(pk, h[:])
	if err != nil {
		return fmt.Errorf("check sm2 signature: %w", err)
	}
	if !sm2.Verify(pk, e, r, s) {
		return fmt.Errorf("verify sm2 signature over %s by %s: %w", h.Hex(), shortKey(pub), ErrInvalidSignature)
	}
	return nil
}

func (sm2Scheme) signTx(s *Suite, key *PrivateKey, h common.Hash) (TxSignature, error) {
	r, sv, err := sm2SignRS(s, key, h)
	if err != nil {
		return TxSignature{}, err
	}
	return TxSignature{V: key.pub.Bytes(), R: r, S: sv}, nil
}

func (sm2Scheme) recoverTx(h common.Hash, ts TxSignature) (PublicKey, error) {
	pub, err := PublicKeyFromBytes(ts.V)
	if err != nil {
		return pub, fmt.Errorf("check sm2 transaction signature: v must be the 64-byte public key: %w", ErrInvalidSignature)
	}
	if ts.R == nil || ts.S == nil {
		return pub, fmt.Errorf("check sm2 transaction signature: missing r or s: %w", ErrInvalidSignature)
	}
	if err := sm2VerifyRS(pub, h, ts.R, ts.S); err != nil {
		return PublicKey{}, err
	}
	return pub, nil
}

// drbg is the HMAC-DRBG of RFC 6979 §3.2 (steps b–h), generic over the hash, for 256-bit
// orders only (qlen = hlen = 256, so bits2int is a plain big-endian read).
type drbg struct {
	newHash func() hash.Hash
	k, v    []byte
	fresh   bool
}

func newDRBG(newHash func() hash.Hash, seed ...[]byte) *drbg {
	g := &drbg{newHash: newHash, k: make([]byte, 32), v: bytes.Repeat([]byte{1}, 32), fresh: true}
	g.k = g.mac(g.v, []byte{0}, bytes.Join(seed, nil))
	g.v = g.mac(g.v)
	g.k = g.mac(g.v, []byte{1}, bytes.Join(seed, nil))
	g.v = g.mac(g.v)
	return g
}

func (g *drbg) mac(parts ...[]byte) []byte {
	m := hmac.New(g.newHash, g.k)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// scalar returns the next candidate in [1, n-1]; each call after the first reseeds as step h.3
// prescribes, which is also how a rejected (r, s) asks for a new k.
func (g *drbg) scalar(n *big.Int) *big.Int {
	for {
		if !g.fresh {
			g.k = g.mac(g.v, []byte{0})
			g.v = g.mac(g.v)
		}
		g.fresh = false
		g.v = g.mac(g.v)
		k := new(big.Int).SetBytes(g.v)
		if k.Sign() > 0 && k.Cmp(n) < 0 {
			return k
		}
	}
}
