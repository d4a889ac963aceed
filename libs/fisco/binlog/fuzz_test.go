package binlog_test

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
)

// FuzzReader feeds arbitrary files to the Reader in every format mode. It must not panic,
// must not allocate much more than the input (lengths are checked before allocating), and
// every record it accepts must re-encode to exactly the bytes it was read from.
func FuzzReader(f *testing.F) {
	data := fixtureBytes(f)
	spans := walk(f, data)
	// Small seeds keep the fuzzer fast (it minimises every new input); the whole file is
	// covered by the ordinary tests.
	f.Add(data[:spans[1].off])                                       // genesis only
	f.Add(append([]byte{0, 0, 0, 1}, data[spans[20].off:]...))       // the last two records
	f.Add(data[:spans[2].off+37])                                    // truncated body
	f.Add([]byte{0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0}) // huge length, no data
	for _, tc := range handCases() {
		f.Add(file(tc.bytes))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, format := range []binlog.Format{binlog.FormatAuto, binlog.FormatFlagged, binlog.FormatUnflagged} {
			r := binlog.NewReader(bytes.NewReader(in), binlog.Options{Format: format})
			for range 1 << 16 {
				rec, err := r.Next()
				if err == nil {
					if rec.Format == binlog.FormatAuto {
						t.Fatalf("record at %d decoded without a format", rec.Offset)
					}
					out, err := binlog.AppendRecord(nil, rec)
					if err != nil {
						t.Fatalf("re-encode block %d: %v", rec.BlockNumber, err)
					}
					if !bytes.Equal(out, rec.Raw) {
						t.Fatalf("block %d at %d re-encodes differently\n got %x\nwant %x", rec.BlockNumber, rec.Offset, out, rec.Raw)
					}
					continue
				}
				if errors.Is(err, binlog.ErrBadCRC) || (errors.Is(err, binlog.ErrMalformed) && rec != nil) {
					continue // that record only; the next one follows
				}
				if !errors.Is(err, io.EOF) {
					var re *binlog.RecordError
					if !errors.As(err, &re) {
						t.Fatalf("error %v is not a *RecordError", err)
					}
				}
				break
			}
		}
		runtime.ReadMemStats(&after)
		// Three passes over the input; each may allocate one 64 KiB read chunk ahead of data
		// and a bounded multiple of the bytes it actually decoded.
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(3*(256<<10)+3*64*len(in)); got > limit {
			t.Fatalf("allocated %d bytes for a %d-byte input (limit %d)", got, len(in), limit)
		}
	})
}
