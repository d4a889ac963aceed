package job

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/compare"
)

func TestLoadIssueExample(t *testing.T) {
	jobs, err := Load("testdata/jobs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 {
		t.Fatalf("%d jobs", len(jobs))
	}
	j := jobs[0]
	if j.Name != "transfers" || j.Line != 3 || j.Format != FormatCSV || j.Options.Delimiter != "," || !*j.Options.Header ||
		j.Options.Encoding != EncodingUTF8 || j.Match != MatchOneToOne || *j.Errors.MaxRows != 10 ||
		j.Window.Grace != 10*time.Minute || j.Window.Wait != DefaultChainWait || j.Timeout != DefaultTimeout ||
		*j.Retries.Max != DefaultRetries || *j.DaysBack != 1 {
		t.Errorf("job 0 = %+v", j)
	}
	if got := j.Columns(); !cmp.Equal(got, []string{"tx_hash", "amount", "payer"}) {
		t.Errorf("columns %v", got)
	}
	if k := j.KeyComparators(); len(k) != 1 || k[0].Spec().Kind != compare.Exact {
		t.Errorf("key comparators %v", k)
	}
	if f := j.FieldComparators(); len(f) != 2 || f[1].Spec().Kind != compare.CaseInsensitive {
		t.Errorf("field comparators %v", f)
	}

	g := jobs[1]
	if g.Format != FormatTXT || g.Options.Delimiter != "#_#" || g.Options.Encoding != EncodingGBK ||
		g.Match != MatchManyToOne || *g.Errors.MaxShare != 0.01 || g.Retries.Backoff != 30*time.Second ||
		!cmp.Equal([]string(g.Chain.Filters["address"]), []string{"0x01", "0x02"}) ||
		!cmp.Equal([]string(g.Chain.Filters["from"]), []string{"0x00000000000000000000000000000000000000aa"}) {
		t.Errorf("job 1 = %+v", g)
	}
	tg, err := g.Resolve("2025-12-05")
	if err != nil {
		t.Fatal(err)
	}
	if tg.Name != "2025/12/交易_2025-12-05.txt" {
		t.Errorf("name %q", tg.Name)
	}
	if tg.URI != "sftp://recon@127.0.0.1:2222/out/2025/12/%E4%BA%A4%E6%98%93_2025-12-05.txt" {
		t.Errorf("uri %q", tg.URI)
	}
}

func TestResolve(t *testing.T) {
	jobs, err := Load("testdata/jobs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tg, err := jobs[0].Resolve("2025-12-05")
	if err != nil {
		t.Fatal(err)
	}
	want := Target{
		Date: "2025-12-05", Name: "transfers-20251205.csv", URI: "file:///data/biz/transfers-20251205.csv",
		StartMs: 1764864000000,              // 2025-12-05 00:00 +08:00
		EndMs:   1764950400000 + 10*60*1000, // 2025-12-06 00:10 +08:00
	}
	if diff := cmp.Diff(want, tg, cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".Start" || p.Last().String() == ".End"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("Resolve (-want +got):\n%s", diff)
	}
	if tg.Start.UnixMilli() != tg.StartMs || tg.End.UnixMilli() != tg.EndMs {
		t.Errorf("Start/End %v %v disagree with ms", tg.Start, tg.End)
	}
	for _, bad := range []string{"20251205", "2025-13-01", ""} {
		if _, err := jobs[0].Resolve(bad); err == nil || !strings.Contains(err.Error(), "want YYYY-MM-DD") {
			t.Errorf("Resolve(%q) = %v", bad, err)
		}
	}
}

func TestScheduleAndBusinessDate(t *testing.T) {
	jobs, err := Load("testdata/jobs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	s, err := jobs[0].CronSchedule()
	if err != nil {
		t.Fatal(err)
	}
	// 02:00 in Shanghai, the window's zone.
	next := s.Next(time.Date(2025, 12, 5, 12, 0, 0, 0, sh))
	if want := time.Date(2025, 12, 6, 2, 0, 0, 0, sh); !next.Equal(want) {
		t.Errorf("next = %v, want %v", next, want)
	}
	if d := jobs[0].BusinessDate(next); d != "2025-12-05" {
		t.Errorf("business date %s", d)
	}
	// Six fields with seconds and "?", in UTC by CRON_TZ.
	s, err = jobs[1].CronSchedule()
	if err != nil {
		t.Fatal(err)
	}
	next = s.Next(time.Date(2025, 12, 5, 12, 0, 0, 0, time.UTC))
	if want := time.Date(2025, 12, 6, 1, 0, 0, 0, time.UTC); !next.Equal(want) {
		t.Errorf("next = %v, want %v", next, want)
	}
	if d := jobs[1].BusinessDate(next); d != "2025-12-04" { // 09:00 in Shanghai, two days back
		t.Errorf("business date %s", d)
	}
}

const good = `jobs:
  - name: t
    source: file:///biz
    pattern: t-{yyyyMMdd}.csv
    chain: {contract: Asset, event: Transfer}
    key: [{business: id, chain: tx_hash}]
    fields: [{business: amount, chain: amount, compare: numeric}]
`

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top key", good + "bogus: 1\n", []string{"jobs.yaml: line 8: unknown key bogus"}},
		{"unknown job key", strings.Replace(good, "pattern:", "patern: x\n    pattern:", 1), []string{"jobs.yaml: line 4: unknown key patern"}},
		{"unknown field key", strings.Replace(good, "compare: numeric", "compare: numeric, tolerace: \"1\"", 1), []string{"line 7: unknown key tolerace"}},
		{"bad duration", strings.Replace(good, "key:", "timeout: soon\n    key:", 1), []string{"line 6:", "as a duration"}},
		{"sensitive tolerance", strings.Replace(good, "compare: numeric}", "compare: numeric, tolerance: \"1\", sensitive: true}", 1),
			[]string{"fields[0] (amount): sensitive, but compare numeric is not plain equality"}},
		{"sensitive amount", strings.Replace(good, "compare: numeric}]", "compare: numeric, sensitive: true}]\n    amount: amount", 1),
			[]string{"fields[0] (amount): sensitive, but it is the amount"}},
		{"not yaml", "jobs: [", []string{"jobs.yaml: "}},
		{"empty", "", []string{"jobs.yaml: empty file"}},
		{"no jobs", "jobs: []\n", []string{"jobs.yaml: no jobs"}},
		{"duplicate name", good + strings.TrimPrefix(good, "jobs:\n"), []string{`jobs.yaml:8: job "t": name already used at line 2`}},
		{"missing everything", "jobs:\n  - name: x\n", []string{
			`jobs.yaml:2: job "x": source: missing`,
			`job "x": pattern: missing`,
			`job "x": format: missing`,
			`job "x": chain.contract: missing`,
			`job "x": chain: want exactly one of event and method`,
			`job "x": key: missing`,
		}},
		{"bad values", `jobs:
  - name: "bad name!"
    source: gopher://x/y
    results: https://x/out
    webhook: ftp://x/hook
    pattern: t-{yyyyQQ}.csv
    format: csv
    options: {delimiter: "||", sheet: s, encoding: latin1}
    chain: {contract: A, event: E, method: m}
    key: [{business: amount, chain: amount, compare: numeric, scale: 2}, {business: t, chain: ts, compare: enum}]
    fields:
      - {business: amount, chain: amount, compare: fuzzy}
      - {business: payer, chain: from, compare: exact, tolerance: "1"}
    amount: payer
    match: many-to-many
    window: {zone: Mars/Olympus, grace: 48h}
    errors: {max_rows: 1, max_share: 2}
    schedule: "every day"
    retries: {max: -1}
`, []string{
			`name: "bad name!": want letters`,
			`source: "gopher://x/y": scheme "gopher"`,
			`results: "https://x/out": scheme "https"`,
			`webhook: "ftp://x/hook": scheme "ftp", want one of http, https`,
			`pattern: placeholder {yyyyQQ}`,
			`options: sheet and header_row apply to xlsx only`,
			`options.delimiter: "||": csv wants one character`,
			`options.encoding: "latin1"`,
			`chain: want exactly one of event and method`,
			`key[1] (t): bad comparator: compare enum needs a map`,
			`fields[0] (amount): business column "amount" already used in key[0] (amount)`,
			`fields[0] (amount): bad comparator: unknown compare "fuzzy"`,
			`fields[1] (payer): bad comparator: tolerance does not apply to compare exact`,
			`amount: "payer" is compared exact`,
			`match: "many-to-many"`,
			`window.zone: "Mars/Olympus"`,
			`window.grace: 48h0m0s: want 0 to 24h`,
			`errors: max_rows or max_share, not both`,
			`errors.max_share: 2: want a fraction`,
			`schedule: "every day"`,
			`retries.max: -1`,
		}},
		{"password in uri", strings.Replace(good, "file:///biz", "sftp://u:secret@h/d", 1), []string{`source: "sftp://u@h/d": a password in the URI`}},
		{"xlsx options", strings.Replace(good, "t-{yyyyMMdd}.csv", "t.xlsx\n    options: {header: false, encoding: gbk}", 1), []string{"xlsx takes sheet and header_row", `options.encoding: "gbk": xlsx text is always Unicode`}},
		{"no header no columns", strings.Replace(good, "t-{yyyyMMdd}.csv", "t.csv\n    options: {header: false}", 1), []string{"options.columns: missing"}},
		{"amount not a field", strings.Replace(good, "fields:", "amount: fee\n    fields:", 1), []string{`amount: "fee" is not one of fields`}},
		{"amount is key", strings.Replace(good, "fields:", "amount: id\n    fields:", 1), []string{`amount: "id" is a key column`}},
		{"aggregate without amount", strings.Replace(good, "fields:", "match: one-to-many\n    fields:", 1), []string{"match: one-to-many adds amounts up"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("jobs.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestValidateErrorsAreInvalid(t *testing.T) {
	j := Job{Name: "x"}
	err := j.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("%v is not ErrInvalid", err)
	}
	if strings.Contains(err.Error(), ".yaml") {
		t.Errorf("a job not from a file names a file: %v", err)
	}
}

func TestBudget(t *testing.T) {
	ten, share := 2, 0.1
	for _, tc := range []struct {
		b          Budget
		bad, total int
		want       bool
	}{
		{Budget{}, 0, 100, true},
		{Budget{}, 1, 100, false},
		{Budget{MaxRows: &ten}, 2, 3, true},
		{Budget{MaxRows: &ten}, 3, 1000, false},
		{Budget{MaxShare: &share}, 10, 100, true},
		{Budget{MaxShare: &share}, 11, 100, false},
		{Budget{MaxShare: &share}, 0, 0, true},
	} {
		if got := tc.b.Allows(tc.bad, tc.total); got != tc.want {
			t.Errorf("%+v Allows(%d, %d) = %v", tc.b, tc.bad, tc.total, got)
		}
	}
}

func TestExpand(t *testing.T) {
	day := time.Date(2025, 1, 5, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"t-{yyyyMMdd}.csv":             "t-20250105.csv",
		"{yyyy-MM-dd}":                 "2025-01-05",
		"company_{yyyy-MM-dd}.txt":     "company_2025-01-05.txt",
		"fixed.csv":                    "fixed.csv",
		"{yy}{M}{d}-{yyyy'年'M'月'd'日'}": "2515-2025年1月5日",
	} {
		got, err := expand(in, day)
		if err != nil || got != want {
			t.Errorf("expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"t-{yyyyMMdd.csv", "t-}x{yyyy}", "{}"} {
		if _, err := expand(bad, day); err == nil {
			t.Errorf("expand(%q) accepted", bad)
		}
	}
	if _, err := JoinURI("file:///biz", "../etc/passwd"); err == nil {
		t.Error("JoinURI let a name climb out of the source")
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load("testdata/none.yaml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load missing = %v", err)
	}
}

func TestTimeFieldZoneDefaultsToWindow(t *testing.T) {
	y := strings.Replace(good, "fields: [", "window: {zone: Asia/Shanghai}\n    fields: [{business: t, chain: block_timestamp_ms, compare: time, format: yyyyMMdd}, ", 1)
	jobs, err := Parse("jobs.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if z := jobs[0].FieldComparators()[0].Spec().Zone; z != "Asia/Shanghai" {
		t.Errorf("time field zone %q, want the window's", z)
	}
	// 2025-12-05 00:00 in Shanghai is 2025-12-04 16:00 UTC.
	if r := jobs[0].FieldComparators()[0].Compare("20251205", "1764864000000"); !r.Equal {
		t.Error(r.Diff)
	}
}

func TestSensitive(t *testing.T) {
	jobs, err := Parse("jobs.yaml", []byte(strings.Replace(good, "chain: tx_hash}", "chain: tx_hash, sensitive: true}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !jobs[0].Sensitive() || !jobs[0].Key[0].Sensitive {
		t.Errorf("a sensitive key is not marked: %+v", jobs[0].Key)
	}
	plain, err := Parse("jobs.yaml", []byte(good))
	if err != nil || plain[0].Sensitive() {
		t.Errorf("a job without sensitive fields: %v %v", plain[0].Sensitive(), err)
	}
}
