// Package binlogdir writes a simulated node's BinaryLogs directory — <first-block>.binlog
// files, rotated by size and on (simulated) restart — and injects the faults tests need:
// a record whose stored CRC is wrong, a node restart that starts a new file, and a last record
// cut short as if the node died while writing it.
package binlogdir

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
)

// Faults selects the injected faults by block number.
type Faults struct {
	// CorruptCRC flips the stored CRC of these blocks' records.
	CorruptCRC map[uint64]bool
	// RestartAt starts a new file at these blocks, as a node restart does.
	RestartAt map[uint64]bool
}

// Writer writes records to a directory. It is safe for concurrent use.
type Writer struct {
	dir    *binlog.DirWriter
	path   string
	faults Faults

	mu       sync.Mutex
	lastSize int64 // size of the last record written
	written  int64 // bytes written in total
	records  uint64
}

// Open returns a writer for dir with files of at most maxSize bytes (0: the node's 128 MiB).
func Open(dir string, maxSize int64, faults Faults) (*Writer, error) {
	d, err := binlog.OpenDir(dir, binlog.DirOptions{MaxFileSize: maxSize})
	if err != nil {
		return nil, err
	}
	return &Writer{dir: d, path: dir, faults: faults}, nil
}

// Dir returns the directory.
func (w *Writer) Dir() string { return w.path }

// WriteRecord writes one block's record, applying the faults for its block.
func (w *Writer) WriteRecord(rec *binlog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.faults.RestartAt[rec.BlockNumber] {
		if err := w.dir.Rotate(); err != nil {
			return fmt.Errorf("restart binlog before block %d: %w", rec.BlockNumber, err)
		}
	}
	prev, before := w.dir.Current()
	if err := w.dir.WriteRecord(rec); err != nil {
		return err
	}
	path, after := w.dir.Current()
	if path != prev {
		before = 4 // a new file: the record follows the header
	}
	w.lastSize = after - before
	w.written += w.lastSize
	w.records++
	if w.faults.CorruptCRC[rec.BlockNumber] {
		if err := flipByte(path, after-1); err != nil {
			return fmt.Errorf("corrupt CRC of block %d: %w", rec.BlockNumber, err)
		}
	}
	return nil
}

// Stats returns the records and bytes written.
func (w *Writer) Stats() (records uint64, bytes int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.records, w.written
}

// ErrNothingToTruncate reports TruncateTail before any record.
var ErrNothingToTruncate = errors.New("no record to truncate")

// TruncateTail cuts the last record of the current file in half, as a node killed in the
// middle of a write leaves it, and closes the file.
func (w *Writer) TruncateTail() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	path, size := w.dir.Current()
	if path == "" || w.lastSize == 0 {
		return ErrNothingToTruncate
	}
	if err := w.dir.Close(); err != nil {
		return err
	}
	if err := os.Truncate(path, size-w.lastSize/2); err != nil {
		return fmt.Errorf("truncate binlog %s: %w", path, err)
	}
	return nil
}

// Close finishes the current file.
func (w *Writer) Close() error { return w.dir.Close() }

func flipByte(path string, off int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return fmt.Errorf("read %s at %d: %w", path, off, err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b[:], off); err != nil {
		return fmt.Errorf("write %s at %d: %w", path, off, err)
	}
	return nil
}
