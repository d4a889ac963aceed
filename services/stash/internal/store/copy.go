package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/bcosdata/bcosdata/libs/postgres/pgcopy"

	"github.com/jackc/pgx/v5"

	"github.com/bcosdata/bcosdata/services/stash/internal/state"
)

// copyVersions writes row versions into a mirrored table with COPY in PostgreSQL's binary
// format. Every mirrored column is bigint, smallint or bytea, so the rows are encoded here
// directly from the change-set (pgcopy), a chunk at a time, instead of through pgx's
// per-value encoding: at catch-up speed that encoding was the stash's largest cost after
// verification.
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

// versionEncoder encodes row versions in the column order of rowValues: _id_, _num_,
// _status_, _kind_, the key, then t.Columns.
type versionEncoder struct {
	t    *tableInfo
	vs   []version
	next int
	// from is the state.Table whose field positions pos holds (versions of one block share
	// it): pos[i] is the column of that table's i-th field, or -1.
	from *state.Table
	pos  []int
	vals []state.Value
}

// newVersionReader returns the COPY stream of the versions.
func newVersionReader(t *tableInfo, vs []version) *pgcopy.Stream {
	e := &versionEncoder{t: t, vs: vs, vals: make([]state.Value, len(t.Columns))}
	return pgcopy.NewStream(func(w *pgcopy.Rows) (bool, error) {
		if e.next == len(e.vs) {
			return false, nil
		}
		e.appendRow(w, e.vs[e.next])
		e.next++
		return true, nil
	})
}

func (r *versionEncoder) appendRow(w *pgcopy.Rows, v version) {
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
	// Integers are stored as the two's complement of their low bits, as the int64/int16
	// conversions of rowValues do.
	w.Tuple(5 + len(r.t.Columns))
	w.Int8(int64(v.r.ID))
	w.Int8(int64(v.num))
	w.Int2(int16(v.r.Status))
	w.Int2(int16(v.r.Kind))
	appendBytea(w, v.r.Key)
	for _, val := range r.vals {
		appendBytea(w, val)
	}
}

// appendBytea appends a bytea field: NULL for an absent value (see bytesOrNull).
func appendBytea(w *pgcopy.Rows, v state.Value) {
	if !v.Set {
		w.Null()
		return
	}
	w.Bytes(v.Data)
}
