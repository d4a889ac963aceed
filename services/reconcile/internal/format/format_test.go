package format

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"

	"github.com/bcosdata/bcosdata/libs/fault"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var goldenHeader = []string{"流水号", "金额", "付款方", "备注"}

var goldenRows = [][]string{
	{"0xAB01", "100.00", "张三", "工资"},
	{"0xab02", "-0.5", "李四 Li Si", "含,逗号"},
	{"0xab03", "18446744073709551617", "王五", `引号"在中间"`},
	{"0xab04", "1,234.56", "", "  前后空格  "},
	{"0xab05", "0", "赵六", ""},
}

// goldenCases are the formats and encodings whose bytes are stable enough to keep.
var goldenCases = []struct {
	name string
	o    Options
}{
	{"transfers.csv", Options{Format: job.FormatCSV}},
	{"transfers-gbk.csv", Options{Format: job.FormatCSV, Encoding: job.EncodingGBK}},
	{"transfers-semicolon.csv", Options{Format: job.FormatCSV, Delimiter: ";"}},
	{"transfers.txt", Options{Format: job.FormatTXT}},
	{"transfers-gbk.txt", Options{Format: job.FormatTXT, Encoding: job.EncodingGBK}},
	{"transfers-gb18030.txt", Options{Format: job.FormatTXT, Encoding: job.EncodingGB18030}},
	{"transfers.json", Options{Format: job.FormatJSON}},
	{"transfers-gbk.json", Options{Format: job.FormatJSON, Encoding: job.EncodingGBK}},
	{"transfers.jsonl", Options{Format: job.FormatJSONL}},
	{"transfers-gbk.jsonl", Options{Format: job.FormatJSONL, Encoding: job.EncodingGBK}},
}

func writeAll(t *testing.T, o Options, header []string, rows [][]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, o, header)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// step is one outcome of Next, as text: "line 2: a=1 b=2" or the row error.
func readAll(t testing.TB, data []byte, file string, o Options) ([]string, error) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data), file, o)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []string
	for range 10000 {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if re, ok := errors.AsType[*RowError](err); ok {
			out = append(out, "error "+re.Error())
			continue
		}
		if err != nil {
			return out, err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "line %d:", rec.Line)
		for i, n := range rec.Names {
			fmt.Fprintf(&b, " %s=%s", n, rec.Values[i])
		}
		out = append(out, b.String())
	}
	t.Fatal("reader does not end")
	return nil, nil
}

func TestGoldenRoundTrip(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			data := writeAll(t, tc.o, goldenHeader, goldenRows)
			golden := filepath.Join("testdata", "golden", tc.name)
			if *update {
				if err := os.WriteFile(golden, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(data, want) {
				t.Errorf("written bytes differ from %s:\n%q\nwant\n%q", golden, data, want)
			}
			checkRoundTrip(t, want, tc.name, tc.o)
		})
	}
	t.Run("transfers.xlsx", func(t *testing.T) {
		o := Options{Format: job.FormatXLSX, Sheet: "对账", HeaderRow: 3}
		checkRoundTrip(t, writeAll(t, o, goldenHeader, goldenRows), "transfers.xlsx", o)
	})
}

func checkRoundTrip(t *testing.T, data []byte, name string, o Options) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data), name, o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if h := r.Header(); h != nil && !cmp.Equal(h, goldenHeader) {
		t.Errorf("header %q", h)
	}
	var got [][]string
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(goldenHeader))
		for i, n := range goldenHeader {
			row[i], _ = rec.Get(n)
		}
		got = append(got, row)
	}
	if diff := cmp.Diff(goldenRows, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
}

func TestMalformed(t *testing.T) {
	gbkBad := append([]byte("a,b\n1,\xd5\xc5\n2,\xff\xfe\n3,"), []byte("ok\n")...)
	for _, tc := range []struct {
		name string
		o    Options
		in   string
		want []string
	}{
		{"csv bom crlf quotes", Options{}, "\xEF\xBB\xBFid,note\r\n1,\"a,b\"\r\n2,\"multi\r\nline\"\r\n\r\n3,\"q\"\"q\"\r\n", []string{
			"line 2: id=1 note=a,b", "line 3: id=2 note=multi\nline", `line 6: id=3 note=q"q`}},
		{"csv wrong counts", Options{}, "id,amount,note\n1,2,3\n1,2\n1,2,3,4\n9,9,9\n", []string{
			"line 2: id=1 amount=2 note=3",
			"error f.csv:3:3 (note): 2 fields, the header has 3",
			"error f.csv:4:4: 4 fields, the header has 3",
			"line 5: id=9 amount=9 note=9"}},
		{"csv bare quote", Options{}, "id,note\n1,a\"b\n2,ok\n", []string{
			`error f.csv:2:4: bare " in non-quoted-field`, "line 3: id=2 note=ok"}},
		{"csv bad utf-8", Options{}, "id,note\n1,\xff\n2,ok\n", []string{
			"error f.csv:2:2 (note): invalid UTF-8", "line 3: id=2 note=ok"}},
		{"csv gbk bad bytes", Options{Encoding: job.EncodingGBK}, string(gbkBad), []string{
			"line 2: a=1 b=张", "error f.csv:3:2 (b): bytes not valid in the file's encoding (U+FFFD)", "line 4: a=3 b=ok"}},
		{"csv no header", Options{NoHeader: true, Columns: []string{"x", "y"}}, "1,2\n", []string{"line 1: x=1 y=2"}},
		{"txt trailing delimiter and blank lines", Options{Format: job.FormatTXT}, "id#_#amount#_#\n\n1#_#2#_#\r\n3#_#4\n5#_#\n5\n6#_#7#_#8\n", []string{
			"line 3: id=1 amount=2", "line 4: id=3 amount=4", "line 5: id=5 amount=",
			"error f.csv:6:2 (amount): 1 fields, the header has 2",
			"error f.csv:7:3: 3 fields, the header has 2"}},
		{"txt custom delimiter", Options{Format: job.FormatTXT, Delimiter: "|"}, "a|b\n1|2", []string{"line 2: a=1 b=2"}},
		{"json", Options{Format: job.FormatJSON}, "[\n{\"id\":\"1\",\"amount\":12.50,\"ok\":true,\"n\":null},\n 42,\n{\"id\":{\"x\":1}},\n[1,2],\n{\"id\":\"2\",\"id\":\"3\"},\n\n  {\"id\":\"4\"}\n]\n", []string{
			"line 2: id=1 amount=12.50 ok=true",
			"error f.csv:3: a number, not an object",
			`error f.csv:4:1 (id): "id" is nested; want a flat object of texts and numbers`,
			"error f.csv:5: an array, not an object",
			`error f.csv:6:2 (id): key "id" twice`,
			"line 8: id=4"}},
		{"jsonl", Options{Format: job.FormatJSONL}, "{\"id\":\"1\"}\n{\"id\":\n\n{\"id\":\"2\"} {}\n\"x\"\n{\"id\":\"3\"}", []string{
			"line 1: id=1",
			"error f.csv:2:7: the JSON object ends early",
			"error f.csv:4:12: more than one JSON value on the line",
			"error f.csv:5: a string, not an object",
			"line 6: id=3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, []byte(tc.in), "f.csv", tc.o)
			if err != nil {
				t.Fatalf("%v (after %q)", err, got)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFatal(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		in   string
		want string
	}{
		{"csv empty", Options{}, "", "f: empty: no header line"},
		{"csv duplicate header", Options{}, "a,b,a\n", `f:1:3: header names column "a" twice (columns 1 and 3)`},
		{"csv bad delimiter", Options{Delimiter: "ab"}, "a\n", `csv delimiter "ab"`},
		{"txt empty", Options{Format: job.FormatTXT}, "\n\n", "f: empty: no header line"},
		{"json not array", Options{Format: job.FormatJSON}, "\n {\"a\":1}", "f:2:2: want a JSON array of objects"},
		{"json syntax", Options{Format: job.FormatJSON}, "[\n{\"a\":1},\n{\"a\" 1}]", "f:3:6: invalid character '1' after object key"},
		{"json truncated", Options{Format: job.FormatJSON}, "[\n{\"a\":1},\n{\"a\":", "f:3:6: the JSON array ends early"},
		{"json trailing", Options{Format: job.FormatJSON}, "[{\"a\":\"1\"}]\n[]", "f:2:1: data after the JSON array"},
		{"json empty", Options{Format: job.FormatJSON}, " ", "f: empty"},
		{"xlsx not a zip", Options{Format: job.FormatXLSX}, "id,amount\n", "f: not an xlsx workbook"},
		{"bad encoding", Options{Encoding: "latin1"}, "a\n", `encoding "latin1"`},
		{"bad format", Options{Format: "xml"}, "a\n", `format "xml"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(t, []byte(tc.in), "f", tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if !errors.Is(err, ErrFormat) || !fault.IsPermanent(err) {
				t.Errorf("%v is not a permanent ErrFormat", err)
			}
		})
	}
}

func TestXLSX(t *testing.T) {
	f := excelize.NewFile()
	if err := f.SetSheetName("Sheet1", "说明"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.NewSheet("数据"); err != nil {
		t.Fatal(err)
	}
	set := func(cell string, v any) {
		if err := f.SetCellValue("数据", cell, v); err != nil {
			t.Fatal(err)
		}
	}
	set("A1", "某公司对账单") // a title above the header
	set("A2", "流水号")
	set("B2", "金额")
	set("A3", "t1")
	set("B3", "12.50")
	set("A5", "t2") // row 4 left empty
	set("B5", 7)
	set("A6", "t3") // B6 empty: short row
	set("A7", "t4")
	set("C7", "stray")
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, buf.Bytes(), "b.xlsx", Options{Format: job.FormatXLSX, Sheet: "数据", HeaderRow: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"line 3: 流水号=t1 金额=12.50",
		"line 5: 流水号=t2 金额=7",
		"line 6: 流水号=t3 金额=",
		`error b.xlsx[数据]:7:3: cell C7 holds "stray" beyond the header's 2 columns`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := readAll(t, buf.Bytes(), "b.xlsx", Options{Format: job.FormatXLSX, Sheet: "Sheet9"}); err == nil ||
		!strings.Contains(err.Error(), `no sheet "Sheet9" (the workbook has 说明, 数据)`) {
		t.Errorf("missing sheet: %v", err)
	}
	if _, err := readAll(t, buf.Bytes(), "b.xlsx", Options{Format: job.FormatXLSX}); err == nil ||
		!strings.Contains(err.Error(), "b.xlsx[说明]: no header row 1") {
		t.Errorf("empty first sheet: %v", err)
	}
}

func TestOptionsOf(t *testing.T) {
	jobs, err := job.Parse("j.yaml", []byte(`jobs:
  - name: t
    source: file:///biz
    pattern: t.txt
    options: {header: false, columns: [a, b], encoding: GBK, delimiter: "|"}
    chain: {contract: A, event: E}
    key: [{business: a, chain: tx_hash}]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Options{Format: job.FormatTXT, Delimiter: "|", NoHeader: true, Columns: []string{"a", "b"}, Encoding: job.EncodingGBK}
	if diff := cmp.Diff(want, OptionsOf(&jobs[0])); diff != "" {
		t.Error(diff)
	}
}

// fuzzRead reads everything and checks the reader's promises: it ends, errors are row errors
// or permanent format errors, and records have a value per name.
func fuzzRead(t *testing.T, data []byte, o Options) {
	r, err := NewReader(bytes.NewReader(data), "f", o)
	if err != nil {
		if !errors.Is(err, ErrFormat) {
			t.Fatalf("NewReader: %v is not ErrFormat", err)
		}
		return
	}
	defer r.Close()
	for range len(data) + 2 {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if _, ok := errors.AsType[*RowError](err); ok {
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("Next: %v is neither a row error nor ErrFormat", err)
			}
			return
		}
		if len(rec.Names) != len(rec.Values) || rec.Line < 1 {
			t.Fatalf("record %+v", rec)
		}
	}
	t.Fatal("more records than bytes")
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("id,note\r\n1,\"a,b\"\n2,x\"y\n3\n"))
	f.Add([]byte("\xEF\xBB\xBFa;b\n\"unterminated"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, Options{}) })
}

func FuzzTXT(f *testing.F) {
	f.Add([]byte("id#_#amount#_#\n1#_#2#_#\n3\n"))
	f.Add([]byte("a#_#b\r\n\xd5\xc5#_#\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRead(t, data, Options{Format: job.FormatTXT, Encoding: job.EncodingGBK})
	})
}

func FuzzJSON(f *testing.F) {
	f.Add([]byte(`[{"a":"1","b":2},{"a":{"x":[1]}},3,[],{"a":null}]`))
	f.Add([]byte("[\n{\"a\":\"\xff\"},\n{\"a\" 1}"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, Options{Format: job.FormatJSON}) })
}

func FuzzJSONL(f *testing.F) {
	f.Add([]byte("{\"a\":\"1\"}\n{\"a\":\n[1]\n{} {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, Options{Format: job.FormatJSONL}) })
}

func TestRecordErrorAt(t *testing.T) {
	rec := Record{Line: 7, Names: []string{"id", "金额"}, Values: []string{"1", "x"}}
	got := rec.ErrorAt("t.csv", "金额", `numeric value "x": not a decimal number`).Error()
	if want := `t.csv:7:2 (金额): numeric value "x": not a decimal number`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
