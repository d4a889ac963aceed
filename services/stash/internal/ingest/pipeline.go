// Package ingest is the stash's pipeline: it reads every source in lockstep, cross-checks their
// records, verifies blocks in parallel (each block's senders recovered once), runs the ordered
// checks, commits batches of blocks to PostgreSQL with their progress, and then publishes them
// to Kafka, tracking publication separately so a crash between commit and publication
// republishes the same bytes on restart.
//
// A block that fails verification, or on which the sources disagree, stops the stream at the
// last good block: everything before it is stored and published, the failure is kept for the
// status API and the metrics, and the pipeline restarts from that block after a backoff, so it
// resumes by itself once the source is fixed or another source supplies a good record.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/retry"
	"github.com/bcosdata/bcosdata/services/stash/internal/health"
	"github.com/bcosdata/bcosdata/services/stash/internal/publish"
	"github.com/bcosdata/bcosdata/services/stash/internal/source"
	"github.com/bcosdata/bcosdata/services/stash/internal/store"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// Store is the storage the pipeline commits to.
type Store interface {
	Apply(ctx context.Context, blocks []*verify.Block) error
	SetPublished(ctx context.Context, n uint64) error
	Progress(ctx context.Context) (store.Progress, error)
	Tip(ctx context.Context, from uint64) (verify.Tip, error)
	Load(ctx context.Context, n uint64) (*verify.Block, error)
}

// KeyIndexer is a Store that leaves its key indexes out while the stash catches up, to be built
// once it has (see store.Store.BuildKeyIndexes).
type KeyIndexer interface {
	BuildKeyIndexes(ctx context.Context) (int, error)
}

// SourceOf is a Store that knows which source supplied a stored block.
type SourceOf interface {
	SourceOf(ctx context.Context, n uint64) (string, error)
}

// Publisher writes messages to the bus.
type Publisher interface {
	Publish(ctx context.Context, msgs []kafkago.Message) error
}

// Config configures a Pipeline.
type Config struct {
	Chain   publish.Chain
	Sources []source.Source
	// StartBlock is where a stash with nothing stored starts.
	StartBlock uint64
	// Workers verify blocks in parallel; default GOMAXPROCS.
	Workers int
	// SourceWait is how long, once one source delivered a good block, the others are waited
	// for before the block goes ahead without them; default 30s. A source that missed it is
	// not waited for again until it catches up.
	SourceWait time.Duration
	// MaxBatchBlocks, MaxBatchTxs and MaxBatchBytes bound one PostgreSQL transaction; defaults
	// 256 blocks, 20000 transactions, 32 MiB of block bytes.
	MaxBatchBlocks int
	MaxBatchTxs    int
	MaxBatchBytes  int
	// RetryMin and RetryMax bound the backoff after a failed block and between retries of
	// the database and the broker; defaults 500ms and 30s.
	RetryMin time.Duration
	RetryMax time.Duration
	// CaughtUpAfter is how long no verified block may arrive before the stash counts as caught
	// up with its sources and builds the key indexes it left out; default 2s. While catching
	// up, blocks follow each other far more closely (verification is CPU-bound).
	CaughtUpAfter time.Duration
	// ProgressEvery is how often progress is logged at Info; default 30s.
	ProgressEvery time.Duration
	// Health tracks the database, the broker and the sources (health.Database, health.Broker,
	// health.SourceName); the pipeline adds those missing. Default: a tracker of its own.
	Health  *health.Tracker
	Log     *zap.Logger
	Metrics *Metrics
}

func (c *Config) defaults() {
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.SourceWait <= 0 {
		c.SourceWait = 30 * time.Second
	}
	if c.MaxBatchBlocks <= 0 {
		c.MaxBatchBlocks = 256
	}
	if c.MaxBatchTxs <= 0 {
		c.MaxBatchTxs = 20000
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 32 << 20
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 500 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 30 * time.Second
	}
	if c.CaughtUpAfter <= 0 {
		c.CaughtUpAfter = 2 * time.Second
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 30 * time.Second
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.Health == nil {
		c.Health = health.New(c.Log, 0)
	}
}

// Pipeline runs the ingestion.
type Pipeline struct {
	cfg      Config
	verifier *verify.Verifier
	store    Store
	pub      Publisher
	log      *zap.Logger
	metrics  *Metrics
	status   *tracker
	// stateful is set when a binlog source is configured: only blocks with their change-set
	// may then be stored, RPC copies serve as cross-checks.
	stateful bool
	ring     digestRing
	// db, broker and srcs (one per source) are the dependencies' states.
	db, broker *health.Dep
	srcs       []*health.Dep
	// failed is the failure that stopped the stream last, counted and logged once until the
	// stream gets past it; failLog bounds how often its retries are logged again.
	failed  failureKey
	failLog retry.Every
}

// failureKey identifies a failure: the same block failing the same check again is a retry.
type failureKey struct {
	block uint64
	check string
	set   bool
}

// dep returns the tracker's dependency name, adding it when missing.
func dep(t *health.Tracker, name string, pending bool) *health.Dep {
	if d := t.Dep(name); d != nil {
		return d
	}
	return t.Add(name, pending)
}

// New returns a pipeline.
func New(cfg Config, v *verify.Verifier, st Store, pub Publisher) (*Pipeline, error) {
	cfg.defaults()
	if len(cfg.Sources) == 0 {
		return nil, errors.New("new pipeline: no sources")
	}
	m := cfg.Metrics
	if m == nil {
		var err error
		if m, err = NewMetrics(nil); err != nil {
			return nil, err
		}
	}
	p := &Pipeline{cfg: cfg, verifier: v, store: st, pub: pub, log: cfg.Log, metrics: m, status: &tracker{},
		db: dep(cfg.Health, health.Database, true), broker: dep(cfg.Health, health.Broker, true),
		failLog: retry.Every{Interval: health.DefaultLogEvery}}
	for _, s := range cfg.Sources {
		d := dep(cfg.Health, health.SourceName(s.Name()), false)
		// A fault fixed at the source clears the error it left.
		d.OnRecover(func() { s.Stats().SetError(nil) })
		s.Stats().Watch(d.OK, d.Fail)
		p.srcs = append(p.srcs, d)
		if _, ok := s.(*source.RPC); !ok {
			p.stateful = true
		}
		tr := &sourceTrack{src: s, dep: d}
		p.status.sources = append(p.status.sources, tr)
		stats := s.Stats()
		if err := m.registerSource(s.Name(),
			func() float64 { h, _ := stats.Head(); return float64(h) },
			func() float64 {
				st := p.status.snapshot()
				for _, ss := range st.Sources {
					if ss.Name == s.Name() {
						return float64(ss.Lag)
					}
				}
				return 0
			},
			func() float64 { return float64(stats.Downloaded()) }); err != nil {
			return nil, fmt.Errorf("register metrics of source %s: %w", s.Name(), err)
		}
	}
	return p, nil
}

// Status returns a snapshot of the pipeline's progress.
func (p *Pipeline) Status() Status { return p.status.snapshot() }

// Ready reports whether the database, the broker and every source are reachable as far as
// the pipeline knows, naming each that is not and why.
func (p *Pipeline) Ready(context.Context) error { return p.cfg.Health.Ready() }

// Run ingests until ctx ends. It returns nil on cancellation and an error only for problems
// no retry can fix.
func (p *Pipeline) Run(ctx context.Context) error {
	prog, err := retryValue(p, ctx, p.db, "read progress", func(ctx context.Context) (store.Progress, error) { return p.store.Progress(ctx) })
	if err != nil {
		return retry.UnlessStopped(ctx, err)
	}
	if prog.HasVerified {
		p.status.setVerified(prog.LastVerified, prog.Checkpoint)
		p.metrics.lastVerified.Set(float64(prog.LastVerified))
		p.restoreSourceProgress(ctx, prog.LastVerified)
	}
	if prog.HasPublished {
		p.status.setPublished(prog.LastPublished)
		p.metrics.lastPublished.Set(float64(prog.LastPublished))
	}
	var bg sync.WaitGroup
	bgCtx, stopBg := context.WithCancel(ctx)
	defer bg.Wait()
	defer stopBg()
	bg.Go(func() { p.logProgress(bgCtx) })
	if err := p.republish(ctx, prog); err != nil {
		return retry.UnlessStopped(ctx, err)
	}
	// After a failed block, the stream is restarted from it with a backoff, reset by progress.
	backoff := retry.Policy{Min: p.cfg.RetryMin, Max: p.cfg.RetryMax}.NewBackoff()
	for {
		from := p.cfg.StartBlock
		st := p.status.snapshot()
		if st.HasVerified {
			from = st.LastVerified + 1
		}
		stop := p.runOnce(ctx, from)
		after := p.status.snapshot()
		if after.HasVerified && (!st.HasVerified || after.LastVerified > st.LastVerified) {
			backoff.Reset()
		}
		// A run cut short by shutdown did not fail.
		if stop != nil && ctx.Err() == nil {
			p.recordFailure(stop)
		}
		if !backoff.Wait(ctx) {
			return nil
		}
	}
}

// restoreSourceProgress credits the source that supplied the last stored block with it after
// a restart, so Status has a per-source last verified block before the next block comes.
func (p *Pipeline) restoreSourceProgress(ctx context.Context, last uint64) {
	so, ok := p.store.(SourceOf)
	if !ok {
		return
	}
	name, err := so.SourceOf(ctx, last)
	if err != nil {
		return // Status only: the next agreed block sets it anyway.
	}
	for _, tr := range p.status.sources {
		if tr.src.Name() == name {
			tr.verified.Store(last + 1)
		}
	}
}

// recordFailure keeps the failure that stopped the stream for Status, and counts and logs it
// once: the retries of the same block failing the same check are counted no more, and logged
// again at most every 30 s, until the stream gets past it.
func (p *Pipeline) recordFailure(stop error) {
	f := p.status.fail(stop)
	key := failureKey{block: f.Block, check: f.Check, set: true}
	if st := p.status.snapshot(); st.HasVerified && p.failed.set && p.failed.block <= st.LastVerified {
		p.failed = failureKey{} // got past the previous failure
	}
	if key == p.failed {
		if ok, n := p.failLog.Allow(); ok {
			p.log.Warn("stream still stopped", zap.Uint64("block", f.Block), zap.String("check", f.Check), zap.String("source", f.Source),
				zap.Int("retries", n+1), zap.Error(stop))
		}
		return
	}
	p.failed = key
	p.failLog.Reset()
	p.failLog.Allow()
	p.metrics.failures.WithLabelValues(f.Check).Inc()
	p.log.Warn("stream stopped", zap.Uint64("block", f.Block), zap.String("check", f.Check), zap.String("source", f.Source), zap.Error(stop))
}

// runOnce runs the pipeline from block from until a block fails or ctx ends.
func (p *Pipeline) runOnce(ctx context.Context, from uint64) error {
	tip, err := retryValue(p, ctx, p.db, "read chain tip", func(ctx context.Context) (verify.Tip, error) { return p.store.Tip(ctx, from) })
	if err != nil {
		// Retries end only when ctx does.
		return retry.UnlessStopped(ctx, err)
	}
	chain := verify.NewChain(tip, p.verifier.Suite())

	upCtx, cancelUp := context.WithCancel(ctx)
	defer cancelUp()
	var up sync.WaitGroup

	const credits = 16
	ns := len(p.cfg.Sources)
	events := make(chan event, credits*ns)
	creditOf := make([]chan struct{}, ns)
	var want atomic.Uint64
	want.Store(from)
	for i, s := range p.cfg.Sources {
		creditOf[i] = make(chan struct{}, credits)
		up.Go(func() { p.readSource(upCtx, i, s, from, &want, events, creditOf[i]) })
	}
	order := make(chan *job, 64)
	jobs := make(chan *job, 2*p.cfg.Workers)
	up.Go(func() {
		defer close(order)
		defer close(jobs)
		p.gather(upCtx, from, &want, events, creditOf, order, jobs)
	})
	for range p.cfg.Workers {
		up.Go(func() {
			for j := range jobs {
				p.verifyJob(j)
				close(j.done)
			}
		})
	}

	applyCh := make(chan *verify.Block, 64)
	pubCh := make(chan []*verify.Block, 16)
	var down sync.WaitGroup
	down.Go(func() { p.apply(ctx, applyCh, pubCh) })
	down.Go(func() { p.publishLoop(ctx, pubCh) })

	err = p.sequence(upCtx, chain, order, applyCh)
	cancelUp()
	close(applyCh)
	down.Wait()
	up.Wait()
	return err
}
