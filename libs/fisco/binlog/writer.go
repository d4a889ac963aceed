package binlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"strings"
)

// AppendHeader appends the 4-byte file header.
func AppendHeader(dst []byte) []byte {
	return binary.BigEndian.AppendUint32(dst, Version)
}

// AppendRecord appends the encoding of rec — length field, body, CRC — exactly as a node
// writes it, in rec.Format (Flagged when FormatAuto). rec.CRC, Offset, Length and Raw are
// ignored: the length and CRC are computed.
func AppendRecord(dst []byte, rec *Record) ([]byte, error) {
	format := rec.Format
	if format == FormatAuto {
		format = FormatFlagged
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, rec.BlockNumber)
	if uint64(len(rec.Tables)) > math.MaxUint32 {
		return dst[:start], fmt.Errorf("encode block %d: %w: %d tables", rec.BlockNumber, ErrInvalid, len(rec.Tables))
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(rec.Tables)))
	var err error
	for i := range rec.Tables {
		if dst, err = appendTable(dst, &rec.Tables[i], format); err != nil {
			return dst[:start], fmt.Errorf("encode block %d table %d %q: %w", rec.BlockNumber, i, rec.Tables[i].Name, err)
		}
	}
	body := dst[start+4:]
	if uint64(len(body))+4 > math.MaxUint32 {
		return dst[:start], fmt.Errorf("encode block %d: %w: record of %d bytes exceeds the 32-bit length field", rec.BlockNumber, ErrInvalid, len(body)+4)
	}
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(body))
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst, nil
}

// wireFields returns the field list string to write: the one read, when it still describes
// Fields, else Fields joined by commas — refused when the node's split would not give Fields
// back (a name with a comma, an empty name inside the list).
func wireFields(t *Table) (string, error) {
	if t.rawFields != "" && slices.Equal(splitFields(t.rawFields), t.Fields) {
		return t.rawFields, nil
	}
	s := strings.Join(t.Fields, ",")
	if !slices.Equal(splitFields(s), t.Fields) {
		return "", fmt.Errorf("%w: field list %q does not survive the node's comma split", ErrInvalid, t.Fields)
	}
	return s, nil
}

func appendTable(dst []byte, t *Table, format Format) ([]byte, error) {
	if len(t.Name) > math.MaxUint8 {
		return dst, fmt.Errorf("%w: table name of %d bytes exceeds 255", ErrInvalid, len(t.Name))
	}
	fields, err := wireFields(t)
	if err != nil {
		return dst, err
	}
	dst = append(dst, byte(len(t.Name)))
	dst = append(dst, t.Name...)
	if dst, err = appendBytes(dst, []byte(fields)); err != nil {
		return dst, fmt.Errorf("field list: %w", err)
	}
	nValues := 0
	for _, f := range t.Fields {
		if !IsSpecialField(f) {
			nValues++
		}
	}
	flags := flagBytes(len(t.Fields), nValues)
	for _, l := range []struct {
		name    string
		entries []Entry
	}{{"dirty", t.Dirty}, {"new", t.New}} {
		if uint64(len(l.entries)) > math.MaxUint32 {
			return dst, fmt.Errorf("%w: %d %s entries", ErrInvalid, len(l.entries), l.name)
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(l.entries)))
		for i := range l.entries {
			if dst, err = appendEntry(dst, &l.entries[i], format, flags, nValues); err != nil {
				return dst, fmt.Errorf("%s entry %d (id %d): %w", l.name, i, l.entries[i].ID, err)
			}
		}
	}
	return dst, nil
}

func appendEntry(dst []byte, e *Entry, format Format, flags, nValues int) ([]byte, error) {
	present := nValues
	if e.Present != nil {
		present = popcountBelow(e.Present, nValues)
		for i := flags; i < len(e.Present); i++ {
			if e.Present[i] != 0 {
				return dst, fmt.Errorf("%w: used-field flags of %d bytes set bits past the %d the table has", ErrInvalid, len(e.Present), flags)
			}
		}
	}
	if present != len(e.Values) {
		return dst, fmt.Errorf("%w: %d values for %d present fields", ErrInvalid, len(e.Values), present)
	}
	dst = binary.BigEndian.AppendUint64(dst, e.ID)
	dst = append(dst, e.Status)
	var err error
	switch format {
	case FormatUnflagged:
		// Every value field is written; an absent one as an empty value.
		for k := range nValues {
			v, _ := e.Field(k)
			if dst, err = appendBytes(dst, v); err != nil {
				return dst, err
			}
		}
		return dst, nil
	default:
		if e.Present == nil {
			for k := range flags {
				dst = append(dst, allSet(k, nValues))
			}
		} else {
			// A shorter bitmap (NewEntry sizes it to the value count) is padded with zero
			// bytes to the node's flag size.
			dst = append(dst, e.Present[:min(flags, len(e.Present))]...)
			for n := len(e.Present); n < flags; n++ {
				dst = append(dst, 0)
			}
		}
		for _, v := range e.Values {
			if dst, err = appendBytes(dst, v); err != nil {
				return dst, err
			}
		}
		return dst, nil
	}
}

// allSet returns flag byte k of a bitmap with the first n bits set.
func allSet(k, n int) byte {
	switch set := n - 8*k; {
	case set >= 8:
		return 0xff
	case set <= 0:
		return 0
	default:
		return byte(0xff << (8 - set))
	}
}

func appendBytes(dst, v []byte) ([]byte, error) {
	if uint64(len(v)) > math.MaxUint32 {
		return dst, fmt.Errorf("%w: value of %d bytes exceeds the 32-bit length field", ErrInvalid, len(v))
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
	return append(dst, v...), nil
}

// Writer writes a binlog file to an io.Writer.
type Writer struct {
	w    io.Writer
	size int64
	buf  []byte
}

// NewWriter writes the file header to w and returns a Writer for the records.
func NewWriter(w io.Writer) (*Writer, error) {
	bw := &Writer{w: w}
	if _, err := w.Write(AppendHeader(nil)); err != nil {
		return nil, fmt.Errorf("write binlog header: %w", err)
	}
	bw.size = 4
	return bw, nil
}

// WriteRecord encodes rec (see AppendRecord) and writes it in one Write call, as the node
// does, so that a concurrent reader sees at most one partial record.
func (w *Writer) WriteRecord(rec *Record) error {
	var err error
	w.buf, err = AppendRecord(w.buf[:0], rec)
	if err != nil {
		return err
	}
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("write binlog block %d at offset %d: %w", rec.BlockNumber, w.size, err)
	}
	w.size += int64(len(w.buf))
	if cap(w.buf) > 4*readChunk {
		w.buf = nil // do not pin one huge block's buffer for the life of the writer
	}
	return nil
}

// Size returns the bytes written so far, header included: the offset of the next record.
func (w *Writer) Size() int64 { return w.size }
