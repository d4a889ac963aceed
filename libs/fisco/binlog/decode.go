package binlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"
)

// minRecordLength is the smallest length field a record can carry: block number (8), table
// count (4) and CRC (4).
const minRecordLength = 8 + 4 + 4

// Smallest encodings, used to bound counts read from the wire before allocating.
const (
	minTableSize      = 1 + 4 + 4 + 4 // name length, fields length, dirty and new counts
	minEntryFixedSize = 8 + 1         // _id_ and _status_
)

// decodeRecord decodes a complete record (length field through CRC) read at file offset off.
// It checks the CRC first; on a mismatch it still decodes the tables when they parse and
// returns the record with a *CRCError, so a caller can report what the record claims to be.
func decodeRecord(raw []byte, off int64, format Format) (*Record, error) {
	rec := &Record{
		Offset:      off,
		Length:      binary.BigEndian.Uint32(raw),
		BlockNumber: binary.BigEndian.Uint64(raw[4:]),
		CRC:         binary.BigEndian.Uint32(raw[len(raw)-4:]),
		Raw:         raw,
	}
	var crcErr error
	if got := crc32.ChecksumIEEE(raw[4 : len(raw)-4]); got != rec.CRC {
		crcErr = &CRCError{Stored: rec.CRC, Computed: got}
	}
	tables, f, err := decodeTables(raw, off, format)
	if err != nil {
		if crcErr != nil {
			// A bad checksum explains the garbage; report it rather than its symptom.
			return rec, crcErr
		}
		return rec, err
	}
	rec.Tables, rec.Format = tables, f
	return rec, crcErr
}

// decodeTables parses the tables of a complete record in the given format, or, for
// FormatAuto, Flagged first and Unflagged when the Flagged parse does not end exactly at the
// CRC (the node's own decoder accepts a record only on that exact length).
func decodeTables(raw []byte, off int64, format Format) ([]Table, Format, error) {
	switch format {
	case FormatFlagged, FormatUnflagged:
		t, err := parseTables(raw, off, format)
		return t, format, err
	}
	t, errF := parseTables(raw, off, FormatFlagged)
	if errF == nil {
		return t, FormatFlagged, nil
	}
	t, errU := parseTables(raw, off, FormatUnflagged)
	if errU == nil {
		return t, FormatUnflagged, nil
	}
	return nil, FormatAuto, fmt.Errorf("%w (as unflagged: %w)", errF, errU)
}

// parser reads big-endian fields from a record, checking every length against the bytes left
// before the CRC.
type parser struct {
	b    []byte // the whole record, length field included
	pos  int
	end  int   // start of the CRC
	base int64 // file offset of b[0]
	// arena hands out the per-entry value slices in chunks, so that an entry costs no
	// allocation of its own. A full chunk is replaced, not grown: slices already handed out
	// keep pointing into the old one.
	arena [][]byte
}

func (p *parser) left() int { return p.end - p.pos }

func (p *parser) fail(what string, need int) error {
	return fmt.Errorf("%w: %s at file offset %d needs %d bytes, %d left before the crc",
		ErrMalformed, what, p.base+int64(p.pos), need, p.left())
}

func (p *parser) u8(what string) (uint8, error) {
	if p.left() < 1 {
		return 0, p.fail(what, 1)
	}
	v := p.b[p.pos]
	p.pos++
	return v, nil
}

func (p *parser) u32(what string) (uint32, error) {
	if p.left() < 4 {
		return 0, p.fail(what, 4)
	}
	v := binary.BigEndian.Uint32(p.b[p.pos:])
	p.pos += 4
	return v, nil
}

func (p *parser) u64(what string) (uint64, error) {
	if p.left() < 8 {
		return 0, p.fail(what, 8)
	}
	v := binary.BigEndian.Uint64(p.b[p.pos:])
	p.pos += 8
	return v, nil
}

func (p *parser) bytes(what string, n uint64) ([]byte, error) {
	if n > uint64(p.left()) {
		return nil, p.fail(what, int(min(n, 1<<40)))
	}
	v := p.b[p.pos : p.pos+int(n) : p.pos+int(n)]
	p.pos += int(n)
	return v, nil
}

// lenBytes reads a u32 length and that many bytes.
func (p *parser) lenBytes(what string) ([]byte, error) {
	n, err := p.u32(what + " length")
	if err != nil {
		return nil, err
	}
	return p.bytes(what, uint64(n))
}

// count reads a u32 count of items each at least minSize bytes long and rejects one that
// cannot fit in what is left, so that it is safe to allocate for.
func (p *parser) count(what string, minSize int) (int, error) {
	at := p.pos
	n, err := p.u32(what)
	if err != nil {
		return 0, err
	}
	if uint64(n)*uint64(minSize) > uint64(p.left()) {
		return 0, fmt.Errorf("%w: %s %d at file offset %d: %d items of at least %d bytes do not fit in the %d bytes left",
			ErrMalformed, what, n, p.base+int64(at), n, minSize, p.left())
	}
	return int(n), nil
}

func (p *parser) take(n int) [][]byte {
	if cap(p.arena)-len(p.arena) < n {
		c := max(2*cap(p.arena), n, 64)
		p.arena = make([][]byte, 0, c)
	}
	s := p.arena[len(p.arena) : len(p.arena)+n : len(p.arena)+n]
	p.arena = p.arena[:len(p.arena)+n]
	return s
}

func parseTables(raw []byte, off int64, format Format) ([]Table, error) {
	p := &parser{b: raw, pos: 4 + 8, end: len(raw) - 4, base: off}
	n, err := p.count("table count", minTableSize)
	if err != nil {
		return nil, err
	}
	tables := make([]Table, n)
	for i := range tables {
		if err := p.table(&tables[i], format); err != nil {
			return nil, fmt.Errorf("table %d %q: %w", i, tables[i].Name, err)
		}
	}
	if p.pos != p.end {
		return nil, fmt.Errorf("%w: tables end at file offset %d but the crc is at %d (%s format)",
			ErrMalformed, p.base+int64(p.pos), p.base+int64(p.end), format)
	}
	return tables, nil
}

func (p *parser) table(t *Table, format Format) error {
	nameLen, err := p.u8("table name length")
	if err != nil {
		return err
	}
	name, err := p.bytes("table name", uint64(nameLen))
	if err != nil {
		return err
	}
	t.Name = string(name)
	fields, err := p.lenBytes("field list")
	if err != nil {
		return err
	}
	t.rawFields = string(fields)
	t.Fields = splitFields(t.rawFields)
	nValues := 0
	for _, f := range t.Fields {
		if !IsSpecialField(f) {
			nValues++
		}
	}
	if t.Dirty, err = p.entries("dirty", format, len(t.Fields), nValues); err != nil {
		return err
	}
	if t.New, err = p.entries("new", format, len(t.Fields), nValues); err != nil {
		return err
	}
	return nil
}

func (p *parser) entries(list string, format Format, nFields, nValues int) ([]Entry, error) {
	flags := flagBytes(nFields, nValues)
	minSize := minEntryFixedSize + flags
	if format == FormatUnflagged {
		minSize = minEntryFixedSize + 4*nValues
	}
	n, err := p.count(list+" entry count", minSize)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]Entry, n)
	for i := range out {
		if err := p.entry(&out[i], format, flags, nValues); err != nil {
			return nil, fmt.Errorf("%s entry %d: %w", list, i, err)
		}
	}
	return out, nil
}

func (p *parser) entry(e *Entry, format Format, flags, nValues int) error {
	var err error
	if e.ID, err = p.u64("_id_"); err != nil {
		return err
	}
	if e.Status, err = p.u8("_status_"); err != nil {
		return err
	}
	present := nValues
	if format == FormatFlagged {
		if e.Present, err = p.bytes("used-field flags", uint64(flags)); err != nil {
			return err
		}
		present = popcountBelow(e.Present, nValues)
	}
	if uint64(present)*4 > uint64(p.left()) {
		return p.fail(fmt.Sprintf("%d values", present), present*4)
	}
	e.Values = p.take(present)
	for i := range e.Values {
		if e.Values[i], err = p.lenBytes("value"); err != nil {
			return err
		}
	}
	return nil
}

// popcountBelow counts the set bits of the first n bits of a bitmap.
func popcountBelow(bm []byte, n int) int {
	c := 0
	for b := 0; b < n/8 && b < len(bm); b++ {
		c += bits.OnesCount8(bm[b])
	}
	if r := n % 8; r != 0 && n/8 < len(bm) {
		c += bits.OnesCount8(bm[n/8] >> (8 - r))
	}
	return c
}
