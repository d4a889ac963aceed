package fiscosim_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fisco/verify"
	"github.com/bcosdata/bcosdata/services/fiscosim"
)

// TestBulkWritesVerifiableChain writes a small bulk chain and verifies all of it.
func TestBulkWritesVerifiableChain(t *testing.T) {
	cfg := testConfig(t)
	cfg.Bulk, cfg.Txs, cfg.MaxTxs = true, 1000, 100
	cfg.Workers = 2
	sim := runToEnd(t, cfg)
	recs, _, _, _ := readRecords(t, sim.BinlogDir())
	if len(recs) != 11 {
		t.Fatalf("%d records, want genesis + 10 blocks", len(recs))
	}
	v, err := verify.New(cryptosuite.ECDSA(), verify.WithSupportedVersion(cfg.SupportedVersion))
	if err != nil {
		t.Fatal(err)
	}
	txs := 0
	for _, rec := range recs {
		res, err := v.VerifyRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		txs += len(res.TxHashes)
	}
	if txs != 1000 {
		t.Fatalf("%d transactions, want 1000", txs)
	}
}

// BenchmarkBulk measures bulk mode: b.N blocks of 1000 transactions, reporting tx/s and MB/s
// of binlog written.
func BenchmarkBulk(b *testing.B) {
	for _, sm := range []bool{false, true} {
		name := map[bool]string{false: "ecdsa", true: "sm"}[sm]
		b.Run(name, func(b *testing.B) {
			cfg := testConfig(b)
			cfg.Bulk, cfg.SM, cfg.MaxTxs = true, sm, 1000
			cfg.Txs = 1000 * b.N
			cfg.Accounts = 100
			sim, err := fiscosim.New(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			if err := sim.Run(b.Context()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			var size int64
			for _, f := range dirBytes(b, sim.BinlogDir()) {
				size += int64(len(f))
			}
			secs := b.Elapsed().Seconds()
			b.ReportMetric(float64(cfg.Txs)/secs, "tx/s")
			b.ReportMetric(float64(size)/1e6/secs, "MB/s")
			b.ReportMetric(float64(size)/float64(cfg.Txs), "B/tx")
		})
	}
}

// TestBulkMixDefault checks that bulk mode keeps the classic mix and writes no record unless
// the full mix is asked for, which live traffic uses by default.
func TestBulkMixDefault(t *testing.T) {
	cfg := testConfig(t)
	cfg.Bulk, cfg.Txs, cfg.MaxTxs, cfg.Workers = true, 200, 100, 2
	sim := runToEnd(t, cfg)
	if n := len(sim.Contracts()); n != 2 || len(sim.Sent()) != 0 {
		t.Fatalf("bulk default: %d contracts, %d records", n, len(sim.Sent()))
	}
	if _, err := os.Stat(sim.SentPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("bulk default wrote %s: %v", sim.SentPath(), err)
	}
	cfg = testConfig(t)
	cfg.Bulk, cfg.Txs, cfg.MaxTxs, cfg.Workers, cfg.Mix = true, 200, 100, 2, fiscosim.MixFull
	sim = runToEnd(t, cfg)
	raw, err := os.ReadFile(sim.SentPath())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sim.Contracts()); n != 7 || len(sim.Sent()) != 200 || bytes.Count(raw, []byte("\n")) != 200 {
		t.Fatalf("bulk full: %d contracts, %d records, %d JSON lines", n, len(sim.Sent()), bytes.Count(raw, []byte("\n")))
	}
	cfg = testConfig(t)
	cfg.Blocks = 2
	if live := runToEnd(t, cfg); len(live.Contracts()) != 7 || len(live.Sent()) == 0 {
		t.Fatalf("live default: %d contracts, %d records; want the full mix", len(live.Contracts()), len(live.Sent()))
	}
}
