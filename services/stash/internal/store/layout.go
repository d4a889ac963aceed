package store

import (
	"slices"

	"github.com/bcosdata/bcosdata/services/stash/internal/state"
)

// layout is the key field and value fields (in record order) a table's binlog records listed
// from block From on.
type layout struct {
	From   uint64   `json:"from"`
	Key    string   `json:"key"`
	Fields []string `json:"fields"`
}

// layoutAt returns the layout of t's records at block n.
func (t *tableInfo) layoutAt(n uint64) layout {
	for i := len(t.Layouts) - 1; i >= 0; i-- {
		if t.Layouts[i].From <= n {
			return t.Layouts[i]
		}
	}
	// Catalogued before layouts were kept, and unchanged since.
	return layout{From: t.FirstBlock, Key: t.KeyField, Fields: t.Fields}
}

// current returns the layout of t's latest records.
func (t *tableInfo) current() layout {
	if len(t.Layouts) == 0 {
		return layout{From: t.FirstBlock, Key: t.KeyField, Fields: t.Fields}
	}
	return t.Layouts[len(t.Layouts)-1]
}

// sameLayout reports whether a block's table lists the key and fields of l, in the same order.
func sameLayout(l layout, st *state.Table) bool {
	return l.Key == st.KeyField && slices.Equal(l.Fields, st.Fields)
}

// inLayout rewrites a table read back with the catalog's fields (Fields = t.Fields, values
// parallel) into the layout l the block's record had.
func inLayout(out *state.Table, t *tableInfo, l layout) {
	out.KeyField = l.Key
	if slices.Equal(l.Fields, t.Fields) {
		return
	}
	pos := make([]int, len(l.Fields))
	for i, f := range l.Fields {
		pos[i] = slices.Index(t.Fields, f)
	}
	for r := range out.Rows {
		vals := make([]state.Value, len(l.Fields))
		for i, j := range pos {
			if j >= 0 && j < len(out.Rows[r].Values) {
				vals[i] = out.Rows[r].Values[j]
			}
		}
		out.Rows[r].Values = vals
	}
	out.Fields = slices.Clone(l.Fields)
}
