// Package binlog reads and writes the binary log ("binlog") files of FISCO BCOS 2.x nodes
// (v2.2.0 – v2.11.x) byte for byte.
//
// A binlog file is a 4-byte big-endian version (always 1) followed by one record per committed
// block. A record is the block's storage change-set: for every table the block wrote, the field
// list and the updated ("dirty") and inserted ("new") rows. Two entry encodings share version 1:
// nodes built from v2.5.0 on prefix every entry with "used-field" flag bytes and write only the
// fields that are set (Flagged); older nodes write every field, an absent one as an empty value
// (Unflagged). The Reader tells them apart per record, the Writer reproduces either exactly.
//
// Values are kept as the raw bytes of the record (they alias the record buffer, so a decoded
// record costs little more than its size). Every length read from the wire is checked against
// the bytes that remain before anything is allocated, so corrupt or hostile input cannot make
// the reader allocate more than a small multiple of the data it was actually given.
package binlog

import (
	"hash/crc32"
	"math/bits"
	"strconv"
	"strings"
)

// Version is the only file header value FISCO BCOS 2.x nodes write (BINLOG_VERSION), for both
// entry formats.
const Version = 1

// Names of the special fields that end every node-written field list. They are skipped by name
// when entries are encoded: _status_ and _id_ have fixed slots in each entry and _num_ is never
// stored (it is the record's block number).
const (
	FieldStatus = "_status_"
	FieldNum    = "_num_"
	FieldID     = "_id_"
)

// Entry status values (the _status_ field).
const (
	StatusNormal  uint8 = 0
	StatusDeleted uint8 = 1
)

// Format is the entry encoding of a record.
type Format uint8

const (
	// FormatAuto asks the Reader to detect the format of each record. A Writer given a record
	// with FormatAuto writes it Flagged, as current nodes do.
	FormatAuto Format = iota
	// FormatFlagged is the encoding of node binaries v2.5.0 and later: per-entry used-field
	// flag bytes, then only the fields that are set.
	FormatFlagged
	// FormatUnflagged is the encoding of node binaries v2.2.0 – v2.4.x: no flag bytes, every
	// field written, an absent one with length 0.
	FormatUnflagged
)

// String returns "auto", "flagged" or "unflagged".
func (f Format) String() string {
	switch f {
	case FormatAuto:
		return "auto"
	case FormatFlagged:
		return "flagged"
	case FormatUnflagged:
		return "unflagged"
	}
	return "format(" + strconv.Itoa(int(f)) + ")"
}

// ParseFormat turns "auto", "flagged" or "unflagged" (as given on a command line) into a Format.
func ParseFormat(s string) (Format, bool) {
	switch strings.ToLower(s) {
	case "auto", "":
		return FormatAuto, true
	case "flagged":
		return FormatFlagged, true
	case "unflagged":
		return FormatUnflagged, true
	}
	return FormatAuto, false
}

// Record is one block's storage change-set.
type Record struct {
	// BlockNumber is the number of the block whose commit wrote the record.
	BlockNumber uint64
	// Tables are the tables the block wrote, in file order (the node sorts them by name).
	Tables []Table
	// CRC is the stored CRC-32 (IEEE) of the body. The Writer ignores it and computes its own.
	CRC uint32
	// Offset is the file offset of the record's length field (set by the Reader).
	Offset int64
	// Length is the stored length field: the body size, CRC included (set by the Reader).
	Length uint32
	// Format is the entry encoding the record was read in or is to be written in.
	Format Format
	// Raw is the record as read, length field through CRC (set by the Reader, ignored by the
	// Writer). Values in Tables alias it.
	Raw []byte
}

// End returns the file offset just past the record, where the next record starts.
func (r *Record) End() int64 { return r.Offset + 4 + int64(r.Length) }

// ComputeCRC returns the CRC-32 of the record body as read (Raw), for comparison with CRC.
// It returns 0 when Raw does not hold a complete record.
func (r *Record) ComputeCRC() uint32 {
	if len(r.Raw) < minRecordLength+4 {
		return 0
	}
	return crc32.ChecksumIEEE(r.Raw[4 : len(r.Raw)-4])
}

// Table returns the first table with the given name, or nil.
func (r *Record) Table(name string) *Table {
	for i := range r.Tables {
		if r.Tables[i].Name == name {
			return &r.Tables[i]
		}
	}
	return nil
}

// Table is one table's changes within a record.
type Table struct {
	// Name is the table name (at most 255 bytes on the wire).
	Name string
	// Fields is the field list as on the wire: the key field first, then the other fields,
	// normally ending with _status_, _num_, _id_.
	Fields []string
	// Dirty are the existing rows the block updated or deleted (deleted rows keep their values
	// and carry Status 1).
	Dirty []Entry
	// New are the rows the block inserted.
	New []Entry

	// rawFields is the field list exactly as read, so that a list the node's split would
	// normalise (runs of commas) is written back unchanged. Used only while it still splits to
	// Fields.
	rawFields string
}

// KeyField returns the name of the table's key field (the first field), or "" when the table
// has no fields.
func (t *Table) KeyField() string {
	if len(t.Fields) == 0 {
		return ""
	}
	return t.Fields[0]
}

// ValueFields returns the fields an entry stores values for, in wire order: Fields without the
// special fields _status_, _num_ and _id_. Entry value index i refers to ValueFields()[i].
func (t *Table) ValueFields() []string {
	out := make([]string, 0, len(t.Fields))
	for _, f := range t.Fields {
		if !IsSpecialField(f) {
			out = append(out, f)
		}
	}
	return out
}

// FieldIndex returns the value index of a field (its position in ValueFields), or -1 when the
// table has no such field or the field is special.
func (t *Table) FieldIndex(field string) int {
	i := 0
	for _, f := range t.Fields {
		if IsSpecialField(f) {
			continue
		}
		if f == field {
			return i
		}
		i++
	}
	return -1
}

// Value returns the value of a field in an entry of this table. ok is false when the table
// has no such field or the entry does not set it (a missing field, only possible in the
// Flagged format; an empty value is present with length 0). Special fields are not values:
// use Entry.ID, Entry.Status and Record.BlockNumber.
func (t *Table) Value(e *Entry, field string) (v []byte, ok bool) {
	i := t.FieldIndex(field)
	if i < 0 {
		return nil, false
	}
	return e.Field(i)
}

// Key returns the entry's key value (the value of the first field), or nil.
func (t *Table) Key(e *Entry) []byte {
	if len(t.Fields) == 0 {
		return nil
	}
	v, _ := t.Value(e, t.Fields[0])
	return v
}

// IsSpecialField reports whether a field name is one of _status_, _num_, _id_, which the node
// skips by name when it encodes entry values.
func IsSpecialField(name string) bool {
	return name == FieldStatus || name == FieldNum || name == FieldID
}

// Entry is one row of a table.
//
// Its values are stored as on the wire: Present is the used-field bitmap (bit k, for value
// field k, is bit 7-k%8 of byte k/8) and Values holds only the values that are set, in field
// order. A nil Present means every field is present (always so in the Unflagged format).
// Build entries for writing with NewEntry; read them with Field or Table.Value.
type Entry struct {
	// ID is the row id (_id_).
	ID uint64
	// Status is _status_: StatusNormal, or StatusDeleted for a removed row.
	Status uint8
	// Present is the used-field bitmap, nil when every field is present.
	Present []byte
	// Values are the values of the present fields, in field order.
	Values [][]byte
}

// Value is a field value with presence, for building entries.
type Value struct {
	// Data is the raw value.
	Data []byte
	// Set distinguishes a present (possibly empty) value from a missing field.
	Set bool
}

// NewEntry builds an entry from one Value per value field (Table.ValueFields order). Present
// is left nil when every value is set.
func NewEntry(id uint64, status uint8, values []Value) Entry {
	e := Entry{ID: id, Status: status, Values: make([][]byte, 0, len(values))}
	all := true
	for _, v := range values {
		if !v.Set {
			all = false
			break
		}
	}
	if !all {
		e.Present = make([]byte, (len(values)+7)/8)
	}
	for k, v := range values {
		if !v.Set {
			continue
		}
		if e.Present != nil {
			e.Present[k/8] |= 1 << (7 - k%8)
		}
		e.Values = append(e.Values, v.Data)
	}
	return e
}

// Has reports whether value field i is present.
func (e *Entry) Has(i int) bool {
	if i < 0 {
		return false
	}
	if e.Present == nil {
		return i < len(e.Values)
	}
	if i/8 >= len(e.Present) {
		return false
	}
	return e.Present[i/8]&(1<<(7-i%8)) != 0
}

// Field returns the value of value field i and whether it is present.
func (e *Entry) Field(i int) ([]byte, bool) {
	if !e.Has(i) {
		return nil, false
	}
	if e.Present == nil {
		return e.Values[i], true
	}
	// The value's position among the stored values is the number of set bits before bit i.
	n := 0
	for b := 0; b < i/8; b++ {
		n += bits.OnesCount8(e.Present[b])
	}
	n += bits.OnesCount8(e.Present[i/8] >> (8 - i%8))
	if n >= len(e.Values) {
		return nil, false
	}
	return e.Values[n], true
}

// Expand returns one Value per value field for a table with n value fields: the inverse of
// NewEntry.
func (e *Entry) Expand(n int) []Value {
	out := make([]Value, n)
	for i := range out {
		out[i].Data, out[i].Set = e.Field(i)
	}
	return out
}

// Deleted reports whether the entry marks a removed row (_status_ = 1).
func (e *Entry) Deleted() bool { return e.Status == StatusDeleted }

// flagBytes returns the number of used-field flag bytes the node writes for a field list of
// nFields names of which nValues are not special. The node computes (nFields-3)/8+1, which is
// one byte too many for exactly 8, 16, … value fields; that is reproduced. Field lists the node
// never writes (fewer than 3 names, or specials missing) get at least enough bytes for one bit
// per value field instead of the node's out-of-bounds behaviour.
func flagBytes(nFields, nValues int) int {
	f := 1
	if nFields >= 3 {
		f = (nFields-3)/8 + 1
	}
	if need := (nValues + 7) / 8; need > f {
		f = need
	}
	return f
}

// splitFields splits a field list the way the node does (boost::split on ',' with
// token_compress_on): runs of commas count as one separator, and a leading or trailing run
// yields one empty name. An empty string yields one empty name.
func splitFields(s string) []string {
	n := 1
	for i := 0; i < len(s); i++ {
		if s[i] == ',' && (i == 0 || s[i-1] != ',') {
			n++
		}
	}
	out := make([]string, 0, n)
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] != ',' {
			continue
		}
		out = append(out, s[start:i])
		for i+1 < len(s) && s[i+1] == ',' {
			i++
		}
		start = i + 1
	}
	return append(out, s[start:])
}
