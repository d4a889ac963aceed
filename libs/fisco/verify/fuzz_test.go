package verify_test

import (
	"errors"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/verify"
)

// FuzzVerifyBlock feeds arbitrary block bytes to a verifier that has seen no chain: it must
// not panic, and every failure must be a *CheckError.
func FuzzVerifyBlock(f *testing.F) {
	for _, name := range []string{"rlp-block22-samplechain.hex", "rlp-block3-rc2-roots.hex", "rlp-block0-genesis-otherchain.hex"} {
		f.Add(hexFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := verify.New(verify.Config{Concurrency: 2})
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.VerifyBlock(raw)
		var ce *verify.CheckError
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("error %v is not a *CheckError", err)
		}
		if err == nil && (res.Block == nil || res.Hash != res.Block.BlockHash) {
			t.Fatalf("accepted a block whose hash does not check: %+v", res)
		}
	})
}
