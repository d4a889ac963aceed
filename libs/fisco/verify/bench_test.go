package verify_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fisco/verify"
	"github.com/bcosdata/bcosdata/libs/fixtures"
)

// simFile generates a binlog of blocks transactions each (ECDSA), genesis included.
func simFile(b *testing.B, blocks, txs int) []byte {
	b.Helper()
	c := newSim(b, cryptosuite.ECDSA(), 4)
	out := binlog.AppendHeader(nil)
	out = append(out, c.genesis().Raw...)
	for range blocks {
		rec, _ := c.block(blockOpts{txs: txs})
		out = append(out, rec.Raw...)
	}
	return out
}

// readRate measures the raw read+CRC rate of data in records per second, for comparison.
func readRate(b *testing.B, data []byte) float64 {
	b.Helper()
	records, start := 0, time.Now()
	for time.Since(start) < 300*time.Millisecond {
		r := binlog.NewReader(bytes.NewReader(data), binlog.Options{})
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			records++
		}
	}
	return float64(records) / time.Since(start).Seconds()
}

// BenchmarkVerify reads and verifies whole binlogs (the fixture: 22 blocks of one transaction;
// a generated one: 100 blocks of 50 transactions) and reports records/s, transactions/s and
// the ratio to the raw read+CRC rate of the same bytes measured in the same run.
func BenchmarkVerify(b *testing.B) {
	sets := []struct {
		name string
		data func(b *testing.B) []byte
	}{
		{"fixture", func(b *testing.B) []byte { return fixtures.Read(b, "binlog", "0.binlog") }},
		{"sim-100x50tx", func(b *testing.B) []byte { return simFile(b, 100, 50) }},
	}
	for _, set := range sets {
		data := set.data(b)
		for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("%s/workers=%d", set.name, workers), func(b *testing.B) {
				raw := readRate(b, data)
				b.SetBytes(int64(len(data)))
				records, txs := 0, 0
				for b.Loop() {
					v, err := verify.New(cryptosuite.ECDSA(), verify.WithConcurrency(workers))
					if err != nil {
						b.Fatal(err)
					}
					err = v.VerifyRecords(b.Context(), binlog.NewReader(bytes.NewReader(data), binlog.Options{}), func(res *verify.Result, err error) error {
						if err != nil {
							return err
						}
						records++
						txs += len(res.Senders)
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				secs := b.Elapsed().Seconds()
				b.ReportMetric(float64(records)/secs, "records/s")
				b.ReportMetric(float64(txs)/secs, "txs/s")
				b.ReportMetric(float64(records)/secs/raw, "ratio-to-read")
			})
		}
	}
}
