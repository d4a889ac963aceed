package binlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Suffix is the file name suffix of binlog files.
const Suffix = ".binlog"

// DefaultMaxFileSize is the node's file size limit (c_binaryLogSize, not configurable on the
// node): a record that would take a file past it starts a new file.
const DefaultMaxFileSize = 128 << 20

// FileName returns the name of the file whose first record is for block first.
func FileName(first uint64) string { return strconv.FormatUint(first, 10) + Suffix }

// ParseFileName returns the first block number a binlog file name stands for. Only names of
// decimal digits followed by ".binlog" are binlog files.
func ParseFileName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, Suffix)
	if !ok || digits == "" {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

// FileInfo describes one binlog file of a directory.
type FileInfo struct {
	// Name is the base name, e.g. "18.binlog".
	Name string
	// Path is the directory joined with Name.
	Path string
	// FirstBlock is the block number in the name.
	FirstBlock uint64
	// Size is the file size when listed (the newest file may still grow).
	Size int64
}

// ListDir lists the binlog files of a directory (a node's BinaryLogs), sorted by the block
// number in their names — numerically, so 9.binlog comes before 10.binlog. Other files and
// directories are ignored.
func ListDir(dir string) ([]FileInfo, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list binlog dir %s: %w", dir, err)
	}
	var out []FileInfo
	for _, de := range ents {
		first, ok := ParseFileName(de.Name())
		if !ok || (!de.Type().IsRegular() && de.Type()&os.ModeSymlink == 0) {
			continue
		}
		// os.Stat follows a symlink (an operator may link files in from elsewhere). A file gone
		// since ReadDir (the node deletes header-only files at start) or a dangling link is
		// skipped.
		info, err := os.Stat(filepath.Join(dir, de.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stat binlog %s: %w", filepath.Join(dir, de.Name()), err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		out = append(out, FileInfo{Name: de.Name(), Path: filepath.Join(dir, de.Name()), FirstBlock: first, Size: info.Size()})
	}
	slices.SortFunc(out, func(a, b FileInfo) int {
		if a.FirstBlock != b.FirstBlock {
			if a.FirstBlock < b.FirstBlock {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// FileFor returns the index of the file in a sorted listing that holds block n — the last file
// whose first block is ≤ n — or -1 when n precedes every file.
func FileFor(files []FileInfo, n uint64) int {
	i, _ := slices.BinarySearchFunc(files, n, func(f FileInfo, n uint64) int {
		if f.FirstBlock <= n {
			return -1
		}
		return 1
	})
	return i - 1
}

// FirstBlock returns the block number of the first record of a binlog file after checking its
// header, reading only the first 16 bytes. A file holding only the header gives io.EOF.
func FirstBlock(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open binlog: %w", err)
	}
	defer f.Close()
	if err := checkHeaderAt(f, path); err != nil {
		return 0, err
	}
	var b [12]byte
	n, err := f.ReadAt(b[:], 4)
	switch {
	case n == len(b):
	case n == 0 && errors.Is(err, io.EOF):
		return 0, io.EOF
	case err == nil || errors.Is(err, io.EOF):
		return 0, &RecordError{File: path, Offset: 4, Err: fmt.Errorf("%w: first record has %d bytes", ErrTruncated, n)}
	default:
		return 0, &RecordError{File: path, Offset: 4, Err: fmt.Errorf("read first record: %w", err)}
	}
	return binary.BigEndian.Uint64(b[4:]), nil
}

// CheckFirstBlock checks, as the node does before reading a file, that the first record of a
// binlog file is for the block its name says; a mismatch wraps ErrNameMismatch. A file
// holding only the header passes: it has nothing to contradict its name.
func CheckFirstBlock(path string) error {
	want, ok := ParseFileName(filepath.Base(path))
	if !ok {
		return &RecordError{File: path, Err: fmt.Errorf("%w: %q is not <block>%s", ErrNameMismatch, filepath.Base(path), Suffix)}
	}
	got, err := FirstBlock(path)
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return err
	}
	if got != want {
		return &RecordError{File: path, Offset: 4, Block: got, HasBlock: true,
			Err: fmt.Errorf("%w: first record is block %d, name says %d", ErrNameMismatch, got, want)}
	}
	return nil
}

// SyncPolicy says when a DirWriter calls fsync.
type SyncPolicy uint8

const (
	// SyncNone never syncs, like the node (it relies on the page cache).
	SyncNone SyncPolicy = iota
	// SyncOnRotate syncs a file when it is finished (Rotate, size limit, Close) and the
	// directory when a file is created.
	SyncOnRotate
	// SyncEveryRecord also syncs the file after every record.
	SyncEveryRecord
)

// DirOptions configure a DirWriter.
type DirOptions struct {
	// MaxFileSize is the size a file may not exceed, header included, unless a single record
	// is larger (it then goes alone into a fresh file). 0 means DefaultMaxFileSize.
	MaxFileSize int64
	// Sync chooses when to fsync; the zero value is SyncNone.
	Sync SyncPolicy
}

// DirWriter writes records into a directory of <first block>.binlog files the way a node does:
// a new file for the first record after the writer was opened or rotated (a node starts one at
// every restart) and whenever the next record would take the current file past MaxFileSize.
// It is safe for concurrent use.
type DirWriter struct {
	dir  string
	opts DirOptions

	mu   sync.Mutex
	f    *os.File
	w    *Writer
	name string
}

// OpenDir returns a DirWriter for dir, creating the directory if needed. No file is created
// until the first record.
func OpenDir(dir string, opts DirOptions) (*DirWriter, error) {
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = DefaultMaxFileSize
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create binlog dir %s: %w", dir, err)
	}
	return &DirWriter{dir: dir, opts: opts}, nil
}

// WriteRecord appends rec to the current file, starting a new file first when needed.
func (d *DirWriter) WriteRecord(rec *Record) error {
	buf, err := AppendRecord(nil, rec)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil || d.w.Size()+int64(len(buf)) > d.opts.MaxFileSize {
		if err := d.finish(); err != nil {
			return err
		}
		if err := d.create(rec.BlockNumber); err != nil {
			return err
		}
	}
	off := d.w.Size()
	if _, err := d.f.Write(buf); err != nil {
		return fmt.Errorf("write binlog %s block %d at offset %d: %w", d.name, rec.BlockNumber, off, err)
	}
	d.w.size += int64(len(buf))
	if d.opts.Sync == SyncEveryRecord {
		if err := d.f.Sync(); err != nil {
			return fmt.Errorf("sync binlog %s after block %d: %w", d.name, rec.BlockNumber, err)
		}
	}
	return nil
}

// create starts <first>.binlog. It refuses to replace an existing file: the node would
// overwrite it in place, which a simulator must not do silently.
func (d *DirWriter) create(first uint64) error {
	path := filepath.Join(d.dir, FileName(first))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create binlog: %w", err)
	}
	w, err := NewWriter(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("start binlog %s: %w", path, err)
	}
	d.f, d.w, d.name = f, w, path
	if d.opts.Sync != SyncNone {
		if err := syncDir(d.dir); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open binlog dir for sync: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync binlog dir %s: %w", dir, err)
	}
	return nil
}

// finish syncs (per policy) and closes the current file, if any.
func (d *DirWriter) finish() error {
	if d.f == nil {
		return nil
	}
	f, name := d.f, d.name
	d.f, d.w, d.name = nil, nil, ""
	if d.opts.Sync != SyncNone {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("sync binlog %s: %w", name, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close binlog %s: %w", name, err)
	}
	return nil
}

// Rotate closes the current file; the next record starts a new one, as after a node restart.
func (d *DirWriter) Rotate() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.finish()
}

// Sync flushes the current file to stable storage.
func (d *DirWriter) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("sync binlog %s: %w", d.name, err)
	}
	return nil
}

// Current returns the path and size of the file being written, or "" and 0 before the first
// record and after Rotate.
func (d *DirWriter) Current() (path string, size int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return "", 0
	}
	return d.name, d.w.Size()
}

// Close finishes the current file.
func (d *DirWriter) Close() error { return d.Rotate() }
