// Package pgcopy writes rows in PostgreSQL's binary COPY format, for tables written often and
// in bulk. pgx's CopyFrom plans and encodes each value through its type map; where a table's
// few column types are known, appending them here directly is several times cheaper (the
// stash's mirrored tables at catch-up speed, reconcile's million-row results).
//
// A Stream is the io.Reader of a whole COPY … FROM STDIN (FORMAT binary): pass it to
// pgconn.PgConn.CopyFrom. Its fill function appends rows to a Rows, a chunk at a time.
package pgcopy

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"
)

// TextOID is the type of text, as the element type of a text[].
const TextOID = 25

// Rows is a buffer of encoded rows: start each with Tuple, then append its fields in the
// order of the COPY's columns.
type Rows struct{ b []byte }

// Len is the number of bytes encoded.
func (w *Rows) Len() int { return len(w.b) }

// Tuple starts a row of n fields.
func (w *Rows) Tuple(n int) { w.b = binary.BigEndian.AppendUint16(w.b, uint16(n)) }

// Null appends a NULL.
func (w *Rows) Null() { w.b = binary.BigEndian.AppendUint32(w.b, math.MaxUint32) }

// Int2 appends a smallint.
func (w *Rows) Int2(v int16) {
	w.b = binary.BigEndian.AppendUint32(w.b, 2)
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(v))
}

// Int4 appends an integer.
func (w *Rows) Int4(v int32) {
	w.b = binary.BigEndian.AppendUint32(w.b, 4)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(v))
}

// Int8 appends a bigint.
func (w *Rows) Int8(v int64) {
	w.b = binary.BigEndian.AppendUint32(w.b, 8)
	w.b = binary.BigEndian.AppendUint64(w.b, uint64(v))
}

// Bool appends a boolean.
func (w *Rows) Bool(v bool) {
	w.b = binary.BigEndian.AppendUint32(w.b, 1)
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

// Bytes appends a bytea.
func (w *Rows) Bytes(v []byte) {
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(len(v)))
	w.b = append(w.b, v...)
}

// Text appends a text (UTF-8 without NUL bytes, or the server refuses the row).
func (w *Rows) Text(s string) {
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(len(s)))
	w.b = append(w.b, s...)
}

// TextArray appends a one-dimensional text[] without NULL elements.
func (w *Rows) TextArray(xs []string) {
	n := 12
	if len(xs) > 0 {
		n += 8
	}
	for _, x := range xs {
		n += 4 + len(x)
	}
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(n))
	if len(xs) == 0 {
		w.b = binary.BigEndian.AppendUint32(w.b, 0) // dimensions
		w.b = binary.BigEndian.AppendUint32(w.b, 0) // no NULLs
		w.b = binary.BigEndian.AppendUint32(w.b, TextOID)
		return
	}
	w.b = binary.BigEndian.AppendUint32(w.b, 1)
	w.b = binary.BigEndian.AppendUint32(w.b, 0)
	w.b = binary.BigEndian.AppendUint32(w.b, TextOID)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(len(xs)))
	w.b = binary.BigEndian.AppendUint32(w.b, 1) // lower bound
	for _, x := range xs {
		w.Text(x)
	}
}

// JSONB appends a JSON text as jsonb (format version 1).
func (w *Rows) JSONB(js []byte) {
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(1+len(js)))
	w.b = append(w.b, 1)
	w.b = append(w.b, js...)
}

// Numeric appends a plain decimal text, -?digits[.digits], as numeric: base-10000 digits
// around the decimal point, weight, sign and display scale (the fraction's digits). Any other
// text is an error and appends nothing.
func (w *Rows) Numeric(s string) error {
	text := s
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	intPart, frac, dot := strings.Cut(s, ".")
	if intPart == "" || dot && frac == "" || !digits(intPart) || !digits(frac) || len(frac) > 0x3fff {
		return fmt.Errorf("numeric %q: not a plain decimal", text)
	}
	intPart = strings.TrimLeft(intPart, "0")
	// Whole groups of four digits: the integer part padded on the left, the fraction on the
	// right.
	lead, trail := (4-len(intPart)%4)%4, (4-len(frac)%4)%4
	groups := make([]uint16, 0, (lead+len(intPart)+len(frac)+trail)/4)
	var g, k int
	add := func(d byte) {
		g = g*10 + int(d-'0')
		if k++; k == 4 {
			groups = append(groups, uint16(g))
			g, k = 0, 0
		}
	}
	for range lead {
		add('0')
	}
	for i := 0; i < len(intPart); i++ {
		add(intPart[i])
	}
	for i := 0; i < len(frac); i++ {
		add(frac[i])
	}
	for range trail {
		add('0')
	}
	weight := (lead+len(intPart))/4 - 1
	for len(groups) > 0 && groups[0] == 0 {
		groups = groups[1:]
		weight--
	}
	for len(groups) > 0 && groups[len(groups)-1] == 0 {
		groups = groups[:len(groups)-1]
	}
	var sign uint16
	if neg && len(groups) > 0 {
		sign = 0x4000
	}
	if len(groups) == 0 {
		weight = 0
	}
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(8+2*len(groups)))
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(len(groups)))
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(int16(weight)))
	w.b = binary.BigEndian.AppendUint16(w.b, sign)
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(len(frac)))
	for _, g := range groups {
		w.b = binary.BigEndian.AppendUint16(w.b, g)
	}
	return nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// signature starts a binary COPY stream: the signature, flags and header extension length.
var signature = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// chunk is how much a Stream encodes before handing it on.
const chunk = 256 << 10

// Stream is a binary COPY stream whose rows fill appends: it is called until it returns
// false (no more rows) or an error, which the Stream's Read returns (and CopyFrom with it).
type Stream struct {
	fill func(*Rows) (bool, error)
	w    Rows
	off  int
	done bool
}

// NewStream returns the stream of the rows fill appends: each call appends one or more
// rows, and returns false once there are no more.
func NewStream(fill func(*Rows) (more bool, err error)) *Stream {
	s := &Stream{fill: fill}
	s.w.b = append(make([]byte, 0, chunk+chunk/4), signature...)
	return s
}

func (s *Stream) Read(p []byte) (int, error) {
	if s.off == len(s.w.b) {
		if s.done {
			return 0, io.EOF
		}
		s.w.b, s.off = s.w.b[:0], 0
		for !s.done && len(s.w.b) < chunk {
			more, err := s.fill(&s.w)
			if err != nil {
				return 0, err
			}
			if !more {
				s.w.b = binary.BigEndian.AppendUint16(s.w.b, 0xffff) // the trailer: a field count of -1
				s.done = true
			}
		}
	}
	n := copy(p, s.w.b[s.off:])
	s.off += n
	return n, nil
}
