package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest/observer"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/bizgen"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const jobYAML = `jobs:
  - name: transfers
    source: SOURCE
    pattern: t-{yyyyMMdd}.csv
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
    window: {zone: Asia/Shanghai, wait: 1s}
    errors: BUDGET
    retries: {max: 1, backoff: 10ms}
`

func testJob(t testing.TB, dir, budget string) *job.Job {
	t.Helper()
	y := strings.NewReplacer("SOURCE", "file://"+dir, "BUDGET", budget).Replace(jobYAML)
	jobs, err := job.Parse("jobs.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return &jobs[0]
}

// Records returns chain records for a test, with memos.
func records(n int) []bizgen.ChainRecord {
	recs := bizgen.SampleRecords(n, 7)
	memos := []string{"工资", "货款 ", "退款", "Transfer 转账"}
	for i, r := range recs {
		r["memo"] = memos[i%len(memos)]
	}
	return recs
}

// storeRecords writes chain records as decoded Transfer events.
func storeRecords(t *testing.T, st *store.Store, recs []bizgen.ChainRecord) {
	t.Helper()
	var out []store.Record
	for _, r := range recs {
		out = append(out, transferRecord(r))
	}
	tx, err := st.Pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.WriteRecords(t.Context(), tx, out); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// transferRecord is a chain record as the decoded Transfer event the consumer stores.
func transferRecord(r bizgen.ChainRecord) store.Record {
	li, _ := strconv.Atoi(r["log_index"])
	bn, _ := strconv.ParseUint(r["block_number"], 10, 64)
	ts, _ := strconv.ParseUint(r["block_timestamp_ms"], 10, 64)
	return store.Record{TxHash: r["tx_hash"], LogIndex: int32(li), Kind: "event", ContractName: "Asset",
		ContractAddress: "0x00000000000000000000000000000000000000aa", Name: "Transfer", Signature: "Transfer(address,address,uint256,string)",
		BlockNumber: bn, BlockTimestampMs: ts, Params: map[string]string{"from": r["from"], "to": r["to"], "amount": r["amount"], "memo": r["memo"]}}
}

type fixture struct {
	st     *store.Store
	runner *Runner
	dir    string
	j      *job.Job
	logs   *observer.ObservedLogs // the runner's log lines, where a fixture keeps them
}

func newFixture(t *testing.T, budget string) *fixture {
	t.Helper()
	st, err := store.Open(t.Context(), pgtest.NewPool(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := &fixture{st: st, dir: dir, j: testJob(t, dir, budget)}
	f.runner = New(Config{Store: st, Poll: 10 * time.Millisecond, Job: f.jobFunc(),
		CaughtUp: func(context.Context) (bool, error) { return true, nil }})
	return f
}

func (f *fixture) jobFunc() func(context.Context, string) (*job.Job, error) {
	return func(_ context.Context, name string) (*job.Job, error) {
		if name != f.j.Name {
			return nil, errors.New("no such job")
		}
		return f.j, nil
	}
}

func pgtestPool(tb testing.TB) *pgxpool.Pool { return pgtest.NewPool(tb) }

func (f *fixture) start(t testing.TB) context.CancelFunc {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.runner.Run(ctx) }()
	return func() { cancel(); <-done }
}

// succeeds triggers a run of the job for the business date and waits until it has
// succeeded.
func (f *fixture) succeeds(t *testing.T, date string) *store.Run {
	t.Helper()
	r, err := f.runner.Trigger(t.Context(), f.j.Name, date, "")
	if err != nil {
		t.Fatal(err)
	}
	got := waitRun(t, f.st, r.ID)
	if got.State != store.StateSucceeded {
		t.Fatalf("run: %s %s", got.State, got.Error)
	}
	return got
}

func (f *fixture) generate(t *testing.T, recs []bizgen.ChainRecord, plan bizgen.Plan) *bizgen.Expected {
	t.Helper()
	var buf bytes.Buffer
	exp, err := bizgen.Generate(&buf, f.j, recs, plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "t-20251205.csv"), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return exp
}

func waitRun(t testing.TB, st *store.Store, id int64) *store.Run {
	t.Helper()
	return waitRunWithin(t, st, id, time.Minute)
}

func waitRunWithin(t testing.TB, st *store.Store, id int64, within time.Duration) *store.Run {
	t.Helper()
	var r *store.Run
	// A fixed, short interval: the benchmark times runs by when this returns.
	err := await.UntilEvery(t.Context(), within, 20*time.Millisecond, func() error {
		var err error
		if r, err = st.GetRun(t.Context(), id); err != nil {
			return err
		}
		if r.Ended() {
			return nil
		}
		return fmt.Errorf("%w: %s", await.ErrNotYet, r.State)
	})
	if err != nil {
		t.Fatalf("run %d did not finish: %v", id, err)
	}
	return r
}

// CheckAgainst compares a finished run's results and totals with bizgen's expectations.
func checkAgainst(t *testing.T, st *store.Store, j *job.Job, r *store.Run, exp *bizgen.Expected) {
	t.Helper()
	res, err := st.Results(t.Context(), r.ID, store.ResultFilter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	var got []bizgen.Expectation
	for _, x := range res {
		e := bizgen.Expectation{Outcome: bizgen.Outcome(x.Outcome), Key: x.Key}
		if x.Line != nil {
			e.Line = int(*x.Line)
		}
		for _, f := range j.Fields {
			if _, ok := x.Diff[f.Business]; ok {
				e.Fields = append(e.Fields, f.Business)
			}
		}
		got = append(got, e)
	}
	if diff := cmp.Diff(exp.Rows, got); diff != "" {
		t.Errorf("outcomes (-expected +found):\n%s", diff)
	}
	want := make(map[string]store.Totals)
	for o, tt := range exp.ByOutcome {
		want[string(o)] = store.Totals{BusinessRows: int64(tt.BusinessRows), ChainRecords: int64(tt.ChainRecords), BusinessAmount: tt.BusinessAmount, ChainAmount: tt.ChainAmount}
	}
	want[store.DuplicateOnChain] = store.Totals{BusinessAmount: "0", ChainAmount: "0"}
	if diff := cmp.Diff(want, r.Totals.ByOutcome); diff != "" {
		t.Errorf("totals (-expected +found):\n%s", diff)
	}
	side := func(tt bizgen.Totals) store.Totals {
		return store.Totals{BusinessRows: int64(tt.BusinessRows), ChainRecords: int64(tt.ChainRecords), BusinessAmount: tt.BusinessAmount, ChainAmount: tt.ChainAmount}
	}
	if diff := cmp.Diff(side(exp.Business), r.Totals.Business); diff != "" {
		t.Errorf("business totals (-expected +found):\n%s", diff)
	}
	if diff := cmp.Diff(side(exp.Chain), r.Totals.Chain); diff != "" {
		t.Errorf("chain totals (-expected +found):\n%s", diff)
	}
}

var plan = bizgen.Plan{Changed: 3, WithinTolerance: 2, MissingInFile: 2, Extra: 2, Duplicate: 1, Malformed: 1, Seed: 42}

func TestRunMatchesBizgen(t *testing.T) {
	f := newFixture(t, "{max_rows: 1}")
	recs := records(60)
	storeRecords(t, f.st, recs)
	exp := f.generate(t, recs, plan)
	stop := f.start(t)
	defer stop()
	got := f.succeeds(t, "2025-12-05")
	r1 := got
	checkAgainst(t, f.st, f.j, got, exp)

	// A rerun is a new version with the same results; it becomes the current one.
	r2, err := f.runner.Trigger(t.Context(), "transfers", "2025-12-05", "")
	if err != nil {
		t.Fatal(err)
	}
	got2 := waitRun(t, f.st, r2.ID)
	if got2.Version != 2 || !got2.Current {
		t.Errorf("rerun: version %d current %v", got2.Version, got2.Current)
	}
	checkAgainst(t, f.st, f.j, got2, exp)
	old, err := f.st.GetRun(t.Context(), r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if old.Current {
		t.Error("the first version is still current")
	}
	var n int
	if err := f.st.Pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = 'reconcile' AND tablename LIKE 'run\_%'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("tables of finished runs left: %d %v", n, err)
	}
	// Records applied twice change nothing.
	storeRecords(t, f.st, recs)
	if err := f.st.Pool.QueryRow(t.Context(), `SELECT count(*) FROM reconcile.records`).Scan(&n); err != nil || n != len(recs) {
		t.Errorf("records: %d %v, want %d", n, err, len(recs))
	}
}

// TestRunMatchesBizgenInMemory: a one-to-one run, matched in the runner's memory, has the
// generator's results in report order and leaves no table of its own behind, nor does a
// one-to-many run that matched in SQL over tables.
func TestRunMatchesBizgenInMemory(t *testing.T) {
	recs := records(300)
	plan := bizgen.Plan{Changed: 9, WithinTolerance: 5, MissingInFile: 7, Extra: 6, Duplicate: 4, Malformed: 3, Seed: 7}
	f := newFixture(t, "{max_rows: 3}")
	storeRecords(t, f.st, recs)
	exp := f.generate(t, recs, plan)
	stop := f.start(t)
	defer stop()
	checkAgainst(t, f.st, f.j, f.succeeds(t, "2025-12-05"), exp)
	f.j.Match = job.MatchOneToMany
	f.succeeds(t, "2025-12-05")
	var n int
	if err := f.st.Pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = 'reconcile' AND tablename LIKE 'run\_%'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("tables of the finished runs left: %d %v", n, err)
	}
}

func TestRunOverBudgetFails(t *testing.T) {
	f := newFixture(t, "{max_rows: 1}")
	recs := records(20)
	storeRecords(t, f.st, recs)
	f.generate(t, recs, bizgen.Plan{Malformed: 2, Seed: 1})
	stop := f.start(t)
	defer stop()
	r, err := f.runner.Trigger(t.Context(), "transfers", "2025-12-05", "")
	if err != nil {
		t.Fatal(err)
	}
	got := waitRun(t, f.st, r.ID)
	if got.State != store.StateFailed || !strings.Contains(got.Error, "2 malformed rows of 20 exceed") {
		t.Fatalf("run: %s %q", got.State, got.Error)
	}
	res, err := f.st.Results(t.Context(), r.ID, store.ResultFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Outcome != store.Malformed || res[0].Error == nil || !strings.Contains(*res[0].Error, "t-20251205.csv:") {
		t.Fatalf("results of a run over budget: %+v", res)
	}
}

func TestRunLeftRunningIsResumed(t *testing.T) {
	f := newFixture(t, "{max_rows: 1}")
	recs := records(30)
	storeRecords(t, f.st, recs)
	exp := f.generate(t, recs, plan)
	r, err := f.runner.Trigger(t.Context(), "transfers", "2025-12-05", "")
	if err != nil {
		t.Fatal(err)
	}
	// A process claimed it, loaded part of it and died (its session, and the run's lock with
	// it, ended).
	_, claim, err := f.st.ClaimRun(t.Context(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.runner.load(t.Context(), f.j, mustRun(t, f.st, r.ID), nil); err != nil {
		t.Fatal(err)
	}
	claim.Release()
	stop := f.start(t)
	defer stop()
	got := waitRun(t, f.st, r.ID)
	if got.State != store.StateSucceeded || got.Attempt != 2 {
		t.Fatalf("resumed run: %s attempt %d %s", got.State, got.Attempt, got.Error)
	}
	checkAgainst(t, f.st, f.j, got, exp)
}

// TestLiveRunIsNotResumed: an instance starting (or looking again) takes up runs left running
// by attempts that are gone, never one another instance is executing.
func TestLiveRunIsNotResumed(t *testing.T) {
	f := newFixture(t, "{max_rows: 1}")
	r, err := f.runner.Trigger(t.Context(), "transfers", "2025-12-05", "")
	if err != nil {
		t.Fatal(err)
	}
	claimed, claim, err := f.st.ClaimRun(t.Context(), time.Now())
	if err != nil || claimed == nil || claimed.ID != r.ID {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	n, err := f.st.ResumeRunning(t.Context())
	if err != nil || n != 0 {
		t.Errorf("resumed %d runs (%v) while their attempt lives", n, err)
	}
	if got := mustRun(t, f.st, r.ID); got.State != store.StateRunning {
		t.Errorf("live run is %s", got.State)
	}
	if again, c2, err := f.st.ClaimRun(t.Context(), time.Now()); err != nil || again != nil {
		t.Errorf("claimed again: %v %v", again, err)
		if c2 != nil {
			c2.Release()
		}
	}
	claim.Release()
	if n, err := f.st.ResumeRunning(t.Context()); err != nil || n != 1 {
		t.Errorf("after its attempt ended: resumed %d runs (%v), want 1", n, err)
	}
	if got := mustRun(t, f.st, r.ID); got.State != store.StatePending {
		t.Errorf("orphaned run is %s, want pending", got.State)
	}
}

func mustRun(t *testing.T, st *store.Store, id int64) *store.Run {
	t.Helper()
	r, err := st.GetRun(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMissingFileIsRetriedThenFails(t *testing.T) {
	f := newFixture(t, "{}")
	stop := f.start(t)
	defer stop()
	r, err := f.runner.Trigger(t.Context(), "transfers", "2025-12-05", "")
	if err != nil {
		t.Fatal(err)
	}
	got := waitRun(t, f.st, r.ID)
	if got.State != store.StateFailed || got.Attempt != 2 || !strings.Contains(got.Error, "not found") {
		t.Fatalf("run: %s attempt %d %q", got.State, got.Attempt, got.Error)
	}
}

func TestTriggerRefuses(t *testing.T) {
	f := newFixture(t, "{}")
	for _, tc := range []struct{ job, date, uri, want string }{
		{"", "2025-12-05", "", "job: empty"},
		{"transfers", "", "", "business_date or file_uri"},
		{"transfers", "2025-13-05", "", "business_date"},
		{"transfers", "", "relative.csv", "file_uri"},
	} {
		_, err := f.runner.Trigger(t.Context(), tc.job, tc.date, tc.uri)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Trigger(%q, %q, %q): %v, want %q", tc.job, tc.date, tc.uri, err, tc.want)
		}
	}
}

// TestFailedRunListsNoResults: results stored for a run whose attempt failed (committed by an
// earlier version's matching in parts) are gone when the run fails, for good or until its
// next attempt.
func TestFailedRunListsNoResults(t *testing.T) {
	f := newFixture(t, "{max_rows: 1}")
	for _, retry := range []bool{false, true} {
		r, err := f.st.CreateRun(t.Context(), f.j.Name, "failed", "", "file:///none.csv", "{}")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.Pool.Exec(t.Context(), `INSERT INTO reconcile.results (run_id, id, outcome, line, business_row, chain_records)
			VALUES ($1, 2, 'matched', 2, true, 1)`, r.ID); err != nil {
			t.Fatal(err)
		}
		var at *time.Time
		if retry {
			next := time.Now().Add(time.Hour)
			at = &next
		}
		if err := f.st.FailRun(t.Context(), r.ID, "part 1: connection lost", time.Now(), at, nil); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := f.st.Pool.QueryRow(t.Context(), `SELECT count(*) FROM reconcile.results WHERE run_id = $1`, r.ID).Scan(&n); err != nil || n != 0 {
			t.Errorf("retry %v: %d results left (%v)", retry, n, err)
		}
	}
}

// TestRunOverMemoryBudgetFails: a one-to-one run with more business rows and chain records
// than the runner may hold fails for good, saying so, with no results; one within it succeeds.
func TestRunOverMemoryBudgetFails(t *testing.T) {
	f := newFixture(t, "{max_rows: 1}")
	recs := records(40)
	storeRecords(t, f.st, recs)
	f.generate(t, recs, bizgen.Plan{Seed: 3})
	f.runner.cfg.MaxRows = 79 // 40 rows and 40 records
	stop := f.start(t)
	r, err := f.runner.Trigger(t.Context(), f.j.Name, "2025-12-05", "")
	if err != nil {
		t.Fatal(err)
	}
	got := waitRun(t, f.st, r.ID)
	if got.State != store.StateFailed || got.Attempt != 1 || !strings.Contains(got.Error, "more than 79 business rows and chain records") {
		t.Fatalf("run over the budget: %s attempt %d %q", got.State, got.Attempt, got.Error)
	}
	if n, err := f.st.CountResults(t.Context(), r.ID); err != nil || len(n) != 0 {
		t.Fatalf("results of a run over the budget: %v %v", n, err)
	}
	stop() // the runner reads its configuration while it runs
	f.runner.cfg.MaxRows = 80
	defer f.start(t)()
	f.succeeds(t, "2025-12-05")
}
