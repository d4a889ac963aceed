// Package run executes reconcile runs: it reads a job's business file through source and
// format, copies its rows into PostgreSQL with the canonical texts of the job's comparators,
// applies the error budget, waits (bounded) for the on-chain side to pass the window's end,
// then matches both sides in SQL and stores the results and totals (package store). The
// transaction that ends a run also queues its results message in the outbox (package publish
// sends it). After the commit it writes the result files (package report) and posts the
// summary to the job's webhook; neither changes the committed run.
//
// Runs are rows of reconcile.runs worked through by one loop: pending ones are claimed in
// order, a failed attempt is retried after the job's backoff (doubling) up to the job's retries,
// an attempt running past the job's timeout is cancelled and counts as failed, and runs a
// stopped process left running are taken up again at start.
package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/bcosdata/bcosdata/libs/crypto/fieldcrypt"
	"github.com/bcosdata/bcosdata/libs/fault"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/compare"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/format"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/report"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/source"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/webhook"
)

// Clock is the time the runner and the scheduler see; tests give a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// RealClock is the wall clock.
var RealClock Clock = realClock{}

// Config configures a Runner.
type Config struct {
	Store *store.Store
	// Job returns the job of that name as it is now (file or API).
	Job func(ctx context.Context, name string) (*job.Job, error)
	// Source returns the connection settings of a job's source; default source.ConfigOf with
	// os.Getenv.
	Source func(j *job.Job) source.Config
	// CaughtUp reports whether every message of the decoded topics has been applied.
	CaughtUp func(ctx context.Context) (bool, error)
	// Message encodes the results message of a run that ended (succeeded, or failed for
	// good), queued in the outbox by the transaction that ends the run; nil: none is queued.
	Message func(r *store.Run) (store.Message, error)
	// Queued is called after a transaction that queued a message committed (default: nothing;
	// the service wakes its publisher).
	Queued func()
	// Webhook posts a finished run's summary to the job's webhook (default: 3 attempts, 1 s
	// pause doubling).
	Webhook *webhook.Sender
	// MaxListed is how many differences the HTML report lists (default report.MaxListed).
	MaxListed int
	Clock     Clock
	// Poll is how often the chain progress is checked while a run waits for it, and the
	// longest the loop sleeps without being woken (default 1 s).
	Poll    time.Duration
	Log     *zap.Logger
	Metrics *Metrics
	// Crypto seals the values of the fields a job marks sensitive; nil: such jobs fail.
	Crypto *fieldcrypt.Keyring
	// MaxRows bounds the business rows and chain records a one-to-one run holds in memory
	// together (default DefaultMaxRows); a run over it fails rather than the process.
	MaxRows int
}

// DefaultMaxRows is Config.MaxRows by default: about 1.8 GB of a run's rows.
const DefaultMaxRows = 3_000_000

// rowBudget counts the rows a one-to-one run holds, both sides together.
type rowBudget struct {
	n   atomic.Int64
	max int64
}

// take counts one more row; past the budget it fails the run for good (another attempt
// would read as many).
func (b *rowBudget) take() error {
	if b == nil || b.n.Add(1) <= b.max {
		return nil
	}
	return fault.MarkPermanent(fmt.Errorf("the run holds more than %d business rows and chain records in memory (-run.max-rows; about 600 bytes each): raise it with the service's memory", b.max))
}

// Runner runs runs.
type Runner struct {
	cfg  Config
	wake chan struct{}
}

// New returns a runner.
func New(cfg Config) *Runner {
	if cfg.Clock == nil {
		cfg.Clock = RealClock
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.MaxRows <= 0 {
		cfg.MaxRows = DefaultMaxRows
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Source == nil {
		cfg.Source = func(j *job.Job) source.Config { return source.ConfigOf(j.SourceOptions, os.Getenv) }
	}
	if cfg.CaughtUp == nil {
		cfg.CaughtUp = func(context.Context) (bool, error) { return false, nil }
	}
	if cfg.Webhook == nil {
		cfg.Webhook = &webhook.Sender{}
	}
	if cfg.Queued == nil {
		cfg.Queued = func() {}
	}
	return &Runner{cfg: cfg, wake: make(chan struct{}, 1)}
}

// ErrInvalid is wrapped by errors about a trigger's arguments; the message names the field.
var ErrInvalid = errors.New("invalid argument")

// Trigger adds a run of the job for a business date (YYYY-MM-DD) or a file URI (or both: the
// file, with the date's window). A run given a file only compares with every record the job
// selects, whatever its time. Reruns of a date (or file) are new versions.
func (r *Runner) Trigger(ctx context.Context, name, date, fileURI string) (*store.Run, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: job: empty", ErrInvalid)
	}
	j, err := r.cfg.Job(ctx, name)
	if err != nil {
		return nil, err
	}
	if date == "" && fileURI == "" {
		return nil, fmt.Errorf("%w: business_date or file_uri: give one", ErrInvalid)
	}
	uri := fileURI
	subject := fileURI
	if date != "" {
		if _, err := time.Parse(job.DateLayout, date); err != nil {
			return nil, fmt.Errorf("%w: business_date %q: want YYYY-MM-DD", ErrInvalid, date)
		}
		tg, err := j.Resolve(date)
		if err != nil {
			return nil, fmt.Errorf("%w: business_date %q: %w", ErrInvalid, date, err)
		}
		subject = date
		if uri == "" {
			uri = tg.URI
		}
	}
	if fileURI != "" && !strings.Contains(fileURI, "://") {
		return nil, fmt.Errorf("%w: file_uri %q: want scheme://…", ErrInvalid, fileURI)
	}
	spec, err := MarshalJob(j)
	if err != nil {
		return nil, err
	}
	run, err := r.cfg.Store.CreateRun(ctx, name, subject, date, uri, spec)
	if err != nil {
		return nil, err
	}
	r.Wake()
	return run, nil
}

// Wake makes the loop look for pending runs now.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run works through runs until ctx ends. Runs left running by a stopped process are taken up
// again first, and every resumeEvery those of instances that died meanwhile.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.resume(ctx); err != nil {
		return err
	}
	resumed := time.Now()
	for ctx.Err() == nil {
		if time.Since(resumed) >= resumeEvery {
			if err := r.resume(ctx); err != nil {
				r.cfg.Log.Warn("resume runs", zap.Error(err))
			}
			resumed = time.Now()
		}
		run, claim, err := r.cfg.Store.ClaimRun(ctx, r.cfg.Clock.Now())
		if err != nil {
			r.cfg.Log.Warn("claim run", zap.Error(err))
			r.sleep(ctx, r.cfg.Poll)
			continue
		}
		if run == nil {
			wait := r.cfg.Poll
			if at, ok, err := r.cfg.Store.NextDue(ctx); err == nil && ok {
				wait = min(wait, max(at.Sub(r.cfg.Clock.Now()), 0))
			}
			r.sleep(ctx, wait)
			continue
		}
		r.attempt(ctx, run)
		claim.Release()
	}
	return nil
}

// resumeEvery is how often the runner looks for runs left running by an instance that died
// while this one lives (at its start it always does).
const resumeEvery = 30 * time.Second

// resume takes up runs left running by attempts that are gone.
func (r *Runner) resume(ctx context.Context) error {
	n, err := r.cfg.Store.ResumeRunning(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		r.cfg.Log.Info("runs left running by a stopped process taken up again", zap.Int64("runs", n))
	}
	return nil
}

func (r *Runner) sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-r.wake:
	case <-r.cfg.Clock.After(d):
	}
}

// attempt executes one attempt of a claimed run and records how it ended.
func (r *Runner) attempt(ctx context.Context, run *store.Run) {
	log := r.cfg.Log.With(zap.Int64("run", run.ID), zap.String("job", run.Job), zap.String("subject", run.Subject), zap.Int("attempt", run.Attempt))
	r.cfg.Metrics.Job(run.Job)
	j, err := ParseJob(run.Spec)
	if err != nil {
		r.fail(ctx, run, nil, fault.MarkPermanent(err), log)
		return
	}
	actx, cancel := context.WithTimeout(ctx, j.Timeout)
	defer cancel()
	var t phases
	err = r.execute(actx, j, run, &t)
	if err == nil {
		log.Info("run finished", append([]zap.Field{zap.String("state", run.State)}, t.fields()...)...)
		return
	}
	if ctx.Err() != nil {
		// Stopping: the run stays running and is taken up again at the next start.
		log.Info("run interrupted by shutdown; resumed at the next start")
		return
	}
	if errors.Is(err, context.DeadlineExceeded) && actx.Err() != nil {
		err = fmt.Errorf("run took longer than the job's timeout %s: %w", j.Timeout, err)
	}
	r.fail(ctx, run, j, err, log)
}

func (r *Runner) fail(ctx context.Context, run *store.Run, j *job.Job, err error, log *zap.Logger) {
	now := r.cfg.Clock.Now()
	var retryAt *time.Time
	if j != nil && !fault.IsPermanent(err) && j.Retries.Max != nil && run.Attempt <= *j.Retries.Max {
		backoff := j.Retries.Backoff * time.Duration(math.Pow(2, float64(run.Attempt-1)))
		at := now.Add(backoff)
		retryAt = &at
	}
	var out *store.Message
	final := *run
	final.State, final.Error, final.Finished = store.StateFailed, err.Error(), &now
	if retryAt == nil && r.cfg.Message != nil {
		m, merr := r.cfg.Message(&final)
		if merr != nil {
			log.Error("encode the results message of a failed run", zap.Error(merr))
		} else {
			out = &m
		}
	}
	if ferr := r.cfg.Store.FailRun(ctx, run.ID, err.Error(), now, retryAt, out); ferr != nil {
		log.Error("record failed run", zap.Error(ferr), zap.NamedError("cause", err))
		return
	}
	if retryAt != nil {
		r.cfg.Metrics.Runs.WithLabelValues(run.Job, "retry").Inc()
		log.Warn("run failed; retrying", zap.Error(err), zap.Time("at", *retryAt))
		return
	}
	if out != nil {
		r.cfg.Queued()
	}
	r.cfg.Metrics.Runs.WithLabelValues(run.Job, store.StateFailed).Inc()
	log.Error("run failed", zap.Error(err))
	*run = final
	r.ended(ctx, j, run, false)
}

// ended does what follows the end of a run, after its transaction committed (which queued its
// results message): the result files (for a run that stored results) and the webhook. Neither
// changes the run: a failure is logged.
func (r *Runner) ended(ctx context.Context, j *job.Job, run *store.Run, results bool) {
	log := r.cfg.Log.With(zap.Int64("run", run.ID), zap.String("job", run.Job))
	var files []string
	if results && j != nil && j.Results != "" {
		uris, err := report.Write(ctx, r.cfg.Store, source.New(r.cfg.Source(j)), j.Results, j, run, r.cfg.MaxListed)
		if err != nil {
			log.Warn("write result files", zap.String("results", j.Results), zap.Error(err))
		}
		files = uris
	}
	if j != nil && j.Webhook != "" {
		s := report.SummaryOf(run)
		s.Files = files
		body, err := json.Marshal(s)
		if err == nil {
			err = r.cfg.Webhook.Post(ctx, j.Webhook, body)
		}
		if err != nil {
			log.Warn("post run summary to the webhook", zap.Error(err))
		}
	}
}

// window is the on-chain block time range of a run, [start, end) in ms.
type window struct {
	start, end int64
	bounded    bool
}

// phases are how long the steps of a run took, for its log line: the business file's load,
// the chain side's projection (beside the load), the matching and the final transaction.
type phases struct {
	start                        time.Time
	load, chain, match, finished time.Duration
}

func (p *phases) fields() []zap.Field {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return []zap.Field{zap.Float64("load_ms", ms(p.load)), zap.Float64("chain_ms", ms(p.chain)),
		zap.Float64("match_ms", ms(p.match)), zap.Float64("total_ms", ms(p.finished))}
}

func (r *Runner) execute(ctx context.Context, j *job.Job, run *store.Run, t *phases) error {
	t.start = time.Now()
	w := window{start: math.MinInt64, end: math.MaxInt64}
	if run.BusinessDate != "" {
		tg, err := j.Resolve(run.BusinessDate)
		if err != nil {
			return fault.MarkPermanent(err)
		}
		w = window{start: tg.StartMs, end: tg.EndMs, bounded: true}
	}
	if err := checkKeys(r.cfg.Crypto, j); err != nil {
		return err
	}
	if err := r.clear(ctx, run.ID); err != nil {
		return err
	}
	// The chain side is read while the file loads, on a connection of its own, once the chain
	// has passed the window's end. A one-to-one run keeps both sides in memory; a grouping
	// strategy matches in SQL, over the run's tables.
	inMemory := j.Match == "" || j.Match == job.MatchOneToOne
	var (
		m      *matching
		budget *rowBudget
	)
	if inMemory {
		budget = &rowBudget{max: int64(r.cfg.MaxRows)}
		m = &matching{budget: budget}
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type chainSide struct {
		rows []store.ChainRow
		err  error
	}
	chained := make(chan chainSide, 1)
	go func() {
		rows, err := r.loadChain(cctx, j, run, w, budget)
		t.chain = time.Since(t.start)
		chained <- chainSide{rows, err}
	}()
	// stopChain ends the chain side's read when the run goes no further with it: its error
	// (the cancellation, most likely) says nothing more about the run.
	stopChain := func() {
		cancel()
		if c := <-chained; c.err != nil {
			r.cfg.Log.Debug("chain side stopped", zap.Int64("run", run.ID), zap.Error(c.err))
		}
	}
	bad, total, err := r.load(ctx, j, run, m)
	t.load = time.Since(t.start)
	if err != nil {
		stopChain()
		return err
	}
	r.cfg.Metrics.Rows.Add(float64(total))
	if !j.Errors.Allows(bad, total) {
		stopChain()
		return r.finish(ctx, run, false, fmt.Sprintf("%d malformed rows of %d exceed the job's error budget", bad, total), t, m)
	}
	c := <-chained
	if c.err != nil {
		return c.err
	}
	if m != nil {
		m.chain = c.rows
	}
	return r.finish(ctx, run, true, "", t, m)
}

// matching holds both sides of a one-to-one run in memory.
type matching struct {
	biz    []*store.BusinessRow
	chain  []store.ChainRow
	budget *rowBudget
}

// clear removes what an earlier attempt of the run stored.
func (r *Runner) clear(ctx context.Context, id int64) error {
	tx, err := r.cfg.Store.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := store.ClearRun(ctx, tx, id); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// loadChain waits for the chain side and reads the window's records, counting them against
// the budget of a one-to-one run, which keeps them; without a budget (a grouping strategy) it
// writes them into the run's chain table instead.
func (r *Runner) loadChain(ctx context.Context, j *job.Job, run *store.Run, w window, budget *rowBudget) ([]store.ChainRow, error) {
	if err := r.waitForChain(ctx, j, w); err != nil {
		return nil, err
	}
	rows, err := readChain(ctx, r.cfg.Store.Pool, j, w, r.cfg.Crypto, budget)
	if err != nil || budget != nil {
		return rows, err
	}
	tx, err := r.cfg.Store.Pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := store.CopyChainRows(ctx, tx, run.ID, rows); err != nil {
		return nil, err
	}
	return nil, tx.Commit(ctx)
}

// load reads the business file into m's business rows, or the run's business table when m is
// nil; it returns the malformed rows and all rows read.
func (r *Runner) load(ctx context.Context, j *job.Job, run *store.Run, m *matching) (bad, total int, err error) {
	f, err := source.New(r.cfg.Source(j)).Open(ctx, run.FileURI)
	if err != nil {
		return 0, 0, fmt.Errorf("open business file: %w", err)
	}
	defer f.Close()
	rd, err := format.NewReader(f, f.Name, format.OptionsOf(j))
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", f.Name, err)
	}
	defer rd.Close()
	keys, fields := j.KeyComparators(), j.FieldComparators()
	amount := amountIndex(j)
	var readErr error
	next := func() (*store.BusinessRow, bool) {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil, false
		}
		total++
		if re, ok := errors.AsType[*format.RowError](err); ok {
			bad++
			row := &store.BusinessRow{Line: re.Line, Error: re.Error()}
			sealBusiness(r.cfg.Crypto, j, row, re)
			return row, true
		}
		if err != nil {
			total--
			readErr = err
			return nil, false
		}
		row, rowErr := businessRow(f.Name, j, keys, fields, amount, rec)
		if rowErr != nil {
			bad++
			row = &store.BusinessRow{Line: rec.Line, Error: rowErr.Error()}
		}
		sealBusiness(r.cfg.Crypto, j, row, rowErr)
		return row, true
	}
	if m != nil {
		for {
			row, ok := next()
			if !ok {
				break
			}
			if err := m.budget.take(); err != nil {
				return 0, 0, err
			}
			m.biz = append(m.biz, row)
		}
		if readErr != nil {
			return 0, 0, fmt.Errorf("read %s: %w", f.Name, readErr)
		}
		return bad, total, ctx.Err()
	}
	tx, err := r.cfg.Store.Pool.Begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := store.CopyBusinessRows(ctx, tx, run.ID, next); err != nil {
		return 0, 0, err
	}
	if readErr != nil {
		return 0, 0, fmt.Errorf("read %s: %w", f.Name, readErr)
	}
	return bad, total, tx.Commit(ctx)
}

// businessRow computes the canonical texts of a record; a key that cannot be read makes the
// row malformed (a field that cannot be read compares unequal).
func businessRow(file string, j *job.Job, keys, fields []compare.Comparator, amount int, rec format.Record) (*store.BusinessRow, error) {
	row := &store.BusinessRow{Line: rec.Line}
	var canon []string
	row.Keys, row.Fields, row.Raw, canon = rowSlices(len(keys), len(fields))
	for i, m := range j.Key {
		v, ok := rec.Get(m.Business)
		if !ok {
			return nil, rec.ErrorAt(file, m.Business, "missing key column")
		}
		c, err := keys[i].Business(v)
		if err != nil {
			return nil, rec.ErrorAt(file, m.Business, err.Error())
		}
		row.Keys[i] = c
	}
	for i, fl := range j.Fields {
		v, ok := rec.Get(fl.Business)
		row.Raw[i] = v
		if !ok {
			continue
		}
		if c, err := fields[i].Business(v); err == nil {
			canon[i] = c
			row.Fields[i] = &canon[i]
			if i == amount {
				row.Amount = row.Fields[i]
			}
		}
	}
	return row, nil
}

// waitForChain waits until the on-chain side has passed the window's end, the decoded topics
// are fully consumed, or the job's wait is over.
func (r *Runner) waitForChain(ctx context.Context, j *job.Job, w window) error {
	deadline := r.cfg.Clock.Now().Add(j.Window.Wait)
	for {
		p, err := r.cfg.Store.Progress(ctx)
		if err != nil {
			return err
		}
		if w.bounded && p.Has && p.BlockTimestampMs >= w.end {
			return nil
		}
		if ok, err := r.cfg.CaughtUp(ctx); err == nil && ok {
			return nil
		}
		if !r.cfg.Clock.Now().Before(deadline) {
			r.cfg.Log.Warn("chain side not past the window's end after the job's wait; matching with what is there",
				zap.String("job", j.Name), zap.Duration("wait", j.Window.Wait))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.cfg.Clock.After(r.cfg.Poll):
		}
	}
}

// finish matches (unless match is false: the run failed its error budget and only its
// malformed rows are listed), stores totals and the state and queues the results message,
// commits, then writes the result files and posts the webhook.
func (r *Runner) finish(ctx context.Context, run *store.Run, match bool, failure string, t *phases, m *matching) error {
	j, err := ParseJob(run.Spec)
	if err != nil {
		return fault.MarkPermanent(err)
	}
	tx, err := r.cfg.Store.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	state := store.StateSucceeded
	if !match {
		state = store.StateFailed
	}
	var totals store.RunTotals
	if m != nil {
		// Matched in memory: the results are counted as they are written.
		results := malformedOnly(m.biz)
		if match {
			names := make([]string, len(j.Fields))
			for i, fl := range j.Fields {
				names[i] = fl.Business
			}
			results = newOneToOne(m.biz, m.chain, j.FieldComparators(), names).results()
		}
		var tally store.Tally
		if _, err := store.CopyResults(ctx, tx, run.ID, func() (*store.ResultRow, bool) {
			r, ok := results()
			if ok {
				tally.Add(r)
			}
			return r, ok
		}); err != nil {
			return err
		}
		if totals, err = tally.Totals(); err != nil {
			return err
		}
	} else {
		if match {
			fields, g := groupFields(j)
			err = store.Match(ctx, tx, run.ID, fields, g)
		} else {
			err = store.MalformedResults(ctx, tx, run.ID)
		}
		if err != nil {
			return err
		}
		if totals, err = store.ComputeTotals(ctx, tx, run.ID); err != nil {
			return err
		}
	}
	t.match = time.Since(t.start) - max(t.load, t.chain)
	if err := store.FinishRun(ctx, tx, run, state, totals, failure, r.cfg.Clock.Now()); err != nil {
		return err
	}
	if r.cfg.Message != nil {
		msg, err := r.cfg.Message(run)
		if err != nil {
			return fault.MarkPermanent(fmt.Errorf("encode the results message of run %d: %w", run.ID, err))
		}
		if err := store.Enqueue(ctx, tx, msg); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	t.finished = time.Since(t.start)
	if r.cfg.Message != nil {
		r.cfg.Queued()
	}
	r.cfg.Metrics.Runs.WithLabelValues(run.Job, state).Inc()
	for o, t := range totals.ByOutcome {
		n := t.BusinessRows
		if o == store.MissingInBusiness {
			n = t.ChainRecords
		}
		r.cfg.Metrics.Results.WithLabelValues(run.Job, o).Add(float64(n))
	}
	r.ended(ctx, j, run, true)
	return nil
}

// groupFields are the fields of a job with a grouping strategy, for store.Match.
func groupFields(j *job.Job) ([]store.Field, store.Grouping) {
	fields := make([]store.Field, len(j.Fields))
	g := store.Grouping{Group: store.GroupChain, Amount: amountIndex(j)}
	if j.Match == job.MatchManyToOne {
		g.Group = store.GroupBusiness
	}
	for i, fl := range j.Fields {
		fields[i] = store.Field{Name: fl.Business, SQL: j.FieldComparators()[i].SQL}
	}
	return fields, g
}

// MarshalJob writes a validated job as a one-job YAML jobs file, the form runs and the jobs
// table keep it in.
func MarshalJob(j *job.Job) (string, error) {
	b, err := yaml.Marshal(job.File{Jobs: []job.Job{*j}})
	if err != nil {
		return "", fmt.Errorf("job %s: %w", j.Name, err)
	}
	// Leave out what is empty: options of other comparators and formats must not be set.
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("job %s: %w", j.Name, err)
	}
	b, err = yaml.Marshal(prune(doc))
	if err != nil {
		return "", fmt.Errorf("job %s: %w", j.Name, err)
	}
	return string(b), nil
}

// prune drops nulls, empty strings, maps and lists (zeros and false are kept: they can be
// meaningful, as max_rows: 0 or header: false are).
func prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			x = prune(x)
			if empty(x) {
				delete(t, k)
				continue
			}
			t[k] = x
		}
	case []any:
		for i, x := range t {
			t[i] = prune(x)
		}
	}
	return v
}

func empty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

// ParseJob reads a job MarshalJob wrote.
func ParseJob(spec string) (*job.Job, error) {
	jobs, err := job.Parse("stored job", []byte(spec))
	if err != nil {
		return nil, err
	}
	if len(jobs) != 1 {
		return nil, fmt.Errorf("stored job: %d jobs, want 1", len(jobs))
	}
	return &jobs[0], nil
}
