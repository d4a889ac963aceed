package bizgen

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/apd/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/compare"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/format"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/source"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/source/sourcetest"
)

const jobYAML = `jobs:
  - name: transfers
    source: file:///biz
    pattern: PATTERN
    options: OPTIONS
    chain: {contract: Asset, event: Transfer}
    key:
      - {business: 交易哈希, chain: tx_hash, compare: hex}
      - {business: log_index, chain: log_index, compare: numeric}
    fields:
      - {business: 金额, chain: amount, compare: numeric, scale: 2, tolerance: "0.01"}
      - {business: payer, chain: from, compare: case-insensitive}
      - {business: payee, chain: to, compare: address}
      - {business: 时间, chain: block_timestamp_ms, compare: time, format: "yyyy-MM-dd HH:mm:ss", zone: Asia/Shanghai}
      - {business: 备注, chain: memo, compare: trimmed}
    amount: 金额
    window: {zone: Asia/Shanghai}
`

func testJob(t *testing.T, pattern, options string) *job.Job {
	t.Helper()
	y := strings.Replace(strings.Replace(jobYAML, "PATTERN", pattern, 1), "OPTIONS", options, 1)
	jobs, err := job.Parse("jobs.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return &jobs[0]
}

func records(n int) []ChainRecord {
	recs := SampleRecords(n, 7)
	memos := []string{"工资", "货款 ", "退款", "Transfer 转账"}
	for i, r := range recs {
		r["memo"] = memos[i%len(memos)]
	}
	return recs
}

var plan = Plan{Changed: 3, WithinTolerance: 2, MissingInFile: 2, Extra: 2, Duplicate: 1, Malformed: 1, Seed: 42}

// TestGeneratedFileReconcilesAsExpected reconciles every generated file with an independent
// in-memory matcher over the format readers and comparators, and checks it finds exactly the
// planted outcomes and totals.
func TestGeneratedFileReconcilesAsExpected(t *testing.T) {
	for _, tc := range []struct{ pattern, options string }{
		{"t-{yyyyMMdd}.csv", "{}"},
		{"t-{yyyyMMdd}.csv", "{encoding: gbk, delimiter: ';'}"},
		{"t-{yyyyMMdd}.txt", "{}"},
		{"t-{yyyyMMdd}.txt", "{encoding: gbk}"},
		{"t-{yyyyMMdd}.json", "{}"},
		{"t-{yyyyMMdd}.json", "{encoding: gb18030}"},
		{"t-{yyyyMMdd}.jsonl", "{}"},
		{"t-{yyyyMMdd}.xlsx", "{sheet: 对账, header_row: 2}"},
	} {
		t.Run(tc.pattern+" "+tc.options, func(t *testing.T) {
			j := testJob(t, tc.pattern, tc.options)
			recs := records(40)
			var buf bytes.Buffer
			exp, err := Generate(&buf, j, recs, plan)
			if err != nil {
				t.Fatal(err)
			}
			got, totals := reconcile(t, j, recs, buf.Bytes())
			if diff := cmp.Diff(exp.Rows, got); diff != "" {
				t.Errorf("outcomes (-expected +found):\n%s", diff)
			}
			if diff := cmp.Diff(exp.ByOutcome, totals); diff != "" {
				t.Errorf("totals (-expected +found):\n%s", diff)
			}
			for o, want := range map[Outcome]int{
				Matched: 40 - 3 - 2 - 1 - 1, Mismatched: 3, MissingInBusiness: 2 + 1, MissingOnChain: 2,
				DuplicateInBusiness: 2, Malformed: 1,
			} {
				if got := exp.Count(o); got != want {
					t.Errorf("%s: %d, want %d", o, got, want)
				}
			}
			if exp.Chain.ChainRecords != 40 || exp.Business.BusinessRows != 40-2+2+1 {
				t.Errorf("sides: business %+v chain %+v", exp.Business, exp.Chain)
			}
		})
	}
}

// reconcile is a small, obviously correct matcher for the test: everything in memory.
func reconcile(t *testing.T, j *job.Job, recs []ChainRecord, data []byte) ([]Expectation, map[Outcome]*Totals) {
	t.Helper()
	r, err := format.NewReader(bytes.NewReader(data), "gen", format.OptionsOf(j))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	keys, fields := j.KeyComparators(), j.FieldComparators()
	type bizRow struct {
		line   int
		key    string
		keys   []string
		values map[string]string
		bad    bool
	}
	var rows []bizRow
	count := make(map[string]int)
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if re, ok := errors.AsType[*format.RowError](err); ok {
			rows = append(rows, bizRow{line: re.Line, bad: true})
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		br := bizRow{line: rec.Line, values: make(map[string]string)}
		for i, m := range j.Key {
			v, _ := rec.Get(m.Business)
			c, err := keys[i].Business(v)
			if err != nil {
				t.Fatalf("line %d key: %v", rec.Line, err)
			}
			br.keys = append(br.keys, c)
		}
		for _, f := range j.Fields {
			br.values[f.Business], _ = rec.Get(f.Business)
		}
		br.key = strings.Join(br.keys, "|")
		count[br.key]++
		rows = append(rows, br)
	}
	chain := make(map[string]ChainRecord)
	chainKeys := make([]string, len(recs))
	chainKeyParts := make([][]string, len(recs))
	for i, rec := range recs {
		var parts []string
		for k, m := range j.Key {
			c, _ := keys[k].Chain(rec[m.Chain])
			parts = append(parts, c)
		}
		chainKeys[i], chainKeyParts[i] = strings.Join(parts, "|"), parts
		chain[chainKeys[i]] = rec
	}
	totals := make(map[Outcome]*Totals)
	sums := make(map[Outcome]*[2]apd.Decimal)
	for _, o := range Outcomes {
		totals[o] = &Totals{}
		sums[o] = new([2]apd.Decimal)
	}
	addAmount := func(o Outcome, side int, canonical string) {
		d, err := compare.ParseDecimal(canonical)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := apd.BaseContext.Add(&sums[o][side], &sums[o][side], d); err != nil {
			t.Fatal(err)
		}
	}
	amountField := 0
	var out []Expectation
	seenKey := make(map[string]bool)
	for _, br := range rows {
		if br.bad {
			out = append(out, Expectation{Outcome: Malformed, Line: br.line})
			totals[Malformed].BusinessRows++
			continue
		}
		e := Expectation{Key: br.keys, Line: br.line}
		rec, onChain := chain[br.key]
		switch {
		case count[br.key] > 1:
			e.Outcome = DuplicateInBusiness
		case !onChain:
			e.Outcome = MissingOnChain
		default:
			e.Outcome = Matched
			for i, f := range j.Fields {
				if res := fields[i].Compare(br.values[f.Business], rec[f.Chain]); !res.Equal {
					e.Outcome = Mismatched
					e.Fields = append(e.Fields, f.Business)
				}
			}
		}
		totals[e.Outcome].BusinessRows++
		b, _ := fields[amountField].Business(br.values[j.Amount])
		addAmount(e.Outcome, 0, b)
		if onChain && !seenKey[br.key] {
			seenKey[br.key] = true
			totals[e.Outcome].ChainRecords++
			addAmount(e.Outcome, 1, rec["amount"])
		}
		out = append(out, e)
	}
	for i, k := range chainKeys {
		if count[k] == 0 {
			out = append(out, Expectation{Outcome: MissingInBusiness, Key: chainKeyParts[i]})
			totals[MissingInBusiness].ChainRecords++
			addAmount(MissingInBusiness, 1, recs[i]["amount"])
		}
	}
	for _, o := range Outcomes {
		totals[o].BusinessAmount, totals[o].ChainAmount = text(&sums[o][0]), text(&sums[o][1])
	}
	return out, totals
}

func TestGenerateIsDeterministic(t *testing.T) {
	j := testJob(t, "t.csv", "{}")
	var a, b bytes.Buffer
	if _, err := Generate(&a, j, records(20), plan); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(&b, j, records(20), plan); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("same seed, different files")
	}
}

func TestGenerateRefuses(t *testing.T) {
	j := testJob(t, "t.csv", "{}")
	for _, tc := range []struct {
		j    *job.Job
		recs []ChainRecord
		plan Plan
		want string
	}{
		{j, records(3), Plan{Changed: 2, Duplicate: 2}, "the plan changes 4 records, there are 3"},
		{j, nil, Plan{Extra: 1}, "extra rows are made from a record"},
		{j, records(3), Plan{Malformed: -1}, "a negative count"},
		{&job.Job{Name: "x"}, records(3), Plan{}, "has not passed Validate"},
		{j, []ChainRecord{{"tx_hash": "0x01"}}, Plan{}, `no chain field "log_index"`},
	} {
		_, err := Generate(io.Discard, tc.j, tc.recs, tc.plan)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Generate: %v, want %q", err, tc.want)
		}
	}
	noTol, err := job.Parse("j.yaml", []byte(`jobs:
  - name: t
    source: file:///biz
    pattern: t.csv
    chain: {contract: A, event: E}
    key: [{business: id, chain: tx_hash}]
    fields: [{business: amount, chain: amount, compare: numeric}]
    amount: amount
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(io.Discard, &noTol[0], records(3), Plan{WithinTolerance: 1}); err == nil || !strings.Contains(err.Error(), "without a tolerance") {
		t.Errorf("within tolerance without one: %v", err)
	}
}

// TestEverySourceKind puts a generated file of every format on every kind of source, opens it
// back through source and reconciles it: the layers under the run fit together.
func TestEverySourceKind(t *testing.T) {
	dir := t.TempDir()
	sftpServer := sourcetest.StartSFTP(t)
	ftpServer := sourcetest.StartFTP(t, t.TempDir())
	s3 := sourcetest.StartS3(t, "biz")
	httpDir := t.TempDir()
	httpBase := sourcetest.StartHTTP(t, httpDir)
	kinds := []struct {
		name string
		dir  string
		cfg  source.Config
	}{
		{"file", "file://" + dir, source.Config{}},
		{"sftp", sftpServer.URI(dir + "/sftp"), sftpServer.Config()},
		{"ftp", ftpServer.URI("in"), ftpServer.Config()},
		{"s3", s3.URI("biz", "in"), s3.Config()},
		{"http", httpBase, source.Config{}},
	}
	for _, pattern := range []string{"t-{yyyyMMdd}.csv", "t-{yyyyMMdd}.txt", "t-{yyyyMMdd}.json", "t-{yyyyMMdd}.jsonl", "t-{yyyyMMdd}.xlsx"} {
		for _, k := range kinds {
			t.Run(k.name+" "+pattern, func(t *testing.T) {
				j := testJob(t, pattern, "{}")
				j.Source = k.dir
				tg, err := j.Resolve("2025-12-05")
				if err != nil {
					t.Fatal(err)
				}
				recs := records(30)
				var buf bytes.Buffer
				exp, err := Generate(&buf, j, recs, plan)
				if err != nil {
					t.Fatal(err)
				}
				c := source.New(k.cfg)
				if k.name == "http" {
					if err := os.WriteFile(filepath.Join(httpDir, tg.Name), buf.Bytes(), 0o600); err != nil {
						t.Fatal(err)
					}
				} else if err := c.Put(t.Context(), tg.URI, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
					t.Fatal(err)
				}
				f, err := c.Open(t.Context(), tg.URI)
				if err != nil {
					t.Fatal(err)
				}
				data, err := io.ReadAll(f)
				_ = f.Close()
				if err != nil {
					t.Fatal(err)
				}
				got, totals := reconcile(t, j, recs, data)
				if diff := cmp.Diff(exp.Rows, got); diff != "" {
					t.Errorf("outcomes (-expected +found):\n%s", diff)
				}
				if diff := cmp.Diff(exp.ByOutcome, totals); diff != "" {
					t.Errorf("totals (-expected +found):\n%s", diff)
				}
			})
		}
	}
}
