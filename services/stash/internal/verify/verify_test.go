package verify_test

import (
	"encoding/hex"
	"slices"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fixtures"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// Hash of block 21 of 0.binlog: the parentHash of rlp-block22-samplechain.hex (fixture README).
const block21Prefix = "505ad4a9"

func fixtureRecords(t testing.TB) []*binlog.Record {
	t.Helper()
	recs, err := binlog.ReadFile(fixtures.Path(t, "binlog", "0.binlog"), binlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func candidates(recs []*binlog.Record) []*verify.Candidate {
	out := make([]*verify.Candidate, len(recs))
	for i, rec := range recs {
		out[i] = &verify.Candidate{Number: rec.BlockNumber, Source: "fixture", Record: rec}
	}
	return out
}

func TestFixtureVerifies(t *testing.T) {
	recs := fixtureRecords(t)
	v := verify.NewVerifier(cryptosuite.ECDSA())
	chain := verify.NewChain(verify.Tip{}, cryptosuite.ECDSA())
	var last *verify.Block
	for _, c := range candidates(recs) {
		b, err := v.Check(c)
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		if err := chain.Accept(b); err != nil {
			t.Fatalf("Accept: %v", err)
		}
		if b.Number > 0 {
			for _, want := range []string{verify.CheckSignatures, verify.CheckSender, verify.CheckTxIndex, verify.CheckNonces, verify.CheckBlockLimit, verify.CheckParentLink, verify.CheckSealerSet, verify.CheckTimestamp} {
				if !slices.Contains(b.Checks, want) {
					t.Errorf("block %d: check %s did not run (ran %v)", b.Number, want, b.Checks)
				}
			}
			if b.ValidSignatures != 3 || b.SealerCount != 4 {
				t.Errorf("block %d: %d signatures of %d sealers, want 3 of 4", b.Number, b.ValidSignatures, b.SealerCount)
			}
			if len(b.Senders) != b.TxCount() {
				t.Errorf("block %d: %d senders for %d txs", b.Number, len(b.Senders), b.TxCount())
			}
		}
		last = b
	}
	if got := hex.EncodeToString(last.Hash[:4]); last.Number != 21 || got != block21Prefix {
		t.Fatalf("last block %d hash %s…, want 21 %s…", last.Number, got, block21Prefix)
	}
	// Blocks 1 and 2 were sent by 6c0769ea… (reference §2.4).
	if got := hex.EncodeToString(mustCheck(t, v, candidates(recs)[1]).Senders[0][:4]); got != "6c0769ea" {
		t.Errorf("block 1 sender %s…, want 6c0769ea…", got)
	}
}

func mustCheck(t *testing.T, v *verify.Verifier, c *verify.Candidate) *verify.Block {
	t.Helper()
	b, err := v.Check(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
