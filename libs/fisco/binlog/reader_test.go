package binlog_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fixtures"
)

func fixtureBytes(t testing.TB) []byte {
	t.Helper()
	return fixtures.Read(t, "binlog", "0.binlog")
}

// readUntilErr reads records until an error and returns them with the error.
func readUntilErr(r *binlog.Reader) ([]*binlog.Record, error) {
	var recs []*binlog.Record
	for {
		rec, err := r.Next()
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
	}
}

func TestTruncatedTail(t *testing.T) {
	data := fixtureBytes(t)
	spans := walk(t, data)
	last := spans[len(spans)-1]
	cases := []struct {
		name      string
		cut       int64
		records   int
		wantErr   error
		offset    int64
		block     uint64
		blockKnow bool
	}{
		{"empty file", 0, 0, binlog.ErrTruncated, 0, 0, false},
		{"inside the header", 2, 0, binlog.ErrTruncated, 0, 0, false},
		{"header only", 4, 0, io.EOF, 0, 0, false},
		{"at a record boundary", 0x963, 1, io.EOF, 0, 0, false},
		{"inside a length field", 0x963 + 2, 1, binlog.ErrTruncated, 0x963, 0, false},
		{"inside the block number", 0x963 + 8, 1, binlog.ErrTruncated, 0x963, 0, false},
		{"inside a body", 0x963 + 100, 1, binlog.ErrTruncated, 0x963, 1, true},
		{"last byte missing", fixtureSize - 1, 21, binlog.ErrTruncated, last.off, 21, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := binlog.NewReader(bytes.NewReader(data[:tc.cut]), binlog.Options{Name: "0.binlog"})
			recs, err := readUntilErr(r)
			if len(recs) != tc.records {
				t.Fatalf("%d records before the error, want %d", len(recs), tc.records)
			}
			for i, rec := range recs {
				s := spans[i]
				if !bytes.Equal(rec.Raw, data[s.off:s.off+4+int64(s.length)]) {
					t.Errorf("record %d before the cut differs from the file", i)
				}
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if errors.Is(tc.wantErr, io.EOF) {
				if !errors.Is(err, io.EOF) {
					t.Errorf("clean end returned %#v, want io.EOF itself", err)
				}
				return
			}
			if errors.Is(err, io.EOF) {
				t.Errorf("truncation %v also matches io.EOF; a caller could not tell it from a clean end", err)
			}
			var re *binlog.RecordError
			if !errors.As(err, &re) || re.Offset != tc.offset || re.HasBlock != tc.blockKnow || re.Block != tc.block || re.File != "0.binlog" {
				t.Fatalf("error %#v, want offset %d block %d (%v) in 0.binlog", err, tc.offset, tc.block, tc.blockKnow)
			}
			if r.Offset() != tc.offset {
				t.Errorf("Offset() = %d after truncation, want %d (where to resume)", r.Offset(), tc.offset)
			}
		})
	}
}

// TestFollowGrowingFile checks that a Reader on a file a node is still writing picks up, after
// io.EOF or ErrTruncated, the bytes appended since, without losing the partial record.
func TestFollowGrowingFile(t *testing.T) {
	data := fixtureBytes(t)
	for _, cut := range []int{2, 4, 0x963, 0x963 + 3, 0x963 + 100, 50000, fixtureSize - 1} {
		path := filepath.Join(t.TempDir(), "0.binlog")
		if err := os.WriteFile(path, data[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := binlog.Open(path, binlog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		before, err := readUntilErr(r)
		if !errors.Is(err, binlog.ErrTruncated) && !errors.Is(err, io.EOF) {
			t.Fatalf("cut %d: %v", cut, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(data[cut:]); err != nil {
			t.Fatal(err)
		}
		f.Close()
		after, err := readUntilErr(r)
		if !errors.Is(err, io.EOF) {
			t.Fatalf("cut %d: after growth: %v", cut, err)
		}
		r.Close()
		all := append(before, after...)
		if len(all) != 22 {
			t.Fatalf("cut %d: %d records in all, want 22", cut, len(all))
		}
		for i, s := range walk(t, data) {
			if !bytes.Equal(all[i].Raw, data[s.off:s.off+4+int64(s.length)]) || all[i].Offset != s.off {
				t.Errorf("cut %d: record %d differs", cut, i)
			}
		}
	}
}

func TestOpenAtResumes(t *testing.T) {
	path := fixtures.Path(t, "binlog", "0.binlog")
	spans := walk(t, fixtureBytes(t))
	r, err := binlog.OpenAt(path, spans[6].off, binlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs, err := readUntilErr(r)
	if !errors.Is(err, io.EOF) || len(recs) != 16 || recs[0].BlockNumber != 6 || recs[0].Offset != spans[6].off {
		t.Fatalf("resumed at block 6: %d records, first %+v, err %v", len(recs), recs[0], err)
	}
	if r.Offset() != fixtureSize {
		t.Errorf("Offset() at the end = %d, want %d", r.Offset(), fixtureSize)
	}
	if _, err := binlog.OpenAt(path, 2, binlog.Options{}); !errors.Is(err, binlog.ErrInvalid) {
		t.Errorf("offset inside the header: %v, want ErrInvalid", err)
	}
	if _, err := binlog.NewReader(bytes.NewReader(nil), binlog.Options{Offset: 3}).Next(); !errors.Is(err, binlog.ErrInvalid) {
		t.Errorf("NewReader at offset 3: %v, want ErrInvalid", err)
	}
}

func TestBadCRC(t *testing.T) {
	data := fixtureBytes(t)
	spans := walk(t, data)
	s := spans[3]
	crcAt := s.off + 4 + int64(s.length) - 4
	cases := []struct {
		name string
		flip int64
	}{
		{"body byte", s.off + 4 + int64(s.length)/2},
		{"stored crc", crcAt + 1},
		{"block number", s.off + 4 + 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Clone(data)
			bad[tc.flip] ^= 0x01
			r := binlog.NewReader(bytes.NewReader(bad), binlog.Options{Name: "bad.binlog"})
			recs, err := readUntilErr(r)
			if len(recs) != 3 {
				t.Fatalf("%d good records before the bad one, want 3", len(recs))
			}
			var re *binlog.RecordError
			var ce *binlog.CRCError
			if !errors.Is(err, binlog.ErrBadCRC) || !errors.As(err, &re) || !errors.As(err, &ce) {
				t.Fatalf("error %v, want ErrBadCRC as *RecordError and *CRCError", err)
			}
			wantBlock := uint64(3)
			if tc.name == "block number" {
				wantBlock = 2 // bit 0 of the last block-number byte flipped
			}
			if re.Offset != s.off || re.Block != wantBlock || !re.HasBlock || re.File != "bad.binlog" {
				t.Errorf("error names offset %d block %d file %q, want %d, %d, bad.binlog", re.Offset, re.Block, re.File, s.off, wantBlock)
			}
			body := bad[s.off+4 : crcAt]
			if ce.Stored != binary.BigEndian.Uint32(bad[crcAt:]) || ce.Computed != crc32.ChecksumIEEE(body) || ce.Stored == ce.Computed {
				t.Errorf("crc error stored %08x computed %08x", ce.Stored, ce.Computed)
			}
			for _, want := range []string{"bad.binlog", "offset 11877", "block", "crc"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q lacks %q", err, want)
				}
			}
			// The framing is intact: reading goes on with block 4.
			rest, err := readUntilErr(r)
			if !errors.Is(err, io.EOF) || len(rest) != 18 || rest[0].BlockNumber != 4 {
				t.Errorf("after the bad record: %d records, err %v", len(rest), err)
			}
		})
	}
	t.Run("bad record is still returned for reporting", func(t *testing.T) {
		bad := bytes.Clone(data)
		bad[crcAt] ^= 0xff
		r := binlog.NewReader(bytes.NewReader(bad[spans[3].off:]), binlog.Options{Offset: spans[3].off})
		rec, err := r.Next()
		if !errors.Is(err, binlog.ErrBadCRC) || rec == nil || rec.BlockNumber != 3 || len(rec.Tables) == 0 || rec.ComputeCRC() == rec.CRC {
			t.Fatalf("rec %v err %v", rec, err)
		}
	})
}

func TestBadVersion(t *testing.T) {
	data := fixtureBytes(t)
	for _, v := range []uint32{0, 2, 0x01000000} {
		bad := bytes.Clone(data)
		binary.BigEndian.PutUint32(bad, v)
		r := binlog.NewReader(bytes.NewReader(bad), binlog.Options{})
		_, err := r.Next()
		var re *binlog.RecordError
		if !errors.Is(err, binlog.ErrBadVersion) || !errors.As(err, &re) || re.Offset != 0 {
			t.Errorf("version %d: %v, want ErrBadVersion at offset 0", v, err)
		}
		if _, err2 := r.Next(); !errors.Is(err2, binlog.ErrBadVersion) {
			t.Errorf("version %d: second Next %v, want the same final error", v, err2)
		}
		path := filepath.Join(t.TempDir(), "0.binlog")
		os.WriteFile(path, bad, 0o644)
		if _, err := binlog.OpenAt(path, 4, binlog.Options{}); !errors.Is(err, binlog.ErrBadVersion) {
			t.Errorf("OpenAt on version %d: %v", v, err)
		}
	}
}

func TestMalformed(t *testing.T) {
	data := fixtureBytes(t)
	spans := walk(t, data)
	t.Run("length below a record", func(t *testing.T) {
		bad := bytes.Clone(data)
		binary.BigEndian.PutUint32(bad[spans[1].off:], 15)
		r := binlog.NewReader(bytes.NewReader(bad), binlog.Options{})
		recs, err := readUntilErr(r)
		var re *binlog.RecordError
		if len(recs) != 1 || !errors.Is(err, binlog.ErrMalformed) || !errors.As(err, &re) || re.Offset != spans[1].off {
			t.Fatalf("%d records, err %v", len(recs), err)
		}
		if _, err := r.Next(); !errors.Is(err, binlog.ErrMalformed) {
			t.Errorf("framing lost but Next went on: %v", err)
		}
	})
	t.Run("tables stop short of the crc", func(t *testing.T) {
		// Record 0 with one stray byte before a recomputed CRC: lengths and CRC agree, the
		// tables do not fill the body.
		s := spans[0]
		body := append(bytes.Clone(data[s.off+4:s.off+4+int64(s.length)-4]), 0)
		rec0 := binary.BigEndian.AppendUint32(nil, uint32(len(body)+4))
		rec0 = append(rec0, body...)
		rec0 = binary.BigEndian.AppendUint32(rec0, crc32.ChecksumIEEE(body))
		in := append(file(rec0), data[spans[1].off:]...)
		r := binlog.NewReader(bytes.NewReader(in), binlog.Options{})
		rec, err := r.Next()
		var re *binlog.RecordError
		if !errors.Is(err, binlog.ErrMalformed) || !errors.As(err, &re) || re.Block != 0 || !re.HasBlock || re.Offset != 4 || rec == nil {
			t.Fatalf("err %v", err)
		}
		if next, err := r.Next(); err != nil || next.BlockNumber != 1 {
			t.Errorf("the next record after a malformed one: %v, %v", next, err)
		}
	})
	t.Run("value runs past the record", func(t *testing.T) {
		// A table whose only value claims 1000 bytes in a tiny record.
		tables := (&bb{}).u32(1).name("t").str("k,_status_,_num_,_id_").u32(0).u32(1).u64(1).u8(0).raw(0x80).u32(1000).raw('x').b
		_, err := binlog.NewReader(bytes.NewReader(file(record(9, tables))), binlog.Options{}).Next()
		if !errors.Is(err, binlog.ErrMalformed) || !strings.Contains(err.Error(), "block 9") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("record over the configured limit", func(t *testing.T) {
		_, err := binlog.NewReader(bytes.NewReader(data), binlog.Options{MaxRecordLength: 1000}).Next()
		if !errors.Is(err, binlog.ErrMalformed) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestOpenMissingFileNamesPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.binlog")
	_, err := binlog.Open(path, binlog.Options{})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err %v", err)
	}
}

func TestReadFileKeepsRecordsBeforeError(t *testing.T) {
	path := fixtures.Path(t, "binlog", "0.binlog")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Cut the file inside block 1 (block 0 ends at 4+4+2395): block 0 stays readable.
	cut := filepath.Join(t.TempDir(), "0.binlog")
	if err := os.WriteFile(cut, data[:2403+100], 0o644); err != nil {
		t.Fatal(err)
	}
	recs, err := binlog.ReadFile(cut, binlog.Options{})
	if !errors.Is(err, binlog.ErrTruncated) {
		t.Fatalf("err = %v, want ErrTruncated", err)
	}
	if len(recs) != 1 || recs[0].BlockNumber != 0 {
		t.Fatalf("kept %d records, want block 0 only", len(recs))
	}
	all, err := binlog.ReadFile(path, binlog.Options{})
	if err != nil || len(all) != 22 {
		t.Fatalf("whole file: %d records, err %v; want 22, nil", len(all), err)
	}
}
