package verify_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

func wantCheckErr(t *testing.T, err error) {
	t.Helper()
	if _, ok := errors.AsType[*verify.CheckError](err); err != nil && (!ok || !errors.Is(err, verify.ErrCheck)) {
		t.Fatalf("error %v is not a *CheckError", err)
	}
}

// FuzzCheck feeds arbitrary binlog files through Check and Chain.Accept, and the record's
// block bytes once more as a JSON-RPC source delivers a block (Raw, with claimed senders):
// nothing may panic, and every failure must be a *CheckError.
func FuzzCheck(f *testing.F) {
	recs := fixtureRecords(f)
	file := func(rs ...*binlog.Record) []byte {
		out := binlog.AppendHeader(nil)
		for _, r := range rs {
			out = append(out, r.Raw...)
		}
		return out
	}
	f.Add(file(recs[0], recs[1]))
	f.Add(file(recs[20], recs[21]))
	f.Add(file(recs[3])[:150])
	v := verify.NewVerifier(cryptosuite.ECDSA())
	f.Fuzz(func(t *testing.T, in []byte) {
		fromFile := verify.NewChain(verify.Tip{}, cryptosuite.ECDSA())
		fromRPC := verify.NewChain(verify.Tip{}, cryptosuite.ECDSA())
		r := binlog.NewReader(bytes.NewReader(in), binlog.Options{})
		for range 32 {
			rec, err := r.Next()
			if rec == nil || (err != nil && !errors.Is(err, io.EOF)) {
				break
			}
			c := &verify.Candidate{Number: rec.BlockNumber, Source: "fuzz", Record: rec}
			b, err := v.Check(c)
			wantCheckErr(t, err)
			if err == nil {
				wantCheckErr(t, fromFile.Accept(b))
			}
			_, raw, err := verify.BlockValue(rec)
			if err != nil {
				continue
			}
			c = &verify.Candidate{Number: rec.BlockNumber, Source: "fuzz-rpc", Raw: raw, ClaimedSenders: []common.Address{{}}}
			b, err = v.Check(c)
			wantCheckErr(t, err)
			if err == nil {
				wantCheckErr(t, fromRPC.Accept(b))
			}
		}
		_, err := v.Check(&verify.Candidate{Number: 1, Raw: in})
		wantCheckErr(t, err)
		_, err = v.Check(nil)
		wantCheckErr(t, err)
		wantCheckErr(t, fromRPC.Accept(nil))
	})
}
