package store

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	"github.com/bcosdata/bcosdata/services/stash/internal/state"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestCopyVersionsRoundTrip writes row versions with the binary COPY encoder and reads them
// back: every column must hold what rowValues (the parameter encoding used for single-row
// statements) says it should, across chunk boundaries, absent and empty values, fields listed
// in another order or left out by a version, and ids with the top bit set.
func TestCopyVersionsRoundTrip(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := t.Context()
	ti := &tableInfo{Name: "t", Main: "copy_rt", KeyField: "k", KeyColumn: "k",
		Fields: []string{"fa", "fb", "fc"}, Columns: []string{"a", "b", "c"}}
	if _, err := pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+ident(Schema)+`;
		CREATE TABLE `+qualified(ti.Main)+` (_id_ bigint, _num_ bigint, _status_ smallint, _kind_ smallint,
			k bytea, a bytea, b bytea, c bytea)`); err != nil {
		t.Fatal(err)
	}
	reordered := &state.Table{Name: "t", KeyField: "k", Fields: []string{"fb", "fa", "fzz"}}
	partial := &state.Table{Name: "t", KeyField: "k", Fields: []string{"fc"}}
	big := bytes.Repeat([]byte{0xab}, 384<<10) // more than a stream chunk (pgcopy: 256 KiB) on its own
	var vs []version
	for i := range 3000 {
		r := &state.Row{ID: uint64(i), Status: uint8(i % 2), Kind: state.Kind(i % 3),
			Key: state.Value{Data: fmt.Appendf(nil, "key-%d", i), Set: true}}
		v := version{num: uint64(i / 10), r: r}
		switch i % 4 {
		case 0:
			v.t = reordered
			r.Values = []state.Value{{Data: []byte("b"), Set: true}, {Data: []byte{}, Set: true}, {Data: []byte("ignored"), Set: true}}
		case 1:
			v.t = reordered
			r.Values = []state.Value{{}, {Data: bytes.Repeat([]byte{byte(i)}, i), Set: true}} // b absent, fzz missing
		case 2:
			v.t = partial
			r.Values = []state.Value{{Data: []byte("c"), Set: true}}
		default:
			v.t = partial
			r.Key = state.Value{} // absent key
			r.Values = []state.Value{{Data: big, Set: i == 3}}
		}
		vs = append(vs, v)
	}
	vs = append(vs, version{num: 1 << 40, t: partial, r: &state.Row{ID: 1<<63 + 5, Status: 255, Values: []state.Value{{}}}})

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	cols := append([]string{colID, colNum, colStatus, colKind, ti.KeyColumn}, ti.Columns...)
	if err := copyVersions(ctx, tx, ti, ti.Main, cols, vs); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, `SELECT `+identList(cols, "")+` FROM `+qualified(ti.Main)+` ORDER BY _num_, _id_`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for ; rows.Next(); n++ {
		got, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		if n >= len(vs) {
			t.Fatalf("more rows than the %d written", len(vs))
		}
		want := rowValues(ti, vs[n])
		if g, w := describe(got), describe(want); g != w {
			t.Fatalf("row %d (id %d):\n got %s\nwant %s", n, vs[n].r.ID, g, w)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(vs) {
		t.Fatalf("read %d rows back, wrote %d", n, len(vs))
	}
}

// describe prints column values so that NULL, empty and long values are told apart.
func describe(vals []any) string {
	var b strings.Builder
	for _, v := range vals {
		switch x := v.(type) {
		case []byte:
			if x == nil {
				b.WriteString("NULL ")
				continue
			}
			if len(x) > 16 {
				fmt.Fprintf(&b, "%d bytes %x… ", len(x), x[:8])
				continue
			}
			fmt.Fprintf(&b, "%q ", x)
		case nil:
			b.WriteString("NULL ")
		default:
			fmt.Fprintf(&b, "%v ", x)
		}
	}
	return b.String()
}
