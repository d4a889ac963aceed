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
	"sort"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/services/stash/internal/publish"
	"github.com/bcosdata/bcosdata/services/stash/internal/source"
	"github.com/bcosdata/bcosdata/services/stash/internal/state"
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
	Log           *zap.Logger
	Metrics       *Metrics
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
	if c.Log == nil {
		c.Log = zap.NewNop()
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
	// degraded is set while the database or the broker keeps failing.
	degraded atomic.Pointer[string]
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
	p := &Pipeline{cfg: cfg, verifier: v, store: st, pub: pub, log: cfg.Log, metrics: m, status: &tracker{}}
	for _, s := range cfg.Sources {
		if _, ok := s.(*source.RPC); !ok {
			p.stateful = true
		}
		tr := &sourceTrack{src: s}
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

// Ready reports whether the database and the broker are reachable as far as the pipeline knows.
func (p *Pipeline) Ready(context.Context) error {
	if d := p.degraded.Load(); d != nil {
		return errors.New(*d)
	}
	return nil
}

// Run ingests until ctx ends. It returns nil on cancellation and an error only for problems
// no retry can fix.
func (p *Pipeline) Run(ctx context.Context) error {
	prog, err := retryValueFn(p, ctx, "read progress", func(ctx context.Context) (store.Progress, error) { return p.store.Progress(ctx) })
	if err != nil {
		return unlessStopped(ctx, err)
	}
	if prog.HasVerified {
		p.status.setVerified(prog.LastVerified, prog.Checkpoint)
		p.metrics.lastVerified.Set(float64(prog.LastVerified))
	}
	if prog.HasPublished {
		p.status.setPublished(prog.LastPublished)
		p.metrics.lastPublished.Set(float64(prog.LastPublished))
	}
	if err := p.republish(ctx, prog); err != nil {
		return unlessStopped(ctx, err)
	}
	backoff := p.cfg.RetryMin
	for {
		from := p.cfg.StartBlock
		st := p.status.snapshot()
		if st.HasVerified {
			from = st.LastVerified + 1
		}
		stop := p.runOnce(ctx, from)
		after := p.status.snapshot()
		if after.HasVerified && (!st.HasVerified || after.LastVerified > st.LastVerified) {
			backoff = p.cfg.RetryMin
		}
		// A run cut short by shutdown did not fail.
		if stop != nil && ctx.Err() == nil {
			p.recordFailure(stop)
		}
		if !source.Wait(ctx, backoff) {
			return nil
		}
		backoff = min(2*backoff, p.cfg.RetryMax)
	}
}

// recordFailure keeps the failure that stopped the stream for Status, counts it and logs it.
func (p *Pipeline) recordFailure(stop error) {
	f := p.status.fail(stop)
	p.metrics.failures.WithLabelValues(f.Check).Inc()
	p.log.Warn("stream stopped", zap.Uint64("block", f.Block), zap.String("check", f.Check), zap.String("source", f.Source), zap.Error(stop))
}

// event is what a source reader hands the gatherer.
type event struct {
	src  int
	num  uint64
	cand *verify.Candidate
	// err is a *verify.CheckError about block num, or any other error: the source is down.
	err error
}

func (e *event) down() bool {
	if e.err == nil {
		return false
	}
	var ce *verify.CheckError
	return !errors.As(e.err, &ce)
}

// job is one block on its way through verification.
type job struct {
	n     uint64
	cands []*verify.Candidate
	srcs  []int // source index of each candidate
	errs  []error
	done  chan struct{}
	block *verify.Block
	err   error
	// agreed lists the sources whose copy matched the stored one.
	agreed []int
	// late is a lagging source's disagreement with an already stored block.
	late error
}

// runOnce runs the pipeline from block from until a block fails or ctx ends.
func (p *Pipeline) runOnce(ctx context.Context, from uint64) error {
	tip, err := retryValueFn(p, ctx, "read chain tip", func(ctx context.Context) (verify.Tip, error) { return p.store.Tip(ctx, from) })
	if err != nil {
		// Retries end only when ctx does.
		return unlessStopped(ctx, err)
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

// readSource feeds one source's blocks to the gatherer, reopening the source after errors.
// Every event holds one of the source's credits until the gatherer takes it, which bounds how
// far a fast source reads ahead of a slow one.
func (p *Pipeline) readSource(ctx context.Context, i int, s source.Source, from uint64, want *atomic.Uint64, events chan<- event, credit chan struct{}) {
	pos := from
	backoff := p.cfg.RetryMin
	acquire := func() bool {
		select {
		case credit <- struct{}{}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	emit := func(ev event) bool {
		select {
		case events <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		pos = max(pos, want.Load())
		st, err := s.Open(ctx, pos)
		if err != nil {
			s.Stats().SetError(err)
			if !acquire() || !emit(event{src: i, num: pos, err: err}) || !source.Wait(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, p.cfg.RetryMax)
			continue
		}
		for {
			if !acquire() {
				st.Close()
				return
			}
			c, err := st.Next(ctx)
			if ctx.Err() != nil {
				st.Close()
				return
			}
			if err == nil {
				p.metrics.blocksRead.WithLabelValues(s.Name()).Inc()
				backoff = p.cfg.RetryMin
				if !emit(event{src: i, num: c.Number, cand: c}) {
					st.Close()
					return
				}
				pos = c.Number + 1
				continue
			}
			st.Close()
			s.Stats().SetError(err)
			var ce *verify.CheckError
			if errors.As(err, &ce) {
				if !emit(event{src: i, num: ce.Block, err: err}) {
					return
				}
				pos = max(pos, ce.Block+1)
			} else if !emit(event{src: i, num: pos, err: err}) {
				return
			}
			if !source.Wait(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, p.cfg.RetryMax)
			break
		}
	}
}

// gather collects each block from every source and hands it to the verifiers, in order.
func (p *Pipeline) gather(ctx context.Context, from uint64, want *atomic.Uint64, events <-chan event, credit []chan struct{}, order, jobs chan<- *job) {
	ns := len(credit)
	queue := make([][]event, ns)
	down := make([]bool, ns)
	lagging := make([]bool, ns)
	pop := func(i int) event {
		ev := queue[i][0]
		queue[i] = queue[i][1:]
		<-credit[i]
		return ev
	}
	for n := from; ; n++ {
		want.Store(n)
		j := &job{n: n, done: make(chan struct{})}
		resolved := make([]bool, ns)
		var timer <-chan time.Time
		for {
			for i := range ns {
				for !resolved[i] && len(queue[i]) > 0 {
					ev := &queue[i][0]
					switch {
					case ev.down():
						pop(i)
						down[i] = true
					case ev.num < n:
						e := pop(i)
						if e.cand != nil && j.late == nil {
							j.late = p.checkLate(e.cand)
						}
					case ev.num == n:
						e := pop(i)
						down[i], lagging[i], resolved[i] = false, false, true
						if e.cand != nil {
							j.cands, j.srcs = append(j.cands, e.cand), append(j.srcs, i)
						} else {
							j.errs = append(j.errs, e.err)
						}
					default:
						// The source skipped block n.
						down[i], lagging[i], resolved[i] = false, false, true
						j.errs = append(j.errs, &verify.CheckError{Block: n, Check: verify.CheckGap, Source: p.cfg.Sources[i].Name(),
							Err: fmt.Errorf("source went from before block %d to block %d", n, ev.num)})
					}
				}
			}
			valid := false
			for _, c := range j.cands {
				if !p.stateful || c.HasState() {
					valid = true
				}
			}
			all := true
			for i := range ns {
				if !resolved[i] && !down[i] && !lagging[i] {
					all = false
				}
			}
			if all && (valid || len(j.errs) > 0 || len(j.cands) > 0 || j.late != nil) {
				break
			}
			if valid && timer == nil {
				timer = time.After(p.cfg.SourceWait)
			}
			select {
			case ev := <-events:
				queue[ev.src] = append(queue[ev.src], ev)
				continue
			case <-timer:
				for i := range ns {
					if !resolved[i] && !down[i] {
						lagging[i] = true
						p.log.Warn("source lags", zap.String("source", p.cfg.Sources[i].Name()), zap.Uint64("block", n))
					}
				}
			case <-ctx.Done():
				return
			}
			break
		}
		select {
		case order <- j:
		case <-ctx.Done():
			return
		}
		select {
		case jobs <- j:
		case <-ctx.Done():
			return
		}
	}
}

// verifyJob cross-checks the copies of a block and verifies one of them.
func (p *Pipeline) verifyJob(j *job) {
	if j.late != nil {
		j.err = j.late
		return
	}
	if len(j.cands) == 0 {
		j.err = j.errs[0]
		return
	}
	// The first configured source's copy is the one stored, so that reruns store and publish
	// the same bytes (sealer signature subsets differ between nodes).
	sort.Sort(bySource{j})
	var eligible []int
	for k, c := range j.cands {
		if !p.stateful || c.HasState() {
			eligible = append(eligible, k)
		}
	}
	if len(eligible) == 0 {
		j.err = &verify.CheckError{Block: j.n, Check: verify.CheckSource, Err: errors.New("no binlog source delivered the block")}
		if len(j.errs) > 0 {
			j.err = j.errs[0]
		}
		return
	}
	var keys []copyKey
	if len(j.cands) > 1 {
		keys = make([]copyKey, len(j.cands))
		for k, c := range j.cands {
			keys[k] = keyOf(c)
		}
		if err := p.compare(j, keys); err != nil {
			j.err = err
			return
		}
	}
	var firstErr error
	for _, k := range eligible {
		b, err := p.verifier.Check(j.cands[k])
		if err != nil {
			p.cfg.Sources[j.srcs[k]].Stats().SetError(err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		j.block = b
		for k2 := range j.cands {
			if keys == nil || keys[k2].hash == b.Hash {
				j.agreed = append(j.agreed, j.srcs[k2])
			}
		}
		return
	}
	j.err = firstErr
}

type bySource struct{ j *job }

func (b bySource) Len() int           { return len(b.j.cands) }
func (b bySource) Less(x, y int) bool { return b.j.srcs[x] < b.j.srcs[y] }
func (b bySource) Swap(x, y int) {
	b.j.cands[x], b.j.cands[y] = b.j.cands[y], b.j.cands[x]
	b.j.srcs[x], b.j.srcs[y] = b.j.srcs[y], b.j.srcs[x]
}

// copyKey is what two sources' copies of a block must agree on: the block hash, and the
// change-set digest when both carry one (sealer signatures and the ids of
// _sys_tx_hash_2_block_ rows may differ between honest nodes and are not in the digest).
type copyKey struct {
	hash     [32]byte
	hasState bool
	digest   state.Digest
	tables   []state.Table
	err      error
}

func keyOf(c *verify.Candidate) copyKey {
	if c.Record == nil {
		return copyKey{hash: c.Block.BlockHash}
	}
	k := copyKey{hasState: true}
	key, _, err := verify.BlockValue(c.Record)
	if err != nil {
		k.err = err
		return k
	}
	h, err := hashFromHex(key)
	if err != nil {
		k.err = err
		return k
	}
	k.hash = h
	k.tables = state.FromRecord(c.Record)
	k.digest = state.BlockDigest(c.Number, h, true, k.tables)
	return k
}

func (p *Pipeline) compare(j *job, keys []copyKey) error {
	for a := range keys {
		if keys[a].err != nil {
			continue
		}
		for b := a + 1; b < len(keys); b++ {
			ka, kb := keys[a], keys[b]
			if kb.err != nil {
				continue
			}
			differ := ka.hash != kb.hash
			what := fmt.Sprintf("block hashes %x… and %x…", ka.hash[:4], kb.hash[:4])
			if !differ && ka.hasState && kb.hasState && ka.digest != kb.digest {
				differ = true
				what = "tables " + diffTables(ka.tables, kb.tables)
			}
			if differ {
				sa, sb := p.cfg.Sources[j.srcs[a]].Name(), p.cfg.Sources[j.srcs[b]].Name()
				return &verify.CheckError{Block: j.n, Check: verify.CheckDisagreement, Source: sa + " vs " + sb,
					Err: fmt.Errorf("%s and %s disagree on block %d: %s differ", sa, sb, j.n, what)}
			}
		}
	}
	return nil
}

// checkLate compares a lagging source's copy of an already stored block with the stored one.
func (p *Pipeline) checkLate(c *verify.Candidate) error {
	want, ok := p.ring.get(c.Number)
	if !ok {
		return nil
	}
	k := keyOf(c)
	// A copy that does not even decode is not a disagreement about the stored block.
	if k.err == nil && (k.hash != want.hash || (k.hasState && want.hasState && k.digest != want.digest)) {
		return &verify.CheckError{Block: c.Number, Check: verify.CheckDisagreement, Source: c.Source,
			Err: fmt.Errorf("%s's copy of stored block %d differs from the stored one", c.Source, c.Number)}
	}
	return nil
}

// sequence runs the ordered checks and hands verified blocks to the applier. It returns the
// failure that stopped the stream, or nil when ctx ended.
func (p *Pipeline) sequence(ctx context.Context, chain *verify.Chain, order <-chan *job, out chan<- *verify.Block) error {
	for {
		var j *job
		select {
		case <-ctx.Done():
			return nil
		case jj, ok := <-order:
			if !ok {
				return nil
			}
			j = jj
		}
		select {
		case <-ctx.Done():
			return nil
		case <-j.done:
		}
		if j.err != nil {
			return j.err
		}
		b := j.block
		if err := chain.Accept(b); err != nil {
			return err
		}
		p.ring.put(b.Number, ringEntry{hash: b.Hash, hasState: b.HasState, digest: b.Digest})
		for _, i := range j.agreed {
			p.status.sources[i].verified.Store(b.Number + 1)
		}
		p.metrics.blocksVerified.Inc()
		p.metrics.txsVerified.Add(float64(b.TxCount()))
		select {
		case out <- b:
		case <-ctx.Done():
			return nil
		}
	}
}

// apply commits blocks in batches and passes each committed batch to the publisher. When no
// block has come for CaughtUpAfter, the stash has caught up and builds its key indexes.
func (p *Pipeline) apply(ctx context.Context, in <-chan *verify.Block, out chan<- []*verify.Block) {
	defer close(out)
	idle := time.NewTimer(p.cfg.CaughtUpAfter)
	defer idle.Stop()
	for {
		var b *verify.Block
		select {
		case nb, ok := <-in:
			if !ok {
				return
			}
			b = nb
		case <-idle.C:
			if !p.buildKeyIndexes(ctx) {
				idle.Reset(p.cfg.RetryMax)
			}
			continue
		}
		batch := []*verify.Block{b}
		txs, bytes := b.TxCount(), len(b.Raw)
	fill:
		for len(batch) < p.cfg.MaxBatchBlocks && txs < p.cfg.MaxBatchTxs && bytes < p.cfg.MaxBatchBytes {
			select {
			case nb, ok := <-in:
				if !ok {
					break fill
				}
				batch = append(batch, nb)
				txs += nb.TxCount()
				bytes += len(nb.Raw)
			default:
				break fill
			}
		}
		last := batch[len(batch)-1]
		err := p.retry(ctx, "store blocks", func(ctx context.Context) error { return p.store.Apply(ctx, batch) })
		if err != nil {
			return
		}
		p.status.setVerified(last.Number, last.Checkpoint)
		p.metrics.lastVerified.Set(float64(last.Number))
		p.metrics.blocksIngested.Add(float64(len(batch)))
		p.metrics.txsIngested.Add(float64(txs))
		p.log.Debug("stored blocks", zap.Uint64("from", batch[0].Number), zap.Uint64("to", last.Number))
		out <- batch
		idle.Reset(p.cfg.CaughtUpAfter)
	}
}

// buildKeyIndexes builds the key indexes the store left out while catching up, and reports
// whether it succeeded. A failure is logged and the build tried again later (after RetryMax,
// or at the next pause): the indexes serve lookups by key, not ingestion.
func (p *Pipeline) buildKeyIndexes(ctx context.Context) bool {
	ix, ok := p.store.(KeyIndexer)
	if !ok || ctx.Err() != nil {
		return true
	}
	start := time.Now()
	n, err := ix.BuildKeyIndexes(ctx)
	if n > 0 {
		p.log.Info("key indexes built", zap.Int("indexes", n), zap.Duration("took", time.Since(start)))
	}
	if err != nil && ctx.Err() == nil {
		p.log.Warn("build key indexes", zap.Error(err))
		return false
	}
	return true
}

// publishLoop publishes committed batches in order and records each as published.
func (p *Pipeline) publishLoop(ctx context.Context, in <-chan []*verify.Block) {
	for batch := range in {
		// Take whatever else is already committed, so a slow broker gets bigger writes.
	more:
		for len(batch) < 4*p.cfg.MaxBatchBlocks {
			select {
			case nb, ok := <-in:
				if !ok {
					break more
				}
				batch = append(batch, nb...)
			default:
				break more
			}
		}
		if err := p.publishBlocks(ctx, batch); err != nil {
			// Shutting down: what is stored but not published goes out at the next start.
			for range in {
			}
			return
		}
	}
}

func (p *Pipeline) publishBlocks(ctx context.Context, batch []*verify.Block) error {
	var msgs []kafkago.Message
	txs := 0
	for _, b := range batch {
		m, err := p.cfg.Chain.Messages(b)
		if err != nil {
			return err
		}
		msgs = append(msgs, m...)
		txs += b.TxCount()
	}
	last := batch[len(batch)-1].Number
	if err := p.retry(ctx, "publish blocks", func(ctx context.Context) error { return p.pub.Publish(ctx, msgs) }); err != nil {
		return err
	}
	if err := p.retry(ctx, "record publication", func(ctx context.Context) error { return p.store.SetPublished(ctx, last) }); err != nil {
		return err
	}
	p.status.setPublished(last)
	p.metrics.lastPublished.Set(float64(last))
	p.metrics.blocksPublished.Add(float64(len(batch)))
	p.metrics.txsPublished.Add(float64(txs))
	return nil
}

// republish publishes the blocks stored but not yet published, rebuilt from the store.
func (p *Pipeline) republish(ctx context.Context, prog store.Progress) error {
	if !prog.HasVerified {
		return nil
	}
	next := prog.FirstBlock
	if prog.HasPublished {
		next = prog.LastPublished + 1
	}
	if next > prog.LastVerified {
		return nil
	}
	p.log.Info("republishing stored blocks", zap.Uint64("from", next), zap.Uint64("to", prog.LastVerified))
	for next <= prog.LastVerified {
		var batch []*verify.Block
		for n := next; n <= prog.LastVerified && len(batch) < p.cfg.MaxBatchBlocks; n++ {
			b, err := retryValueFn(p, ctx, "load stored block", func(ctx context.Context) (*verify.Block, error) { return p.store.Load(ctx, n) })
			if err != nil {
				return err
			}
			p.verifier.Rehash(b)
			batch = append(batch, b)
		}
		if err := p.publishBlocks(ctx, batch); err != nil {
			return err
		}
		next = batch[len(batch)-1].Number + 1
	}
	return nil
}

// retry calls fn until it succeeds, backing off between attempts and marking the pipeline
// degraded meanwhile. The first attempt runs even when ctx has ended (so the unit in flight at
// shutdown is finished), bounded by a grace period; it gives up once ctx has ended.
func (p *Pipeline) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	_, err := retryValueFn(p, ctx, what, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

const shutdownGrace = 10 * time.Second

func retryValueFn[T any](p *Pipeline, ctx context.Context, what string, fn func(context.Context) (T, error)) (T, error) {
	backoff := p.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		if ctx.Err() == nil {
			cancel()
			actx, cancel = ctx, func() {}
		}
		v, err := fn(actx)
		cancel()
		if err == nil {
			if attempt > 1 {
				p.degraded.Store(nil)
				p.log.Info("recovered", zap.String("action", what))
			}
			return v, nil
		}
		msg := what + ": " + err.Error()
		p.degraded.Store(&msg)
		p.log.Warn("retry", zap.String("action", what), zap.Int("attempt", attempt), zap.Error(err))
		if ctx.Err() != nil || !source.Wait(ctx, backoff) {
			return v, err
		}
		backoff = min(2*backoff, p.cfg.RetryMax)
	}
}

// unlessStopped returns err, or nil when ctx has ended (the retries that produced err give up
// only then, and stopping is not an error).
func unlessStopped(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	return nil
}
