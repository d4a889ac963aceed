package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"testing"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
)

// BenchmarkRead reports rows/s of each reader on 100k generated rows shaped like a transfer
// file (hash, amount, two addresses, a time, a Chinese memo).
func BenchmarkRead(b *testing.B) {
	const rows = 100_000
	header := []string{"tx_hash", "amount", "from", "to", "time", "memo"}
	for _, o := range []Options{
		{Format: job.FormatCSV}, {Format: job.FormatCSV, Encoding: job.EncodingGBK}, {Format: job.FormatTXT},
		{Format: job.FormatJSON}, {Format: job.FormatJSONL}, {Format: job.FormatXLSX},
	} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, o, header)
		if err != nil {
			b.Fatal(err)
		}
		for i := range rows {
			n := strconv.Itoa(i)
			if err := w.Write([]string{fmt.Sprintf("0x%064x", i), n + ".25", fmt.Sprintf("0x%040x", i%7), fmt.Sprintf("0x%040x", i%5),
				"2025-12-05 10:00:00", "工资 " + n}); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		data := buf.Bytes()
		b.Run(o.Format+"-"+o.Encoding, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				r, err := NewReader(bytes.NewReader(data), "bench", o)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					_, err := r.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				_ = r.Close()
				if n != rows {
					b.Fatalf("%d rows", n)
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
