package audit

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/app/auth"
	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/retry"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the audit tables' migrations, applied by Run with postgres.MigrateComponent
// (version table <schema>.audit_schema_version).
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded directory is known to exist
	}
	return sub
}

// Component is the name the audit tables are migrated under.
const Component = "audit"

// DefaultQueue is how many decisions a trail buffers before Record waits for the writer.
const DefaultQueue = 1 << 16

// DefaultLinger is Config.Linger's default. Each write is a transaction of five
// statements; without a wait, a server answering a few hundred calls a second wrote one per
// call, and that cost PostgreSQL about as much as the calls themselves (550 µs a call at 500
// GetTransaction calls/s, beside 515 µs for the calls' own queries). Waiting 100 ms groups
// them by fifty at that rate (20 ms still left 130 µs a call). A record reaches the table, and
// is safe from a crash of the process, up to that much later.
const DefaultLinger = 100 * time.Millisecond

// maxBatch bounds the records one transaction writes and one Kafka write publishes.
const maxBatch = 500

// ErrNotStarted is a trail's readiness before its tables are migrated.
var ErrNotStarted = errors.New("audit trail not started yet")

// Publisher writes the audit topic's messages; *kafka-go.Writer from libs/kafka.NewWriter is
// one. Run closes it.
type Publisher interface {
	WriteMessages(ctx context.Context, msgs ...kafkago.Message) error
	Close() error
}

// HeadAnchorer anchors a trail's head (its last seq and hash) somewhere the database's
// administrators cannot rewrite, the evidence path (issue 13): with the head anchored, even a
// rewrite of the whole chain from some record on is detected by comparing with the anchor.
// Run calls AnchorHead every Config.AnchorInterval when the head moved, and keeps the returned
// reference (an evidence record id) with the seq and hash in the audit_anchor table, which
// Verify compares the chain with. Anchoring the same head again must be harmless.
type HeadAnchorer interface {
	AnchorHead(ctx context.Context, seq uint64, hash []byte) (ref string, err error)
}

// AnchorReader is a HeadAnchorer that can also read an anchor back by its reference; Verify
// then checks the last anchor recorded locally against the anchor itself, so rewriting the
// audit_anchor table along with the chain is found too.
type AnchorReader interface {
	AnchoredHead(ctx context.Context, ref string) (seq uint64, hash []byte, err error)
}

// Config configures a Trail.
type Config struct {
	// Service names the trail in records, the topic's keys and the Audit API (stash, export,
	// reconcile).
	Service string
	// Schema is the service's PostgreSQL schema, where the audit tables live.
	Schema string
	// GRPCServices are the gRPC services (full names) whose calls the trail records; a Hub
	// sends calls to other services (health, reflection, the Audit API) to its first trail.
	GRPCServices []string
	// Publisher, when set, receives every record, in order, on Topic.
	Publisher Publisher
	// Topic is the audit topic, kafka.TopicName(chain, group, "audit").
	Topic string
	// EnsureTopic, when set, creates Topic before the first publication.
	EnsureTopic func(ctx context.Context) error
	// Anchorer, when set, anchors the head every AnchorInterval (default 1 minute).
	Anchorer       HeadAnchorer
	AnchorInterval time.Duration
	// Queue is the number of decisions buffered; default DefaultQueue.
	Queue int
	// Linger is how long the writer waits after a decision for more to write in the same
	// transaction (default DefaultLinger; negative: none). A Flush ends the wait.
	Linger time.Duration
	// Retry bounds the backoff while the database or the broker is away.
	Retry retry.Policy
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

var servicePattern = regexp.MustCompile(`\A[a-z][a-z0-9_-]{0,62}\z`)

func (c *Config) validate() error {
	var errs []error
	if !servicePattern.MatchString(c.Service) {
		errs = append(errs, fmt.Errorf("audit service name %q: want lowercase letters, digits, _ and -", c.Service))
	}
	if !servicePattern.MatchString(c.Schema) || strings.Contains(c.Schema, "-") {
		errs = append(errs, fmt.Errorf("audit schema %q: want a lowercase SQL identifier", c.Schema))
	}
	if c.Publisher != nil && c.Topic == "" {
		errs = append(errs, fmt.Errorf("audit trail %s: a publisher needs a topic", c.Service))
	}
	return errors.Join(errs...)
}

// entry is one queued decision, or a flush marker (done set, no record).
type entry struct {
	rec  *Record
	done chan struct{}
}

// Trail is one service's audit trail.
type Trail struct {
	cfg     Config
	pool    *pgxpool.Pool
	log     *zap.Logger
	metrics *metrics
	queue   chan entry
	wake    chan struct{}
	// hurry ends the writer's linger early: a Flush, or a batch's worth queued.
	hurry chan struct{}
	// lingering, when set (tests), is told each time the writer starts waiting out its linger.
	lingering chan struct{}

	mu      sync.Mutex
	started bool
	lastErr error
}

// NewTrail returns the trail of cfg.Service in pool; nothing is written before Run.
func NewTrail(cfg Config, pool *pgxpool.Pool, log *zap.Logger) (*Trail, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if pool == nil {
		return nil, fmt.Errorf("audit trail %s: no database pool", cfg.Service)
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.AnchorInterval <= 0 {
		cfg.AnchorInterval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Trail{
		cfg: cfg, pool: pool, log: log.With(zap.String("trail", cfg.Service)), metrics: nopMetrics(),
		queue: make(chan entry, cfg.Queue), wake: make(chan struct{}, 1), hurry: make(chan struct{}, 1),
	}, nil
}

// Service returns the trail's name.
func (t *Trail) Service() string { return t.cfg.Service }

func (t *Trail) table(name string) string { return t.cfg.Schema + "." + name }

// Record queues one decision for the trail. It returns at once unless the queue is full (the
// database has been away for a while), in which case it waits for room or for ctx to end;
// a decision dropped that way is counted and logged, never silently lost.
func (t *Trail) Record(ctx context.Context, d auth.Decision) {
	p := d.Principal
	rec := &Record{
		Time: t.cfg.Now().UTC().Truncate(time.Microsecond), Subject: p.Subject, Roles: slices.Clone(p.Roles),
		Via: p.Via, Peer: p.Peer, RPC: d.RPC, Resource: d.Resource, Allowed: d.Allowed, Reason: d.Reason,
		RequestID: d.RequestID,
	}
	if rec.Roles == nil {
		rec.Roles = []string{}
	}
	select {
	case t.queue <- entry{rec: rec}:
		if len(t.queue) >= maxBatch {
			t.nudge()
		}
		return
	default:
	}
	t.metrics.full.WithLabelValues(t.cfg.Service).Inc()
	t.nudge()
	select {
	case t.queue <- entry{rec: rec}:
	case <-ctx.Done():
		t.metrics.dropped.WithLabelValues(t.cfg.Service).Inc()
		t.log.Error("audit record dropped: queue full", zap.String("rpc", d.RPC), zap.String("request_id", d.RequestID))
	}
}

// Flush waits until every decision recorded before it is in the table.
func (t *Trail) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case t.queue <- entry{done: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	t.nudge()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// nudge ends the writer's linger, if it lingers (else its next one: a batch only smaller).
func (t *Trail) nudge() {
	select {
	case t.hurry <- struct{}{}:
	default:
	}
}

// Ready reports whether the trail's tables exist and its last write succeeded.
func (t *Trail) Ready(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.lastErr != nil:
		return fmt.Errorf("audit trail %s: %w", t.cfg.Service, t.lastErr)
	case !t.started:
		return fmt.Errorf("audit trail %s: %w", t.cfg.Service, ErrNotStarted)
	}
	return nil
}

func (t *Trail) setErr(err error) {
	t.mu.Lock()
	t.lastErr = err
	t.mu.Unlock()
}

func (t *Trail) onFailure(what string) retry.OnFailure {
	return func(f retry.Failure) {
		t.setErr(f.Err)
		t.log.Warn("audit "+what+" failed, retrying", zap.Error(f.Err), zap.Int("attempt", f.Attempt), zap.Duration("wait", f.Wait))
	}
}

// shutdownGrace bounds the writes of the records still queued when Run is stopped.
const shutdownGrace = 10 * time.Second

// Run migrates the audit tables, then writes queued decisions until ctx ends, publishing them
// and anchoring the head beside. On the way out it writes what is still queued (the server has
// drained its RPCs by then) and publishes it once more.
func (t *Trail) Run(ctx context.Context) error {
	if t.cfg.Publisher != nil {
		defer func() { _ = t.cfg.Publisher.Close() }()
	}
	err := retry.Forever(ctx, t.cfg.Retry, func(ctx context.Context) error {
		return postgres.MigrateComponent(ctx, t.pool, t.cfg.Schema, Component, Migrations())
	}, t.onFailure("migration"))
	if err != nil {
		return retry.UnlessStopped(ctx, err)
	}
	t.mu.Lock()
	t.started, t.lastErr = true, nil
	t.mu.Unlock()

	bg, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if t.cfg.Publisher != nil {
		wg.Go(func() { t.publishLoop(bg) })
	}
	if t.cfg.Anchorer != nil {
		wg.Go(func() { t.anchorLoop(bg) })
	}
	defer wg.Wait()
	defer stopBG()

	for {
		select {
		case e := <-t.queue:
			t.writeRetry(ctx, t.collect(ctx, e, t.cfg.Linger))
		case <-ctx.Done():
			t.drain(context.WithoutCancel(ctx))
			return nil
		}
	}
}

// collect gathers first and the decisions queued within linger of it (none: those queued
// already), up to maxBatch records. It waits out the linger without taking decisions as
// they come, so that a server's calls do not wake the writer (and, with a processor idle, a
// thread for it) one by one: they wait in the queue, and the wait ends at the linger, at a
// nudge (a Flush, or a batch's worth queued) or when ctx ends.
func (t *Trail) collect(ctx context.Context, first entry, linger time.Duration) []entry {
	batch := []entry{first}
	n := 0
	if first.rec != nil {
		n++
	}
	if linger > 0 && first.done == nil && len(t.queue) < maxBatch {
		timer := time.NewTimer(linger)
		if t.lingering != nil {
			select {
			case t.lingering <- struct{}{}:
			default:
			}
		}
		select {
		case <-timer.C:
		case <-t.hurry:
		case <-ctx.Done():
		}
		timer.Stop()
	}
	for n < maxBatch {
		select {
		case e := <-t.queue:
			batch = append(batch, e)
			if e.rec != nil {
				n++
			}
		default:
			return batch
		}
	}
	return batch
}

// drain writes what is queued at shutdown and publishes it, within shutdownGrace.
func (t *Trail) drain(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, shutdownGrace)
	defer cancel()
	for {
		select {
		case e := <-t.queue:
			if err := t.write(ctx, t.collect(ctx, e, 0)); err != nil {
				t.log.Error("audit records lost at shutdown", zap.Error(err))
				return
			}
		default:
			if t.cfg.Publisher != nil {
				if _, err := t.publishOnce(ctx); err != nil {
					t.log.Warn("audit publication left for the next start", zap.Error(err))
				}
			}
			return
		}
	}
}

// writeRetry writes batch until it is stored or ctx ends; then the flush markers are released.
func (t *Trail) writeRetry(ctx context.Context, batch []entry) {
	err := retry.Forever(ctx, t.cfg.Retry, func(ctx context.Context) error { return t.write(ctx, batch) }, t.onFailure("write"))
	if err != nil {
		// Stopping: drain writes what is left, this batch included.
		t.requeueOnStop(batch)
		return
	}
	t.setErr(nil)
}

// requeueOnStop writes a batch whose retries the shutdown cut, within the drain's grace.
func (t *Trail) requeueOnStop(batch []entry) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := t.write(ctx, batch); err != nil {
		t.log.Error("audit records lost at shutdown", zap.Error(err), zap.Int("records", len(batch)))
	}
}

// write appends batch's records to the chain in one transaction and releases its flush
// markers once committed.
func (t *Trail) write(ctx context.Context, batch []entry) error {
	var recs []*Record
	for _, e := range batch {
		if e.rec != nil {
			recs = append(recs, e.rec)
		}
	}
	if len(recs) > 0 {
		err := pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error {
			var head int64
			var prev []byte
			if err := tx.QueryRow(ctx, "SELECT seq, hash FROM "+t.table("audit_head")+" FOR UPDATE").Scan(&head, &prev); err != nil {
				return fmt.Errorf("lock audit head of %s: %w", t.cfg.Schema, err)
			}
			rows := make([][]any, len(recs))
			for i, r := range recs {
				r.Seq = uint64(head) + uint64(i) + 1
				r.PrevHash = prev
				r.Hash = ChainHash(t.cfg.Service, prev, *r)
				prev = r.Hash
				rows[i] = []any{int64(r.Seq), r.Time, r.Subject, r.Roles, r.Via, r.Peer, r.RPC, r.Resource, r.Allowed, r.Reason, r.RequestID, r.PrevHash, r.Hash}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.cfg.Schema, "audit"}, columns, pgx.CopyFromRows(rows)); err != nil {
				return fmt.Errorf("insert audit records into %s.audit: %w", t.cfg.Schema, err)
			}
			last := recs[len(recs)-1]
			if _, err := tx.Exec(ctx, "UPDATE "+t.table("audit_head")+" SET seq = $1, hash = $2", int64(last.Seq), last.Hash); err != nil {
				return fmt.Errorf("move audit head of %s: %w", t.cfg.Schema, err)
			}
			return nil
		})
		if err != nil {
			for _, r := range recs {
				r.Seq, r.PrevHash, r.Hash = 0, nil, nil
			}
			return err
		}
		t.metrics.written.WithLabelValues(t.cfg.Service).Add(float64(len(recs)))
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
	for _, e := range batch {
		if e.done != nil {
			close(e.done)
		}
	}
	return nil
}

var columns = []string{"seq", "at", "subject", "roles", "via", "peer", "rpc", "resource", "allowed", "reason", "request_id", "prev_hash", "hash"}

const selectColumns = "seq, at, subject, roles, via, peer, rpc, resource, allowed, reason, request_id, prev_hash, hash"

func scanRecord(row pgx.CollectableRow) (Record, error) {
	var r Record
	var seq int64
	err := row.Scan(&seq, &r.Time, &r.Subject, &r.Roles, &r.Via, &r.Peer, &r.RPC, &r.Resource, &r.Allowed, &r.Reason, &r.RequestID, &r.PrevHash, &r.Hash)
	r.Seq = uint64(seq)
	r.Time = r.Time.UTC()
	return r, err
}

// anchorLoop anchors the head every AnchorInterval when it moved since the last anchor.
func (t *Trail) anchorLoop(ctx context.Context) {
	tick := time.NewTicker(t.cfg.AnchorInterval)
	defer tick.Stop()
	var anchored int64 = -1
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var seq int64
		var hash []byte
		if err := t.pool.QueryRow(ctx, "SELECT seq, hash FROM "+t.table("audit_head")).Scan(&seq, &hash); err != nil {
			t.log.Warn("read audit head to anchor", zap.Error(err))
			continue
		}
		if seq == anchored {
			continue
		}
		if seq == 0 {
			continue // nothing recorded yet: the genesis head needs no anchor
		}
		ref, err := t.cfg.Anchorer.AnchorHead(ctx, uint64(seq), hash)
		if err != nil {
			t.metrics.anchorFailed.WithLabelValues(t.cfg.Service).Inc()
			t.log.Warn("anchor audit head", zap.Error(err), zap.Int64("seq", seq))
			continue
		}
		if _, err := t.pool.Exec(ctx, "INSERT INTO "+t.table("audit_anchor")+" (seq, hash, ref) VALUES ($1, $2, $3) ON CONFLICT (seq) DO NOTHING",
			seq, hash, ref); err != nil {
			t.log.Warn("record anchored audit head", zap.Error(err), zap.Int64("seq", seq), zap.String("ref", ref))
			continue
		}
		t.metrics.anchored.WithLabelValues(t.cfg.Service).Set(float64(seq))
		t.log.Debug("audit head anchored", zap.Int64("seq", seq), zap.String("ref", ref))
		anchored = seq
	}
}
