// Package state holds a block's storage change-set in the one canonical form the stash stores,
// publishes and checkpoints, and the portable encoding ("digest") that two stashes, or two
// sources of one stash, compare.
//
// The binlog lists a block's tables by name and each table's rows as the node happened to write
// them. Everything the stash derives from a change-set (the state.v1 message, the rows rebuilt
// from PostgreSQL for a republication, the checkpoint) goes through Table so that the same
// block always yields the same bytes, whichever path produced it.
package state

import (
	"cmp"
	"slices"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
)

// Kind says whether a row existed before the block. The values are those of
// bcosdata.chain.v1.RowKind.
type Kind uint8

const (
	// KindDirty is an existing row the block updated or deleted.
	KindDirty Kind = 1
	// KindNew is a row the block inserted.
	KindNew Kind = 2
)

// Value is a field value; Set distinguishes an empty value from a field the entry does not
// carry (possible in binlogs written by node binaries 2.5.0 and later).
type Value struct {
	Data []byte
	Set  bool
}

// Row is one row version written by a block.
type Row struct {
	ID     uint64
	Status uint8
	Kind   Kind
	// Key is the value of the table's key field.
	Key Value
	// Values are parallel to Table.Fields.
	Values []Value
}

// Table is one table's rows written by a block.
type Table struct {
	Name     string
	KeyField string
	// Fields are the value fields in table order, without the key and the _status_, _num_
	// and _id_ specials.
	Fields []string
	Rows   []Row
}

// FromRecord returns the change-set of a binlog record in canonical order: tables by name
// (byte order), rows dirty before new and by id within each kind. Values alias the record.
func FromRecord(rec *binlog.Record) []Table {
	out := make([]Table, 0, len(rec.Tables))
	for i := range rec.Tables {
		bt := &rec.Tables[i]
		vf := bt.ValueFields()
		t := Table{Name: bt.Name}
		if len(vf) > 0 {
			t.KeyField, t.Fields = vf[0], vf[1:]
		}
		t.Rows = make([]Row, 0, len(bt.Dirty)+len(bt.New))
		add := func(es []binlog.Entry, k Kind) {
			for j := range es {
				e := &es[j]
				r := Row{ID: e.ID, Status: e.Status, Kind: k}
				if len(vf) > 0 {
					r.Key.Data, r.Key.Set = e.Field(0)
					r.Values = make([]Value, len(t.Fields))
					for f := range t.Fields {
						r.Values[f].Data, r.Values[f].Set = e.Field(f + 1)
					}
				}
				t.Rows = append(t.Rows, r)
			}
		}
		add(bt.Dirty, KindDirty)
		add(bt.New, KindNew)
		out = append(out, t)
	}
	Canonicalize(out)
	return out
}

// Canonicalize sorts tables by name and each table's rows by kind (dirty first) then id, in
// place. Sorting is stable, so two tables of one name (which nodes never write) keep their
// relative order.
func Canonicalize(tables []Table) {
	slices.SortStableFunc(tables, func(a, b Table) int { return cmp.Compare(a.Name, b.Name) })
	for i := range tables {
		slices.SortStableFunc(tables[i].Rows, func(a, b Row) int {
			if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
				return c
			}
			return cmp.Compare(a.ID, b.ID)
		})
	}
}

// Find returns the table with the given name, or nil.
func Find(tables []Table, name string) *Table {
	for i := range tables {
		if tables[i].Name == name {
			return &tables[i]
		}
	}
	return nil
}

// Field returns a row's value of the named field (the key field included) and whether the table
// has that field.
func (t *Table) Field(r *Row, name string) (Value, bool) {
	if name == t.KeyField {
		return r.Key, true
	}
	for i, f := range t.Fields {
		if f == name {
			if i < len(r.Values) {
				return r.Values[i], true
			}
			return Value{}, true
		}
	}
	return Value{}, false
}

// ToRecord rebuilds a binlog record holding a change-set, for re-verifying a stored block with
// the same checks as a freshly read one. Tables keep their order; every field is written, an
// absent one as missing (Flagged format).
func ToRecord(number uint64, tables []Table) *binlog.Record {
	rec := &binlog.Record{BlockNumber: number, Format: binlog.FormatFlagged, Tables: make([]binlog.Table, len(tables))}
	for i := range tables {
		t := &tables[i]
		bt := &rec.Tables[i]
		bt.Name = t.Name
		bt.Fields = append(append([]string{t.KeyField}, t.Fields...), binlog.FieldStatus, binlog.FieldNum, binlog.FieldID)
		for j := range t.Rows {
			r := &t.Rows[j]
			vals := make([]binlog.Value, 0, 1+len(t.Fields))
			vals = append(vals, binlog.Value{Data: r.Key.Data, Set: r.Key.Set})
			for k := range t.Fields {
				var v Value
				if k < len(r.Values) {
					v = r.Values[k]
				}
				vals = append(vals, binlog.Value{Data: v.Data, Set: v.Set})
			}
			e := binlog.NewEntry(r.ID, r.Status, vals)
			if r.Kind == KindDirty {
				bt.Dirty = append(bt.Dirty, e)
			} else {
				bt.New = append(bt.New, e)
			}
		}
	}
	return rec
}
