package binlog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// readChunk is the largest buffer the Reader allocates ahead of data it has actually
// received; bigger records grow their buffer by doubling as bytes arrive.
const readChunk = 64 << 10

// Options configure a Reader.
type Options struct {
	// Format forces the entry format of every record; FormatAuto (the zero value) detects it
	// per record.
	Format Format
	// Name names the input in errors (Open sets it to the path).
	Name string
	// Offset is the file offset the input starts at. 0 means the start of the file: the
	// header is read and checked. A positive offset must be the start of a record (Record.End
	// of the last record read, or 4 for the first); the header is assumed checked already.
	Offset int64
	// MaxRecordLength rejects records whose length field is larger, as ErrMalformed. 0 means
	// no limit beyond the 32-bit field: the buffer of a record grows only as its bytes
	// arrive, so a corrupt length cannot by itself make the Reader allocate.
	MaxRecordLength uint32
}

// Reader reads binlog records one at a time.
//
// Next is tail-friendly: io.EOF (at a record boundary) and ErrTruncated (inside a record) are
// not final. When the input can grow — an *os.File a node is still writing — calling Next
// again later continues with the bytes that arrived in between; the partial record read so
// far is kept. Errors wrapping ErrBadCRC or ErrMalformed from the body of a complete record
// concern only that record: the Reader has moved past it. ErrBadVersion and a length field
// that cannot be a record are final, as the framing is lost.
type Reader struct {
	src    io.Reader
	closer io.Closer
	opts   Options
	off    int64  // file offset of pend[0]: the header or the next record
	pend   []byte // bytes of the header or record being read
	header bool   // header read and checked
	err    error  // final error
}

// NewReader returns a Reader for r. Nothing is read until the first call to Next.
func NewReader(r io.Reader, opts Options) *Reader {
	switch r.(type) {
	case *bytes.Reader, *bytes.Buffer, *strings.Reader, *bufio.Reader:
	default:
		r = bufio.NewReaderSize(r, readChunk)
	}
	rd := &Reader{src: r, opts: opts}
	switch {
	case opts.Offset < 0 || (opts.Offset > 0 && opts.Offset < 4):
		rd.err = &RecordError{File: opts.Name, Offset: opts.Offset,
			Err: fmt.Errorf("%w: start offset %d is inside the file header", ErrInvalid, opts.Offset)}
	case opts.Offset > 0:
		rd.off, rd.header = opts.Offset, true
	}
	return rd
}

// Open opens a binlog file for reading from its start; errors name the path.
func Open(path string, opts Options) (*Reader, error) {
	return OpenAt(path, 0, opts)
}

// OpenAt opens a binlog file to read from the record at offset (0 or 4 for the first record;
// otherwise a Record.End or Reader.Offset saved earlier), checking the file header first.
// It is how a follower resumes a growing file.
func OpenAt(path string, offset int64, opts Options) (*Reader, error) {
	if opts.Name == "" {
		opts.Name = path
	}
	if offset < 0 || (offset > 0 && offset < 4) {
		return nil, &RecordError{File: opts.Name, Offset: offset,
			Err: fmt.Errorf("%w: start offset %d is inside the file header", ErrInvalid, offset)}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open binlog: %w", err)
	}
	if offset > 0 {
		if err := checkHeaderAt(f, opts.Name); err != nil {
			f.Close()
			return nil, err
		}
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("seek binlog %s to offset %d: %w", path, offset, err)
		}
	}
	opts.Offset = offset
	r := NewReader(f, opts)
	r.closer = f
	return r, nil
}

func checkHeaderAt(f io.ReaderAt, name string) error {
	var h [4]byte
	n, err := f.ReadAt(h[:], 0)
	switch {
	case n == 4:
	case err == nil || errors.Is(err, io.EOF):
		return &RecordError{File: name, Err: fmt.Errorf("%w: header has %d of 4 bytes", ErrTruncated, n)}
	default:
		return &RecordError{File: name, Err: fmt.Errorf("read header: %w", err)}
	}
	if v := binary.BigEndian.Uint32(h[:]); v != Version {
		return &RecordError{File: name, Err: fmt.Errorf("%w: header %d, want %d", ErrBadVersion, v, Version)}
	}
	return nil
}

// Close closes the file opened by Open or OpenAt; for a Reader from NewReader it does
// nothing.
func (r *Reader) Close() error {
	if r.closer == nil {
		return nil
	}
	c := r.closer
	r.closer = nil
	if err := c.Close(); err != nil {
		return fmt.Errorf("close binlog %s: %w", r.opts.Name, err)
	}
	return nil
}

// Offset returns the file offset of the next record to read: after a record was returned, its
// End. Save it to resume with OpenAt or Options.Offset.
func (r *Reader) Offset() int64 {
	if !r.header {
		return 0
	}
	return r.off
}

// Next returns the next record, or io.EOF when the input ends cleanly at a record boundary.
// Errors are *RecordError values naming the file, the record offset and, once read, the block.
// With an ErrBadCRC error Next also returns the record (Raw, CRC, BlockNumber and, if they
// parse, Tables) so that a caller can report it.
func (r *Reader) Next() (*Record, error) {
	if r.err != nil {
		return nil, r.err
	}
	if !r.header {
		if err := r.readHeader(); err != nil {
			return nil, err
		}
	}
	if err := r.fill(4); err != nil {
		if len(r.pend) == 0 && errors.Is(err, errShort) {
			return nil, io.EOF
		}
		return nil, r.errorf(err, "length field has %d of 4 bytes", len(r.pend))
	}
	length := binary.BigEndian.Uint32(r.pend)
	if length < minRecordLength {
		r.err = r.errorf(ErrMalformed, "length %d is below the minimum record length %d", length, minRecordLength)
		return nil, r.err
	}
	if r.opts.MaxRecordLength > 0 && length > r.opts.MaxRecordLength {
		r.err = r.errorf(ErrMalformed, "length %d exceeds the limit %d", length, r.opts.MaxRecordLength)
		return nil, r.err
	}
	total := 4 + int(length)
	if err := r.fill(total); err != nil {
		return nil, r.errorf(err, "record of %d bytes has %d", total, len(r.pend))
	}
	raw := r.pend
	r.pend = nil
	off := r.off
	r.off += int64(total)
	rec, err := decodeRecord(raw, off, r.opts.Format)
	if err != nil {
		return rec, &RecordError{File: r.opts.Name, Offset: off, Block: rec.BlockNumber, HasBlock: true, Err: err}
	}
	return rec, nil
}

func (r *Reader) readHeader() error {
	if err := r.fill(4); err != nil {
		return r.errorf(err, "header has %d of 4 bytes", len(r.pend))
	}
	if v := binary.BigEndian.Uint32(r.pend); v != Version {
		r.err = r.errorf(ErrBadVersion, "header %d, want %d", v, Version)
		return r.err
	}
	r.header, r.pend, r.off = true, nil, 4
	return nil
}

// errShort is fill's report that the input ran out; Next turns it into io.EOF at a record
// boundary and ErrTruncated elsewhere.
var errShort = errors.New("input ends")

// fill reads until pend holds n bytes. Running out of input is errShort; whatever was read
// stays in pend for the next attempt.
func (r *Reader) fill(n int) error {
	for len(r.pend) < n {
		if len(r.pend) == cap(r.pend) {
			buf := make([]byte, len(r.pend), min(n, max(2*cap(r.pend), readChunk)))
			copy(buf, r.pend)
			r.pend = buf
		}
		m, err := r.src.Read(r.pend[len(r.pend):min(n, cap(r.pend))])
		r.pend = r.pend[:len(r.pend)+m]
		if err != nil && len(r.pend) < n {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return errShort
			}
			return fmt.Errorf("read: %w", err)
		}
	}
	return nil
}

// errorf wraps cause with a detail into a *RecordError at the current record; the block
// number is included once its bytes were read.
func (r *Reader) errorf(cause error, format string, args ...any) *RecordError {
	if errors.Is(cause, errShort) {
		cause = ErrTruncated
	}
	e := &RecordError{File: r.opts.Name, Offset: r.off}
	if r.header && len(r.pend) >= 12 {
		e.Block, e.HasBlock = binary.BigEndian.Uint64(r.pend[4:]), true
	}
	e.Err = fmt.Errorf("%w: %s", cause, fmt.Sprintf(format, args...))
	return e
}

// ReadAll reads every record of r up to a clean end of input. It returns the records read
// before the first error together with that error, so a caller can keep what was intact.
func ReadAll(r *Reader) ([]*Record, error) {
	var recs []*Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
	}
}

// ReadFile opens the binlog file at path and reads all of its records (see ReadAll).
func ReadFile(path string, opts Options) ([]*Record, error) {
	r, err := Open(path, opts)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return ReadAll(r)
}
