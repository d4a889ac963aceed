package evidence_test

import (
	"errors"
	"testing"

	"github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

func suites() map[string]*cryptosuite.Suite {
	return map[string]*cryptosuite.Suite{"ecdsa": cryptosuite.ECDSA(), "sm": cryptosuite.SM()}
}

func key(t testing.TB, s *cryptosuite.Suite, seed string) *cryptosuite.PrivateKey {
	t.Helper()
	k, err := s.KeyFromSeed([]byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignVerify(t *testing.T) {
	for name, s := range suites() {
		t.Run(name, func(t *testing.T) {
			k := key(t, s, "publisher acme")
			other := key(t, s, "publisher mallory")
			r := kaRecord()
			if err := evidence.Sign(s, k, &r); err != nil {
				t.Fatal(err)
			}
			if len(r.Signature) != s.SignatureLen() {
				t.Fatalf("signature of %d bytes, want %d", len(r.Signature), s.SignatureLen())
			}
			if err := evidence.VerifySignature(s, k.PublicKey(), &r); err != nil {
				t.Fatalf("own signature rejected: %v", err)
			}
			pk := evidence.NewPublisherKey(s, k.PublicKey())
			if err := pk.Verify(&r); err != nil {
				t.Fatalf("PublisherKey.Verify: %v", err)
			}
			if err := evidence.NewPublisherKey(s, other.PublicKey()).Verify(&r); !errors.Is(err, evidence.ErrBadSignature) {
				t.Fatalf("PublisherKey.Verify with another key: %v", err)
			}
			erased := r
			erased.Erase()
			if err := evidence.VerifySignature(s, k.PublicKey(), &erased); err != nil {
				t.Fatalf("signature of erased record rejected: %v", err)
			}
			bad := map[string]func() error{
				"other key": func() error { return evidence.VerifySignature(s, other.PublicKey(), &r) },
				"altered id": func() error {
					x := r
					x.ID = "r-2"
					return evidence.VerifySignature(s, k.PublicKey(), &x)
				},
				"altered payload hash": func() error {
					x := r
					x.SetPayload(evidence.PayloadJSON, []byte(`{"a":2}`))
					return evidence.VerifySignature(s, k.PublicKey(), &x)
				},
				"flipped signature bit": func() error {
					x := r
					x.Signature = append([]byte(nil), r.Signature...)
					x.Signature[10] ^= 1
					return evidence.VerifySignature(s, k.PublicKey(), &x)
				},
				"short signature": func() error {
					x := r
					x.Signature = r.Signature[:len(r.Signature)-1]
					return evidence.VerifySignature(s, k.PublicKey(), &x)
				},
			}
			for what, verify := range bad {
				if err := verify(); !errors.Is(err, evidence.ErrBadSignature) {
					t.Errorf("%s: err = %v, want ErrBadSignature", what, err)
				}
			}
		})
	}
	// A key of one suite does not sign in the other.
	r := kaRecord()
	if err := evidence.Sign(cryptosuite.SM(), key(t, cryptosuite.ECDSA(), "x"), &r); err == nil {
		t.Fatal("ECDSA key signed in the SM suite")
	}
	// An invalid record is not signed.
	r.Kind = "nonsense"
	if err := evidence.Sign(cryptosuite.ECDSA(), key(t, cryptosuite.ECDSA(), "x"), &r); !errors.Is(err, evidence.ErrInvalidRecord) {
		t.Fatalf("invalid record signed: %v", err)
	}
}
