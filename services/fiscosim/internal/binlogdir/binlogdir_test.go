package binlogdir

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
)

func record(n uint64) *binlog.Record {
	return &binlog.Record{BlockNumber: n, Tables: []binlog.Table{{
		Name:   "_sys_number_2_hash_",
		Fields: []string{"number", "value", "_status_", "_num_", "_id_"},
		New:    []binlog.Entry{binlog.NewEntry(100000+n, 0, []binlog.Value{{Data: []byte("1"), Set: true}, {Data: make([]byte, 64), Set: true}})},
	}}}
}

// TestFaults checks rotation by size, restart files, the corrupted CRC and the cut tail.
func TestFaults(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, 400, Faults{CorruptCRC: map[uint64]bool{2: true}, RestartAt: map[uint64]bool{5: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.TruncateTail(); !errors.Is(err, ErrNothingToTruncate) {
		t.Fatalf("truncate before writing: %v", err)
	}
	for n := range uint64(7) {
		if err := w.WriteRecord(record(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.TruncateTail(); err != nil {
		t.Fatal(err)
	}
	files, _ := binlog.ListDir(dir)
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	// Records are ~175 bytes: two per 400-byte file, and a new file at the restart.
	if fmt.Sprint(names) != "[0.binlog 2.binlog 4.binlog 5.binlog]" {
		t.Fatalf("files %v", names)
	}
	bad := 0
	for _, f := range files {
		r, _ := binlog.Open(f.Path, binlog.Options{})
		for range 10 {
			rec, err := r.Next()
			if rec == nil {
				if f.Name == "5.binlog" && !errors.Is(err, binlog.ErrTruncated) {
					t.Fatalf("last file ends with %v, want a truncated record", err)
				}
				break
			}
			if errors.Is(err, binlog.ErrBadCRC) {
				bad++
				if rec.BlockNumber != 2 {
					t.Fatalf("bad CRC on block %d", rec.BlockNumber)
				}
				if want := crc32.ChecksumIEEE(rec.Raw[4 : len(rec.Raw)-4]); binary.BigEndian.Uint32(rec.Raw[len(rec.Raw)-4:]) != want^0xff {
					t.Fatal("CRC not flipped in its last byte")
				}
			}
		}
		r.Close()
	}
	if bad != 1 {
		t.Fatalf("%d bad CRCs, want 1", bad)
	}
	if _, err := os.Stat(filepath.Join(dir, "5.binlog")); err != nil {
		t.Fatal(err)
	}
}
