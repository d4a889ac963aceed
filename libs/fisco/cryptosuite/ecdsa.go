package cryptosuite

import (
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// secp256k1 group order and its half, the low-s bound the node enforces on transactions and
// produces when signing (ECDSASignature.cpp normalises s > n/2).
var (
	secp256k1N     = new(big.Int).Set(crypto.S256().Params().N)
	secp256k1HalfN = new(big.Int).Rsh(secp256k1N, 1)
	secp256k1MaxD  = new(big.Int).Sub(secp256k1N, big.NewInt(1))
)

// ecdsaVBase is what the transaction RLP adds to the recovery id.
const ecdsaVBase = 27

// ecdsaScheme is secp256k1 through go-ethereum: libsecp256k1 with cgo, btcec without.
type ecdsaScheme struct{}

func (ecdsaScheme) hash(data ...[]byte) common.Hash { return keccak(data...) }
func (ecdsaScheme) maxKey() *big.Int                { return secp256k1MaxD }
func (ecdsaScheme) sigLen() int                     { return ECDSASignatureLen }

func (ecdsaScheme) keyFromScalar(d []byte) (*PrivateKey, error) {
	k, err := crypto.ToECDSA(d)
	if err != nil {
		return nil, err
	}
	pk := &PrivateKey{key: k}
	copy(pk.d[:], d)
	copy(pk.pub[:], crypto.FromECDSAPub(&k.PublicKey)[1:])
	return pk, nil
}

func (ecdsaScheme) sign(_ *Suite, key *PrivateKey, hash common.Hash) ([]byte, error) {
	sig, err := crypto.Sign(hash[:], key.key)
	if err != nil {
		return nil, fmt.Errorf("sign %s with ecdsa: %w", hash.Hex(), err)
	}
	// Both go-ethereum back ends already return low s; normalise anyway, as the node does,
	// so a future back end cannot produce signatures the node rejects.
	if s := new(big.Int).SetBytes(sig[32:64]); s.Cmp(secp256k1HalfN) > 0 {
		s.Sub(secp256k1N, s)
		s.FillBytes(sig[32:64])
		sig[64] ^= 1
	}
	return sig, nil
}

func (e ecdsaScheme) verify(pub PublicKey, hash common.Hash, sig []byte) error {
	got, err := e.recover(hash, sig)
	if err != nil {
		return err
	}
	if got != pub {
		return fmt.Errorf("verify ecdsa signature over %s: signed by %s, not %s: %w", hash.Hex(), shortKey(got), shortKey(pub), ErrInvalidSignature)
	}
	return nil
}

// recover checks the 65-byte r‖s‖v form and returns the signer.
func (ecdsaScheme) recover(hash common.Hash, sig []byte) (PublicKey, error) {
	var pub PublicKey
	if len(sig) != ECDSASignatureLen {
		return pub, fmt.Errorf("check ecdsa signature: %d bytes, want %d: %w", len(sig), ECDSASignatureLen, ErrInvalidSignature)
	}
	if sig[64] > 1 {
		return pub, fmt.Errorf("check ecdsa signature: recovery id %d, want 0 or 1: %w", sig[64], ErrInvalidSignature)
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:64])
	if !scalarOK(r, secp256k1N) || !scalarOK(s, secp256k1N) {
		return pub, fmt.Errorf("check ecdsa signature: r or s out of range: %w", ErrInvalidSignature)
	}
	if s.Cmp(secp256k1HalfN) > 0 {
		return pub, fmt.Errorf("check ecdsa signature: high s (malleable form): %w", ErrInvalidSignature)
	}
	raw, err := crypto.Ecrecover(hash[:], sig)
	if err != nil {
		return pub, fmt.Errorf("recover ecdsa signer over %s: %w: %w", hash.Hex(), ErrInvalidSignature, err)
	}
	if len(raw) != 65 || raw[0] != 4 {
		return pub, fmt.Errorf("recover ecdsa signer over %s: unexpected key encoding: %w", hash.Hex(), ErrInvalidSignature)
	}
	copy(pub[:], raw[1:])
	return pub, nil
}

func (e ecdsaScheme) signTx(s *Suite, key *PrivateKey, hash common.Hash) (TxSignature, error) {
	sig, err := e.sign(s, key, hash)
	if err != nil {
		return TxSignature{}, err
	}
	return TxSignature{
		V: []byte{ecdsaVBase + sig[64]},
		R: new(big.Int).SetBytes(sig[:32]),
		S: new(big.Int).SetBytes(sig[32:64]),
	}, nil
}

func (e ecdsaScheme) recoverTx(hash common.Hash, ts TxSignature) (PublicKey, error) {
	if len(ts.V) != 1 || (ts.V[0] != ecdsaVBase && ts.V[0] != ecdsaVBase+1) {
		return PublicKey{}, fmt.Errorf("check ecdsa transaction signature: v = %x, want 1b or 1c: %w", ts.V, ErrInvalidSignature)
	}
	if !fitsU256(ts.R) || !fitsU256(ts.S) {
		return PublicKey{}, fmt.Errorf("check ecdsa transaction signature: r or s out of range: %w", ErrInvalidSignature)
	}
	sig := make([]byte, 0, ECDSASignatureLen)
	sig = append(sig, fill32(ts.R)...)
	sig = append(sig, fill32(ts.S)...)
	sig = append(sig, ts.V[0]-ecdsaVBase)
	return e.recover(hash, sig)
}

// fitsU256 reports whether x is a non-negative integer below 2^256.
func fitsU256(x *big.Int) bool { return x != nil && x.Sign() >= 0 && x.BitLen() <= 256 }

// shortKey abbreviates a key for error messages.
func shortKey(p PublicKey) string {
	s := p.String()
	return s[:8] + "…" + s[len(s)-4:]
}
