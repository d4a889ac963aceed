package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/retry"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// File reads a node's binlog directory.
type File struct {
	name  string
	dir   string
	opts  Options
	stats Stats
}

// NewFile returns a source for the binlog directory dir, named name.
func NewFile(name, dir string, opts Options) *File {
	opts.defaults()
	return &File{name: name, dir: dir, opts: opts}
}

// Name implements Source.
func (f *File) Name() string { return f.name }

// Stats implements Source.
func (f *File) Stats() *Stats { return &f.stats }

// Open implements Source.
func (f *File) Open(_ context.Context, from uint64) (Stream, error) {
	s := newDirStream(f.name, f.dir, from, f.opts, &f.stats)
	s.reachable = true
	return s, nil
}

// dirStream reads the records of a binlog directory in order, from file to file, and waits at
// the end of the newest file for the node to append. A record cut short is only an error once a
// newer file exists (the node never returns to an older file) or it stayed cut short for
// longer than the grace period.
type dirStream struct {
	name  string
	dir   string
	opts  Options
	stats *Stats

	next      uint64 // the block to deliver next
	files     []binlog.FileInfo
	cur       binlog.FileInfo // the open file
	r         *binlog.Reader
	truncated time.Time // when the open file was first seen ending inside a record
	// newerSeen is set when a record was cut short and a newer file existed: the record is
	// read once more before it counts as truncated.
	newerSeen bool
	// reachable is set when the directory is the node's own (file://): listing it shows the
	// source is there. An HTTP source's cache directory says nothing about the node.
	reachable bool

	// position mirrors next for the HTTP cache cleaner, which runs on another goroutine.
	position atomic.Uint64
}

func newDirStream(name, dir string, from uint64, opts Options, stats *Stats) *dirStream {
	s := &dirStream{name: name, dir: dir, opts: opts, stats: stats, next: from}
	s.position.Store(from)
	return s
}

// Close implements Stream.
func (s *dirStream) Close() error {
	if s.r == nil {
		return nil
	}
	r := s.r
	s.r = nil
	return r.Close()
}

func (s *dirStream) fail(check string, file string, off int64, block uint64, err error) *verify.CheckError {
	return &verify.CheckError{Block: block, Check: check, Source: s.name, File: file, Offset: off, Err: err}
}

// list refreshes the directory listing.
func (s *dirStream) list() error {
	files, err := binlog.ListDir(s.dir)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		s.stats.SeeHead(files[len(files)-1].FirstBlock)
	}
	if s.reachable {
		s.stats.Reachable()
	}
	s.files = files
	return nil
}

// newer returns the file after the open one, if the directory has one. Files are found by
// their first block, not by position: the listing changes as files appear and (in an HTTP
// source's cache) are deleted.
func (s *dirStream) newer() (binlog.FileInfo, bool, error) {
	find := func() (binlog.FileInfo, bool) {
		for _, f := range s.files {
			if f.FirstBlock > s.cur.FirstBlock {
				return f, true
			}
		}
		return binlog.FileInfo{}, false
	}
	if f, ok := find(); ok {
		return f, true, nil
	}
	if err := s.list(); err != nil {
		return binlog.FileInfo{}, false, err
	}
	f, ok := find()
	return f, ok, nil
}

// open opens the file holding block next.
func (s *dirStream) open() error {
	if err := s.list(); err != nil {
		return err
	}
	i := binlog.FileFor(s.files, s.next)
	if i < 0 {
		if len(s.files) > 0 {
			return s.fail(verify.CheckGap, "", 0, s.next, fmt.Errorf("the oldest binlog file %s starts after block %d", s.files[0].Name, s.next))
		}
		return errNoData
	}
	return s.openFile(s.files[i])
}

func (s *dirStream) openFile(f binlog.FileInfo) error {
	r, err := binlog.Open(f.Path, binlog.Options{})
	if err != nil {
		return err
	}
	s.Close()
	s.r, s.cur, s.truncated, s.newerSeen = r, f, time.Time{}, false
	return nil
}

// errNoData means there is nothing to read yet.
var errNoData = errors.New("no data yet")

// Next implements Stream.
func (s *dirStream) Next(ctx context.Context) (*verify.Candidate, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c, err := s.step()
		switch {
		case c != nil:
			s.next++
			s.position.Store(s.next)
			s.stats.SeeHead(c.Number)
			return c, nil
		case err == nil:
			// Skipped a record before the start block.
			continue
		case errors.Is(err, errNoData):
			if !retry.Sleep(ctx, s.opts.Poll) {
				return nil, ctx.Err()
			}
		default:
			return nil, err
		}
	}
}

// step reads one record. It returns the candidate, or (nil, nil) for a record before the start
// block, or errNoData when the node has not written more yet.
func (s *dirStream) step() (*verify.Candidate, error) {
	if s.r == nil {
		if err := s.open(); err != nil {
			return nil, err
		}
	}
	file := s.cur.Path
	rec, err := s.r.Next()
	if err == nil {
		s.truncated, s.newerSeen = time.Time{}, false
		switch {
		case rec.BlockNumber < s.next:
			// Skipped, but the node has it: after a restart the head is the last record seen,
			// not the first block of the newest file.
			s.stats.SeeHead(rec.BlockNumber)
			return nil, nil
		case rec.BlockNumber > s.next:
			return nil, s.fail(verify.CheckGap, file, rec.Offset, s.next, fmt.Errorf("next record is for block %d", rec.BlockNumber))
		}
		return &verify.Candidate{Number: rec.BlockNumber, Source: s.name, File: file, Offset: rec.Offset, Record: rec}, nil
	}
	var re *binlog.RecordError
	errors.As(err, &re)
	block := s.next
	off := s.r.Offset()
	if re != nil {
		off = re.Offset
		if re.HasBlock {
			block = re.Block
		}
	}
	switch {
	case errors.Is(err, io.EOF):
		nf, newer, lerr := s.newer()
		if lerr != nil {
			return nil, lerr
		}
		if !newer {
			return nil, errNoData
		}
		return nil, s.openFile(nf)
	case errors.Is(err, binlog.ErrTruncated):
		nf, newer, lerr := s.newer()
		if lerr != nil {
			return nil, lerr
		}
		if newer && s.newerSeen {
			return nil, s.fail(verify.CheckTruncated, file, off, block, fmt.Errorf("record cut short and the node has moved on to %s: %w", nf.Name, err))
		}
		if newer {
			// The record may have been read just before the rest of the file arrived and the
			// newer file appeared (an HTTP source's cache is topped up while it is read): read
			// it once more, now that the newer file shows this one is complete.
			s.newerSeen = true
			return nil, errNoData
		}
		if s.truncated.IsZero() {
			s.truncated = time.Now()
		}
		if time.Since(s.truncated) > s.opts.TruncatedGrace {
			// Reported, but the stream stays usable: the rest may still arrive.
			s.truncated = time.Now()
			return nil, s.fail(verify.CheckTruncated, file, off, block, fmt.Errorf("record cut short for more than %s: %w", s.opts.TruncatedGrace, err))
		}
		return nil, errNoData
	case errors.Is(err, binlog.ErrBadCRC):
		if block < s.next {
			return nil, nil
		}
		return nil, s.fail(verify.CheckCRC, file, off, block, err)
	case errors.Is(err, binlog.ErrMalformed), errors.Is(err, binlog.ErrBadVersion):
		if block < s.next && re != nil && re.HasBlock {
			return nil, nil
		}
		return nil, s.fail(verify.CheckRecord, file, off, block, err)
	}
	return nil, fmt.Errorf("read %s: %w", file, err)
}
