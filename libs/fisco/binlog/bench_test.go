package binlog_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
)

// benchFile builds a binlog of about size bytes by repeating the fixture's records 1..21 with
// increasing block numbers, and returns it with its record count.
func benchFile(b *testing.B, size int) ([]byte, int) {
	b.Helper()
	_, recs := fixtureRecords(b)
	out := binlog.AppendHeader(nil)
	n := 0
	for block := uint64(0); len(out) < size; block++ {
		rec := *recs[1+int(block)%20]
		rec.BlockNumber = block
		var err error
		if out, err = binlog.AppendRecord(out, &rec); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return out, n
}

// BenchmarkRead reads and CRC-checks every record of a generated 32 MB file, from memory and
// from a file on disk (page cache).
func BenchmarkRead(b *testing.B) {
	data, n := benchFile(b, 32<<20)
	path := filepath.Join(b.TempDir(), "0.binlog")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	for _, src := range []string{"memory", "file"} {
		b.Run(src, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var r *binlog.Reader
				if src == "memory" {
					r = binlog.NewReader(bytes.NewReader(data), binlog.Options{})
				} else {
					var err error
					if r, err = binlog.Open(path, binlog.Options{}); err != nil {
						b.Fatal(err)
					}
				}
				got := 0
				for {
					_, err := r.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
				r.Close()
				if got != n {
					b.Fatalf("read %d records, want %d", got, n)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkWrite encodes the same records into memory.
func BenchmarkWrite(b *testing.B) {
	data, n := benchFile(b, 32<<20)
	recs := readAll(b, binlog.NewReader(bytes.NewReader(data), binlog.Options{}))
	var buf bytes.Buffer
	buf.Grow(len(data))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		buf.Reset()
		w, _ := binlog.NewWriter(&buf)
		for _, rec := range recs {
			if err := w.WriteRecord(rec); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
