package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

// copyBuf writes rows in PostgreSQL's binary COPY format. pgx's CopyFrom plans and encodes
// every value through its type map (a million results' keys, amounts and plans took seconds);
// the results table's few types are written here directly.
type copyBuf struct{ b []byte }

var copySignature = []byte("PGCOPY\n\xff\r\n\x00")

func (w *copyBuf) header() {
	w.b = append(w.b, copySignature...)
	w.b = binary.BigEndian.AppendUint32(w.b, 0) // flags
	w.b = binary.BigEndian.AppendUint32(w.b, 0) // header extension length
}

func (w *copyBuf) trailer()         { w.b = binary.BigEndian.AppendUint16(w.b, 0xffff) }
func (w *copyBuf) tuple(fields int) { w.b = binary.BigEndian.AppendUint16(w.b, uint16(fields)) }
func (w *copyBuf) null()            { w.b = binary.BigEndian.AppendUint32(w.b, math.MaxUint32) }

func (w *copyBuf) int8(v int64) {
	w.b = binary.BigEndian.AppendUint32(w.b, 8)
	w.b = binary.BigEndian.AppendUint64(w.b, uint64(v))
}

func (w *copyBuf) int4(v int32) {
	w.b = binary.BigEndian.AppendUint32(w.b, 4)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(v))
}

func (w *copyBuf) bool(v bool) {
	w.b = binary.BigEndian.AppendUint32(w.b, 1)
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

func (w *copyBuf) text(s string) {
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(len(s)))
	w.b = append(w.b, s...)
}

// textArray writes a one-dimensional text[] without NULL elements.
func (w *copyBuf) textArray(xs []string) {
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
		w.b = binary.BigEndian.AppendUint32(w.b, pgtype.TextOID)
		return
	}
	w.b = binary.BigEndian.AppendUint32(w.b, 1)
	w.b = binary.BigEndian.AppendUint32(w.b, 0)
	w.b = binary.BigEndian.AppendUint32(w.b, pgtype.TextOID)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(len(xs)))
	w.b = binary.BigEndian.AppendUint32(w.b, 1) // lower bound
	for _, x := range xs {
		w.text(x)
	}
}

// jsonb writes a JSON text as jsonb (format version 1).
func (w *copyBuf) jsonb(js []byte) {
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(1+len(js)))
	w.b = append(w.b, 1)
	w.b = append(w.b, js...)
}

// numeric writes a plain decimal text (-?digits[.digits], as the comparators write amounts) as
// numeric: base-10000 digits around the decimal point, weight, sign and display scale.
func (w *copyBuf) numeric(s string) error {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" || !allDigits(intPart) || !allDigits(frac) || strings.Contains(s, "-") {
		return fmt.Errorf("numeric %q: not a plain decimal", s)
	}
	intPart = strings.TrimLeft(intPart, "0")
	dscale := len(frac)
	// Pad to whole groups of four: the integer part on the left, the fraction on the right.
	lead := (4 - len(intPart)%4) % 4
	trail := (4 - len(frac)%4) % 4
	digits := make([]byte, 0, lead+len(intPart)+len(frac)+trail)
	for range lead {
		digits = append(digits, '0')
	}
	digits = append(digits, intPart...)
	digits = append(digits, frac...)
	for range trail {
		digits = append(digits, '0')
	}
	groups := make([]uint16, 0, len(digits)/4)
	for i := 0; i < len(digits); i += 4 {
		g := uint16(digits[i]-'0')*1000 + uint16(digits[i+1]-'0')*100 + uint16(digits[i+2]-'0')*10 + uint16(digits[i+3]-'0')
		groups = append(groups, g)
	}
	weight := (lead+len(intPart))/4 - 1
	for len(groups) > 0 && groups[0] == 0 {
		groups = groups[1:]
		weight--
	}
	for len(groups) > 0 && groups[len(groups)-1] == 0 {
		groups = groups[:len(groups)-1]
	}
	sign := uint16(0)
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
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(dscale))
	for _, g := range groups {
		w.b = binary.BigEndian.AppendUint16(w.b, g)
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
