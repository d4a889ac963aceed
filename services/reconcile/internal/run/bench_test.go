package run

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/benchcpu"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/bizgen"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/format"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/report"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// benchRowsEnv overrides the size of BenchmarkReconcile: business rows and chain records
// (default 1,000,000 each).
const benchRowsEnv = "BCOSDATA_BENCH_RECONCILE_ROWS"

// benchBatch is how many chain records one transaction of the setup stores, the way the
// consumer stores a batch of a partition.
const benchBatch = 20_000

func benchRows(b *testing.B) int {
	b.Helper()
	n := 1_000_000
	if s := os.Getenv(benchRowsEnv); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 {
			b.Fatalf("%s=%q: want a whole number ≥ 1000", benchRowsEnv, s)
		}
		n = v
	}
	return n
}

// BenchmarkReconcile measures one run end to end (trigger, file parse, COPY into the run's
// business table and, beside it, projection of the chain records into its chain table, the
// matching SQL, totals, commit; then, apart, until the result files are written) of n
// business rows against n on-chain records (n from BCOSDATA_BENCH_RECONCILE_ROWS, default
// 1,000,000), and beside it, in the same run, the ceiling: the same n business rows, parsed
// beforehand, COPYed into a business table of the same shape (created, filled and analyzed as
// a run's is, store.CopyBusinessRows). The chain records are stored
// beforehand through the consumer's own write path (store.WriteRecords, in batches of 20,000
// per transaction as the consumer's partition batches are), not through Kafka. The processor
// time of this process (the runner) and of PostgreSQL per business row are reported beside
// the wall-clock figures.
func BenchmarkReconcile(b *testing.B) {
	n := benchRows(b)
	recs := records(n)
	for b.Loop() {
		f := newBenchFixture(b)
		pool := f.st.Pool
		took := time.Now()
		benchStoreRecords(b, f.st, recs)
		b.ReportMetric(float64(n)/time.Since(took).Seconds(), "chain-store-rec/s")

		plan := bizgen.Plan{Changed: 100, WithinTolerance: 100, MissingInFile: 100, Extra: 100, Duplicate: 100, Malformed: 10, Seed: 42}
		file := filepath.Join(f.dir, "bench.csv")
		exp := benchGenerate(b, f.j, recs, plan, file)
		uri := "file://" + file

		// Keep enough backends open for the whole measurement: one that ends takes its
		// processor time with it.
		warm(b, pool, 4)
		postmaster, err := benchcpu.Postmaster(b.Context(), pool)
		if err != nil {
			b.Fatal(err)
		}
		stop := f.start(b)
		before := benchcpu.Read(0, postmaster)
		heap := watchHeap()
		start := time.Now()
		r, err := f.runner.Trigger(b.Context(), f.j.Name, "", uri)
		if err != nil {
			b.Fatal(err)
		}
		got := waitRunWithin(b, f.st, r.ID, time.Hour)
		runTook := time.Since(start)
		b.ReportMetric(float64(heap())/(1<<20), "run-heap-MB")
		cpu := benchcpu.Read(0, postmaster).Sub(before)
		// The result files are written after the commit, the HTML report last.
		htmlFile := filepath.Join(f.dir, "results", report.Name(got)+".html")
		if err := await.UntilEvery(b.Context(), time.Hour, 10*time.Millisecond, func() error {
			_, err := os.Stat(htmlFile)
			return err
		}); err != nil {
			b.Fatalf("no result files: %v", err)
		}
		filesTook := time.Since(start)
		stop()
		reportPhases(b, f.logs)
		if got.State != store.StateSucceeded {
			b.Fatalf("run: %s %s", got.State, got.Error)
		}
		for _, o := range bizgen.Outcomes {
			want := exp.Count(o)
			have := got.Totals.ByOutcome[string(o)].BusinessRows
			if o == bizgen.MissingInBusiness {
				have = got.Totals.ByOutcome[string(o)].ChainRecords
			}
			if int64(want) != have {
				b.Errorf("%s: %d results, want %d", o, have, want)
			}
		}

		rows := benchParse(b, f.j, file)
		ceiling, err := f.st.CreateRun(b.Context(), f.j.Name, "ceiling", "", uri, got.Spec)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		tx, err := pool.Begin(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		i := 0
		copied, err := store.CopyBusinessRows(b.Context(), tx, ceiling.ID, func() (*store.BusinessRow, bool) {
			if i == len(rows) {
				return nil, false
			}
			i++
			return rows[i-1], true
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(b.Context()); err != nil {
			b.Fatal(err)
		}
		copyTook := time.Since(start)
		if copied != int64(len(rows)) {
			b.Fatalf("ceiling copied %d of %d rows", copied, len(rows))
		}

		total := exp.BusinessRowCount
		b.ReportMetric(float64(total), "business-rows")
		b.ReportMetric(float64(n), "chain-records")
		b.ReportMetric(runTook.Seconds(), "run-s")
		b.ReportMetric(float64(total)/runTook.Seconds(), "run-rows/s")
		b.ReportMetric(filesTook.Seconds(), "with-files-s")
		b.ReportMetric(copyTook.Seconds(), "copy-s")
		b.ReportMetric(float64(len(rows))/copyTook.Seconds(), "copy-rows/s")
		b.ReportMetric(copyTook.Seconds()/runTook.Seconds(), "run/copy-rate")
		if cpu.OK {
			b.ReportMetric(benchcpu.PerUnit(cpu.Self, total), "reconcile-cpu-µs/row")
			b.ReportMetric(benchcpu.PerUnit(cpu.Postgres, total), "pg-cpu-µs/row")
		}
	}
}

func newBenchFixture(b *testing.B) *fixture {
	b.Helper()
	st, err := store.Open(b.Context(), pgtestPool(b))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	f := &fixture{st: st, dir: dir, j: testJob(b, dir, "{max_rows: 100}")}
	f.j.Timeout = time.Hour
	f.j.Results = "file://" + filepath.Join(dir, "results")
	core, logs := observer.New(zap.InfoLevel)
	f.logs = logs
	f.runner = New(Config{Store: st, Poll: 10 * time.Millisecond, Job: f.jobFunc(), Log: zap.New(core),
		CaughtUp: func(context.Context) (bool, error) { return true, nil }})
	return f
}

// watchHeap samples the bytes of live and not yet collected heap objects until the returned
// function is called, which returns the largest sample beyond the first: what a run held in
// memory, give or take a collection cycle.
func watchHeap() func() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var top uint64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				peak <- top
				return
			case <-tick.C:
				if v := read(); v > base && v-base > top {
					top = v - base
				}
			}
		}
	}()
	return func() uint64 { close(done); return <-peak }
}

// reportPhases reports how long the run's phases took, from its "run finished" log line.
func reportPhases(b *testing.B, logs *observer.ObservedLogs) {
	b.Helper()
	done := logs.FilterMessage("run finished").All()
	if len(done) == 0 {
		b.Fatal("no run finished log line")
	}
	f := done[len(done)-1].ContextMap()
	for _, p := range []string{"load", "chain", "match"} {
		ms, ok := f[p+"_ms"].(float64)
		if !ok {
			b.Fatalf("run finished without %s_ms: %v", p, f)
		}
		b.ReportMetric(ms/1000, p+"-s")
	}
}

// benchStoreRecords stores the records as decoded Transfer events through WriteRecords, one
// transaction per benchBatch records.
func benchStoreRecords(b *testing.B, st *store.Store, recs []bizgen.ChainRecord) {
	b.Helper()
	for lo := 0; lo < len(recs); lo += benchBatch {
		batch := make([]store.Record, 0, benchBatch)
		for _, r := range recs[lo:min(lo+benchBatch, len(recs))] {
			batch = append(batch, transferRecord(r))
		}
		tx, err := st.Pool.Begin(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if err := store.WriteRecords(b.Context(), tx, batch); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

func benchGenerate(b testing.TB, j *job.Job, recs []bizgen.ChainRecord, plan bizgen.Plan, path string) *bizgen.Expected {
	b.Helper()
	out, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(out, 1<<20)
	exp, err := bizgen.Generate(w, j, recs, plan)
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	return exp
}

// benchParse reads the business file into the rows a run would COPY, for the ceiling.
func benchParse(b *testing.B, j *job.Job, path string) []*store.BusinessRow {
	b.Helper()
	in, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	rd, err := format.NewReader(in, filepath.Base(path), format.OptionsOf(j))
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Close()
	keys, fields := j.KeyComparators(), j.FieldComparators()
	amount := -1
	for i, fl := range j.Fields {
		if fl.Business == j.Amount {
			amount = i
		}
	}
	var out []*store.BusinessRow
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if re, ok := errors.AsType[*format.RowError](err); ok {
			out = append(out, &store.BusinessRow{Line: re.Line, Error: re.Error()})
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		row, err := businessRow(filepath.Base(path), j, keys, fields, amount, rec)
		if err != nil {
			out = append(out, &store.BusinessRow{Line: rec.Line, Error: err.Error()})
			continue
		}
		out = append(out, row)
	}
}

func warm(b testing.TB, pool *pgxpool.Pool, n int) {
	b.Helper()
	conns := make([]*pgxpool.Conn, 0, n)
	for range n {
		c, err := pool.Acquire(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
}
