package binlog_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"strings"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
)

// bb assembles binlog bytes by hand, following the layout of the reference §1.3, so that the
// vectors do not come from the encoder under test.
type bb struct{ b []byte }

func (x *bb) u8(v byte) *bb     { x.b = append(x.b, v); return x }
func (x *bb) raw(v ...byte) *bb { x.b = append(x.b, v...); return x }
func (x *bb) u32(v uint32) *bb  { x.b = binary.BigEndian.AppendUint32(x.b, v); return x }
func (x *bb) u64(v uint64) *bb  { x.b = binary.BigEndian.AppendUint64(x.b, v); return x }
func (x *bb) str(s string) *bb  { return x.u32(uint32(len(s))).raw([]byte(s)...) }
func (x *bb) name(s string) *bb { return x.u8(byte(len(s))).raw([]byte(s)...) }

// record frames a table section (table count onwards) as a record for block n: length, block
// number, tables, CRC-32 of block number and tables.
func record(n uint64, tables []byte) []byte {
	body := binary.BigEndian.AppendUint64(nil, n)
	body = append(body, tables...)
	body = binary.BigEndian.AppendUint32(body, crc32.ChecksumIEEE(body))
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func file(records ...[]byte) []byte {
	out := []byte{0, 0, 0, 1}
	for _, r := range records {
		out = append(out, r...)
	}
	return out
}

func set(s string) binlog.Value { return binlog.Value{Data: []byte(s), Set: true} }

var unset = binlog.Value{}

// handCase is a hand-built record with what a reader must find in it.
type handCase struct {
	name   string
	bytes  []byte        // the whole record
	format binlog.Format // the format it is in
	built  *binlog.Record
	// want maps table → entry index (dirty first, then new) → field → value ("\x00" = missing).
	want map[string][]map[string]string
}

const missing = "\x00"

func handCases() []handCase {
	// Exactly 8 value fields (key k + 7): the node writes (11-3)/8+1 = 2 flag bytes, the second
	// always zero. Entry sets k, c (empty) and g: bits 0, 3, 7 → 1001 0001 = 0x91.
	f8 := "k,a,b,c,d,e,f,g,_status_,_num_,_id_"
	eight := (&bb{}).u32(1).
		name("u_eight").str(f8).
		u32(0).u32(1).
		u64(100100).u8(0).raw(0x91, 0x00).str("r1").str("").str("x").b

	// Ten value fields (k, f1..f9): 2 flag bytes; entry 1 sets k, f8, f9 → 0x80 0xc0;
	// entry 2 sets all → 0xff 0xc0.
	f10 := "k,f1,f2,f3,f4,f5,f6,f7,f8,f9,_status_,_num_,_id_"
	ten := (&bb{}).u32(1).
		name("u_ten").str(f10).
		u32(0).u32(2).
		u64(7).u8(0).raw(0x80, 0xc0).str("key1").str("eight").str("nine").
		u64(8).u8(0).raw(0xff, 0xc0).str("key2").str("1").str("2").str("3").str("4").str("5").str("6").str("7").str("8").str("9").b

	// A deleted row is a dirty entry with _status_ 1; its values stay.
	del := (&bb{}).u32(2).
		name("_sys_current_state_").str("key,value,_status_,_num_,_id_").
		u32(1).u64(1).u8(0).raw(0xc0).str("current_id").str("100200").
		u32(0).
		name("u_people").str("name,age,_status_,_num_,_id_").
		u32(1).u64(100150).u8(1).raw(0xc0).str("alice").str("30").
		u32(0).b

	// Special fields are skipped by name wherever they stand: the values are k and v.
	odd := (&bb{}).u32(1).
		name("u_odd").str("k,_id_,v,_status_,_num_").
		u32(0).u32(1).
		u64(5).u8(0).raw(0xc0).str("kk").str("vv").b

	// The same ten-field table in the 2.2–2.4 format: no flags, every field written, absent
	// ones with length 0.
	old := (&bb{}).u32(1).
		name("u_ten").str(f10).
		u32(0).u32(1).
		u64(7).u8(0).str("key1").str("").str("").str("").str("").str("").str("").str("").str("eight").str("nine").b

	tenVals := func(k, f8, f9 binlog.Value) []binlog.Value {
		return []binlog.Value{k, unset, unset, unset, unset, unset, unset, unset, f8, f9}
	}
	all := []binlog.Value{set("key2"), set("1"), set("2"), set("3"), set("4"), set("5"), set("6"), set("7"), set("8"), set("9")}
	fields := func(s string) []string { return strings.Split(s, ",") }
	oldVals := []binlog.Value{set("key1"), set(""), set(""), set(""), set(""), set(""), set(""), set(""), set("eight"), set("nine")}

	return []handCase{{
		name: "exactly 8 fields, missing and empty", bytes: record(3, eight), format: binlog.FormatFlagged,
		built: &binlog.Record{BlockNumber: 3, Format: binlog.FormatFlagged, Tables: []binlog.Table{{
			Name: "u_eight", Fields: fields(f8),
			New: []binlog.Entry{binlog.NewEntry(100100, 0, []binlog.Value{set("r1"), unset, unset, set(""), unset, unset, unset, set("x")})},
		}}},
		want: map[string][]map[string]string{"u_eight": {{"k": "r1", "a": missing, "b": missing, "c": "", "d": missing, "e": missing, "f": missing, "g": "x"}}},
	}, {
		name: "more than 8 fields", bytes: record(4, ten), format: binlog.FormatFlagged,
		built: &binlog.Record{BlockNumber: 4, Tables: []binlog.Table{{
			Name: "u_ten", Fields: fields(f10),
			New: []binlog.Entry{
				binlog.NewEntry(7, 0, tenVals(set("key1"), set("eight"), set("nine"))),
				binlog.NewEntry(8, 0, all),
			},
		}}},
		want: map[string][]map[string]string{"u_ten": {
			{"k": "key1", "f1": missing, "f7": missing, "f8": "eight", "f9": "nine"},
			{"k": "key2", "f1": "1", "f5": "5", "f8": "8", "f9": "9"},
		}},
	}, {
		name: "deleted row", bytes: record(5, del), format: binlog.FormatFlagged,
		built: &binlog.Record{BlockNumber: 5, Format: binlog.FormatFlagged, Tables: []binlog.Table{
			{Name: "_sys_current_state_", Fields: fields("key,value,_status_,_num_,_id_"),
				Dirty: []binlog.Entry{binlog.NewEntry(1, 0, []binlog.Value{set("current_id"), set("100200")})}},
			{Name: "u_people", Fields: fields("name,age,_status_,_num_,_id_"),
				Dirty: []binlog.Entry{binlog.NewEntry(100150, binlog.StatusDeleted, []binlog.Value{set("alice"), set("30")})}},
		}},
		want: map[string][]map[string]string{
			"_sys_current_state_": {{"key": "current_id", "value": "100200"}},
			"u_people":            {{"name": "alice", "age": "30"}},
		},
	}, {
		name: "special fields skipped by name", bytes: record(6, odd), format: binlog.FormatFlagged,
		built: &binlog.Record{BlockNumber: 6, Tables: []binlog.Table{{
			Name: "u_odd", Fields: fields("k,_id_,v,_status_,_num_"),
			New: []binlog.Entry{binlog.NewEntry(5, 0, []binlog.Value{set("kk"), set("vv")})},
		}}},
		want: map[string][]map[string]string{"u_odd": {{"k": "kk", "v": "vv"}}},
	}, {
		name: "old unflagged format", bytes: record(7, old), format: binlog.FormatUnflagged,
		built: &binlog.Record{BlockNumber: 7, Format: binlog.FormatUnflagged, Tables: []binlog.Table{{
			Name: "u_ten", Fields: fields(f10),
			// Written from an entry with missing fields: the old writer puts empty values.
			New: []binlog.Entry{binlog.NewEntry(7, 0, tenVals(set("key1"), set("eight"), set("nine")))},
		}}},
		// The old format cannot tell missing from empty: every field reads as present.
		want: map[string][]map[string]string{"u_ten": {{"k": "key1", "f1": "", "f7": "", "f8": "eight", "f9": "nine"}}},
	}, {
		name: "old format written from all-present values", bytes: record(7, old), format: binlog.FormatUnflagged,
		built: &binlog.Record{BlockNumber: 7, Format: binlog.FormatUnflagged, Tables: []binlog.Table{{
			Name: "u_ten", Fields: fields(f10), New: []binlog.Entry{binlog.NewEntry(7, 0, oldVals)},
		}}},
		want: map[string][]map[string]string{"u_ten": {{"k": "key1", "f1": "", "f8": "eight"}}},
	}}
}

func TestHandBuiltRecords(t *testing.T) {
	for _, tc := range handCases() {
		t.Run(tc.name, func(t *testing.T) {
			for _, opt := range []binlog.Format{binlog.FormatAuto, tc.format} {
				r := binlog.NewReader(bytes.NewReader(file(tc.bytes)), binlog.Options{Format: opt})
				rec, err := r.Next()
				if err != nil {
					t.Fatalf("read with format %v: %v", opt, err)
				}
				if rec.Format != tc.format {
					t.Errorf("read with %v: format %v, want %v", opt, rec.Format, tc.format)
				}
				checkValues(t, rec, tc.want)
				if _, err := r.Next(); !errors.Is(err, io.EOF) {
					t.Errorf("after the record: %v, want io.EOF", err)
				}
				again, err := binlog.AppendRecord(nil, rec)
				if err != nil || !bytes.Equal(again, tc.bytes) {
					t.Errorf("re-encoding the decoded record: %v\n got %x\nwant %x", err, again, tc.bytes)
				}
			}
			got, err := binlog.AppendRecord(nil, tc.built)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.bytes) {
				t.Errorf("encoding the built record:\n got %x\nwant %x", got, tc.bytes)
			}
		})
	}
}

func checkValues(t *testing.T, rec *binlog.Record, want map[string][]map[string]string) {
	t.Helper()
	for table, rows := range want {
		tb := rec.Table(table)
		if tb == nil {
			t.Errorf("no table %s", table)
			continue
		}
		entries := append(append([]binlog.Entry(nil), tb.Dirty...), tb.New...)
		if len(entries) != len(rows) {
			t.Errorf("%s: %d entries, want %d", table, len(entries), len(rows))
			continue
		}
		for i, row := range rows {
			for field, w := range row {
				v, ok := tb.Value(&entries[i], field)
				switch {
				case w == missing && ok:
					t.Errorf("%s entry %d: %s = %q, want missing", table, i, field, v)
				case w != missing && (!ok || string(v) != w):
					t.Errorf("%s entry %d: %s = %q (present %v), want %q", table, i, field, v, ok, w)
				}
			}
		}
	}
}

func TestDeletedRow(t *testing.T) {
	for _, tc := range handCases() {
		if tc.name != "deleted row" {
			continue
		}
		rec, err := binlog.NewReader(bytes.NewReader(file(tc.bytes)), binlog.Options{}).Next()
		if err != nil {
			t.Fatal(err)
		}
		if e := &rec.Table("u_people").Dirty[0]; e.Status != binlog.StatusDeleted || !e.Deleted() || e.ID != 100150 {
			t.Errorf("deleted row: id %d status %d", e.ID, e.Status)
		}
		if e := &rec.Table("_sys_current_state_").Dirty[0]; e.Deleted() {
			t.Error("a normal row reads as deleted")
		}
	}
}

func TestForcedWrongFormatFails(t *testing.T) {
	for _, tc := range handCases() {
		if tc.name != "old unflagged format" && tc.name != "more than 8 fields" {
			continue
		}
		wrong := binlog.FormatFlagged
		if tc.format == binlog.FormatFlagged {
			wrong = binlog.FormatUnflagged
		}
		t.Run(tc.name, func(t *testing.T) {
			_, err := binlog.NewReader(bytes.NewReader(file(tc.bytes)), binlog.Options{Format: wrong}).Next()
			var re *binlog.RecordError
			if !errors.Is(err, binlog.ErrMalformed) || !errors.As(err, &re) || re.Offset != 4 || !re.HasBlock {
				t.Fatalf("forced %v: %v, want ErrMalformed at offset 4 with the block", wrong, err)
			}
		})
	}
}

func TestTableAccessors(t *testing.T) {
	tb := binlog.Table{Name: "u_t", Fields: []string{"id", "_id_", "name", "_status_", "age", "_num_"}}
	if tb.KeyField() != "id" {
		t.Errorf("KeyField() = %q", tb.KeyField())
	}
	if got := strings.Join(tb.ValueFields(), ","); got != "id,name,age" {
		t.Errorf("ValueFields() = %s", got)
	}
	for field, want := range map[string]int{"id": 0, "name": 1, "age": 2, "_id_": -1, "_num_": -1, "nope": -1} {
		if got := tb.FieldIndex(field); got != want {
			t.Errorf("FieldIndex(%s) = %d, want %d", field, got, want)
		}
	}
	e := binlog.NewEntry(1, 0, []binlog.Value{set("k"), unset, set("")})
	if k := tb.Key(&e); string(k) != "k" {
		t.Errorf("Key() = %q", k)
	}
	if v, ok := tb.Value(&e, "name"); ok || v != nil {
		t.Errorf("missing name = %q, %v", v, ok)
	}
	if v, ok := tb.Value(&e, "age"); !ok || len(v) != 0 {
		t.Errorf("empty age = %q, %v", v, ok)
	}
	if _, ok := tb.Value(&e, "_num_"); ok {
		t.Error("_num_ reads as a value")
	}
}

func TestWriterRejectsInvalidRecords(t *testing.T) {
	fields := []string{"k", "v", "_status_", "_num_", "_id_"}
	cases := []struct {
		name string
		tb   binlog.Table
	}{
		{"table name over 255 bytes", binlog.Table{Name: strings.Repeat("t", 256), Fields: fields}},
		{"too few values", binlog.Table{Name: "t", Fields: fields, New: []binlog.Entry{{ID: 1, Values: [][]byte{[]byte("k")}}}}},
		{"bitmap and values disagree", binlog.Table{Name: "t", Fields: fields, New: []binlog.Entry{{ID: 1, Present: []byte{0x80}, Values: [][]byte{[]byte("k"), []byte("v")}}}}},
		{"field name with a comma", binlog.Table{Name: "t", Fields: []string{"k", "a,b", "_status_", "_num_", "_id_"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := binlog.AppendRecord(nil, &binlog.Record{BlockNumber: 9, Tables: []binlog.Table{tc.tb}})
			if !errors.Is(err, binlog.ErrInvalid) || !strings.Contains(err.Error(), "block 9") {
				t.Fatalf("got %v, want ErrInvalid naming block 9", err)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for s, want := range map[string]binlog.Format{"auto": binlog.FormatAuto, "flagged": binlog.FormatFlagged, "Unflagged": binlog.FormatUnflagged} {
		if got, ok := binlog.ParseFormat(s); !ok || got != want || !strings.EqualFold(got.String(), s) {
			t.Errorf("ParseFormat(%q) = %v, %v", s, got, ok)
		}
	}
	if _, ok := binlog.ParseFormat("v2"); ok {
		t.Error("ParseFormat accepted v2")
	}
}
