package ceiling_test

import (
	"testing"

	"github.com/bcosdata/bcosdata/libs/evidence/ceiling"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

func TestRates(t *testing.T) {
	for _, s := range []*cryptosuite.Suite{cryptosuite.ECDSA(), cryptosuite.SM()} {
		recs, pub, err := ceiling.SignedRecords(s, 20)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := ceiling.VerifyRate(s, pub, recs, 2); err != nil || r <= 0 {
			t.Fatalf("%s verify rate = %v, %v", s, r, err)
		}
		recs[7].Signature[3] ^= 1
		if _, err := ceiling.VerifyRate(s, pub, recs, 2); err == nil {
			t.Fatalf("%s: a bad signature was counted as verified", s)
		}
	}
	if r, err := ceiling.FsyncRate(t.TempDir(), 5, 1024); err != nil || r <= 0 {
		t.Fatalf("fsync rate = %v, %v", r, err)
	}
}
