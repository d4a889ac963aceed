package binlog_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
)

func TestListDirSortsNumerically(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"100.binlog", "18.binlog", "0.binlog", "9.binlog", "10.binlog", "x.binlog", "10.binlog.ok", "readme", ".binlog", "-1.binlog"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte{0, 0, 0, 1}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "5.binlog"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A symlinked file counts, a dangling link does not.
	if err := os.Symlink(filepath.Join(dir, "0.binlog"), filepath.Join(dir, "50.binlog")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "absent"), filepath.Join(dir, "60.binlog")); err != nil {
		t.Fatal(err)
	}
	files, err := binlog.ListDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
		if f.Path != filepath.Join(dir, f.Name) || f.Size != 4 || binlog.FileName(f.FirstBlock) != f.Name {
			t.Errorf("file %+v", f)
		}
	}
	if want := []string{"0.binlog", "9.binlog", "10.binlog", "18.binlog", "50.binlog", "100.binlog"}; !slices.Equal(names, want) {
		t.Errorf("ListDir = %v, want %v", names, want)
	}
	for n, want := range map[uint64]int{0: 0, 8: 0, 9: 1, 17: 2, 18: 3, 49: 3, 50: 4, 99: 4, 100: 5, 1 << 40: 5} {
		if got := binlog.FileFor(files, n); got != want {
			t.Errorf("FileFor(%d) = %d, want %d", n, got, want)
		}
	}
	if got := binlog.FileFor(files[1:], 3); got != -1 {
		t.Errorf("FileFor before the first file = %d, want -1", got)
	}
	if _, err := binlog.ListDir(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
}

func TestCheckFirstBlock(t *testing.T) {
	data := fixtureBytes(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := binlog.CheckFirstBlock(write("0.binlog", data)); err != nil {
		t.Errorf("0.binlog: %v", err)
	}
	renamed := write("5.binlog", data)
	err := binlog.CheckFirstBlock(renamed)
	var re *binlog.RecordError
	if !errors.Is(err, binlog.ErrNameMismatch) || !errors.As(err, &re) || re.File != renamed || re.Block != 0 {
		t.Errorf("5.binlog holding block 0: %v", err)
	}
	if err := binlog.CheckFirstBlock(write("7.binlog", data[:4])); err != nil {
		t.Errorf("header-only file: %v", err)
	}
	if _, err := binlog.FirstBlock(filepath.Join(dir, "7.binlog")); !errors.Is(err, io.EOF) {
		t.Errorf("FirstBlock of a header-only file: %v, want io.EOF", err)
	}
	if err := binlog.CheckFirstBlock(write("8.binlog", data[:10])); !errors.Is(err, binlog.ErrTruncated) {
		t.Errorf("8.binlog with a partial first record: %v", err)
	}
}

func TestDirWriterRotation(t *testing.T) {
	data, recs := fixtureRecords(t)
	spans := walk(t, data)
	const limit = 40000

	// Expected files by the node's rule, computed from the record sizes alone: a new file
	// when the current one (header included) would pass the limit; a manual rotation before
	// block 12 as after a restart.
	var want [][]uint64
	size := int64(0)
	for i, s := range spans {
		n := 4 + int64(s.length)
		if len(want) == 0 || size+n > limit || i == 12 {
			want = append(want, nil)
			size = 4
		}
		want[len(want)-1] = append(want[len(want)-1], uint64(i))
		size += n
	}

	dir := t.TempDir()
	w, err := binlog.OpenDir(filepath.Join(dir, "BinaryLogs"), binlog.DirOptions{MaxFileSize: limit, Sync: binlog.SyncOnRotate})
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs {
		if i == 12 {
			if err := w.Rotate(); err != nil {
				t.Fatal(err)
			}
			if p, _ := w.Current(); p != "" {
				t.Errorf("Current() after Rotate = %q", p)
			}
		}
		if err := w.WriteRecord(rec); err != nil {
			t.Fatal(err)
		}
	}
	if p, sz := w.Current(); filepath.Base(p) != binlog.FileName(want[len(want)-1][0]) || sz <= 4 {
		t.Errorf("Current() = %s, %d", p, sz)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	files, err := binlog.ListDir(filepath.Join(dir, "BinaryLogs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Fatalf("%d files, want %d (%v)", len(files), len(want), want)
	}
	var got []*binlog.Record
	for i, f := range files {
		if f.FirstBlock != want[i][0] {
			t.Errorf("file %d is %s, want first block %d", i, f.Name, want[i][0])
		}
		if err := binlog.CheckFirstBlock(f.Path); err != nil {
			t.Error(err)
		}
		if f.Size > limit && len(want[i]) > 1 {
			t.Errorf("%s has %d bytes over the %d limit", f.Name, f.Size, limit)
		}
		r, err := binlog.Open(f.Path, binlog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		in := readAll(t, r)
		r.Close()
		if len(in) != len(want[i]) {
			t.Errorf("%s holds %d records, want %d", f.Name, len(in), len(want[i]))
		}
		got = append(got, in...)
	}
	if len(got) != len(recs) {
		t.Fatalf("%d records across files, want %d", len(got), len(recs))
	}
	for i := range recs {
		if !bytes.Equal(got[i].Raw, recs[i].Raw) {
			t.Errorf("block %d differs after rotation", i)
		}
	}
}

func TestDirWriterBigRecordAlone(t *testing.T) {
	_, recs := fixtureRecords(t)
	dir := t.TempDir()
	// Block 7 is 17,542 bytes: over a 10,000-byte limit it must still be written, alone.
	w, err := binlog.OpenDir(dir, binlog.DirOptions{MaxFileSize: 10000, Sync: binlog.SyncEveryRecord})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs[6:9] {
		if err := w.WriteRecord(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := binlog.ListDir(dir)
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if want := []string{"6.binlog", "7.binlog", "8.binlog"}; !slices.Equal(names, want) {
		t.Errorf("files %v, want %v", names, want)
	}
	if files[1].Size != 4+4+17538 {
		t.Errorf("7.binlog has %d bytes", files[1].Size)
	}
}

func TestDirWriterRefusesToOverwrite(t *testing.T) {
	_, recs := fixtureRecords(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "3.binlog"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, _ := binlog.OpenDir(dir, binlog.DirOptions{})
	err := w.WriteRecord(recs[3])
	if !errors.Is(err, os.ErrExist) {
		t.Fatalf("err %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "3.binlog")); string(b) != "keep" {
		t.Errorf("existing file changed to %q", b)
	}
}

func TestParseFileName(t *testing.T) {
	for name, want := range map[string]int64{"0.binlog": 0, "18.binlog": 18, "007.binlog": 7, "18446744073709551615.binlog": -2,
		"x.binlog": -1, ".binlog": -1, "1.binlog.ok": -1, "1.log": -1, "18446744073709551616.binlog": -1, "+1.binlog": -1} {
		n, ok := binlog.ParseFileName(name)
		switch {
		case want == -1 && ok:
			t.Errorf("%s parsed as %d", name, n)
		case want == -2 && (!ok || n != 1<<64-1):
			t.Errorf("%s = %d, %v", name, n, ok)
		case want >= 0 && (!ok || strconv.FormatUint(n, 10) != strconv.FormatInt(want, 10)):
			t.Errorf("%s = %d, %v, want %d", name, n, ok, want)
		}
	}
}
