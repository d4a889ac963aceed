package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/bcosdata/bcosdata/services/stash/internal/state"
)

// copyVersions writes row versions into a mirrored table with COPY in PostgreSQL's binary
// format. Every mirrored column is bigint, smallint or bytea, so the rows are encoded here
// directly from the change-set, a chunk at a time, instead of through pgx's per-value
// encoding: at catch-up speed that encoding was the stash's largest cost after verification.
func copyVersions(ctx context.Context, tx pgx.Tx, t *tableInfo, table string, cols []string, vs []version) error {
	if len(vs) == 0 {
		return nil
	}
	sql := fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary)", qualified(table), identList(cols, ""))
	if _, err := tx.Conn().PgConn().CopyFrom(ctx, newVersionReader(t, vs), sql); err != nil {
		return fmt.Errorf("copy %d rows into mirror of table %s: %w", len(vs), t.Name, err)
	}
	return nil
}

// copySignature starts a binary COPY stream: the signature, flags and header extension length.
var copySignature = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// copyChunk is how much encoded data a versionReader buffers before handing it on.
const copyChunk = 256 << 10

// versionReader encodes row versions as a binary COPY stream, in the column order of
// rowValues: _id_, _num_, _status_, _kind_, the key, then t.Columns.
type versionReader struct {
	t    *tableInfo
	vs   []version
	next int
	buf  []byte
	off  int
	done bool
	// from is the state.Table whose field positions pos holds (versions of one block share
	// it): pos[i] is the column of that table's i-th field, or -1.
	from *state.Table
	pos  []int
	vals []state.Value
}

func newVersionReader(t *tableInfo, vs []version) *versionReader {
	return &versionReader{t: t, vs: vs, buf: append(make([]byte, 0, copyChunk), copySignature...),
		vals: make([]state.Value, len(t.Columns))}
}

func (r *versionReader) Read(p []byte) (int, error) {
	if r.off == len(r.buf) {
		if r.done {
			return 0, io.EOF
		}
		r.fill()
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// fill encodes rows until a chunk is full, then the trailer after the last row.
func (r *versionReader) fill() {
	if r.off > 0 {
		r.buf, r.off = r.buf[:0], 0
	}
	for r.next < len(r.vs) && len(r.buf) < copyChunk {
		r.buf = r.appendRow(r.buf, r.vs[r.next])
		r.next++
	}
	if r.next == len(r.vs) {
		r.buf = binary.BigEndian.AppendUint16(r.buf, 0xffff) // the trailer: a field count of -1
		r.done = true
	}
}

func (r *versionReader) appendRow(b []byte, v version) []byte {
	if v.t != r.from {
		r.from = v.t
		r.pos = r.pos[:0]
		for _, f := range v.t.Fields {
			r.pos = append(r.pos, slices.Index(r.t.Fields, f))
		}
	}
	clear(r.vals)
	for i, j := range r.pos {
		if j >= 0 && i < len(v.r.Values) {
			r.vals[j] = v.r.Values[i]
		}
	}
	b = binary.BigEndian.AppendUint16(b, uint16(5+len(r.t.Columns)))
	b = appendInt(b, 8, v.r.ID)
	b = appendInt(b, 8, v.num)
	b = appendInt(b, 2, uint64(v.r.Status))
	b = appendInt(b, 2, uint64(v.r.Kind))
	b = appendBytea(b, v.r.Key)
	for _, val := range r.vals {
		b = appendBytea(b, val)
	}
	return b
}

// appendInt appends a bigint (size 8) or smallint (size 2) field. Values are stored as the
// two's complement of their low bits, as the int64/int16 conversions of rowValues do.
func appendInt(b []byte, size int, x uint64) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(size))
	if size == 8 {
		return binary.BigEndian.AppendUint64(b, x)
	}
	return binary.BigEndian.AppendUint16(b, uint16(x))
}

// appendBytea appends a bytea field: NULL for an absent value (see bytesOrNull).
func appendBytea(b []byte, v state.Value) []byte {
	if !v.Set {
		return binary.BigEndian.AppendUint32(b, 0xffffffff)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(v.Data)))
	return append(b, v.Data...)
}
