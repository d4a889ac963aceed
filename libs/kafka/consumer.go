package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/fault"
)

// Handler applies messages. Each call gets a batch from one partition in offset order and must
// apply all of it or none of it (one database transaction), because the Consumer retries a
// failed batch whole. Batches of different partitions may be handled concurrently; batches of
// one partition never are.
//
// A message can be delivered again after a crash or a rebalance. Either the handling is
// idempotent, or the handler records the offsets in its transaction (pgoffset.Store.Record)
// and the consumer is given the store as ConsumerConfig.Offsets, which skips what was applied.
//
// The error decides what happens next (see package fault): a transient or unknown error is
// retried without limit while the consumer reports not ready; an error marked Permanent
// dead-letters the message or halts its partition.
//
// The context is not cancelled when the consumer is asked to stop, so the batch in flight can
// finish and be committed; a handler that can block should bound its own waits (a deadline it
// sets itself counts as transient).
type Handler interface {
	Handle(ctx context.Context, msgs []kafkago.Message) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, msgs []kafkago.Message) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, msgs []kafkago.Message) error { return f(ctx, msgs) }

// Consumer defaults.
const (
	DefaultMaxBatchMessages = 100
	DefaultMaxBatchBytes    = 64 << 20
	DefaultBatchLinger      = 20 * time.Millisecond
	DefaultMaxAttempts      = 5
	DefaultInitialBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff       = 10 * time.Second
	DefaultMaxWait          = 500 * time.Millisecond
	DefaultFetchMaxBytes    = 4 << 20
	DefaultCommitTimeout    = 10 * time.Second
	DefaultLogInterval      = 30 * time.Second
)

// deadLetterHeadroom leaves room for the dlq-* headers on top of a message that filled the
// origin topic's size limit.
const deadLetterHeadroom = 64 << 10

// deadLetterTimeout bounds one dead-letter publication, kafka-go's own retries included.
const deadLetterTimeout = 30 * time.Second

// ConsumerConfig configures NewConsumer.
type ConsumerConfig struct {
	// Brokers is the bootstrap list.
	Brokers []string
	// Security is TLS and SASL to the brokers; default plaintext.
	Security Security
	// GroupID is the consumer group; its committed offsets are where a restart resumes.
	GroupID string
	// Topics are the topics the group consumes.
	Topics []string

	// MaxBatchMessages caps a partition's batch; default DefaultMaxBatchMessages.
	MaxBatchMessages int
	// MaxBatchBytes caps the values and keys fetched before the batches are applied, across
	// partitions; default DefaultMaxBatchBytes. One message is always taken, however large.
	MaxBatchBytes int
	// BatchLinger is how long to wait for more messages once one arrived; default
	// DefaultBatchLinger. Messages already fetched are taken without waiting.
	BatchLinger time.Duration

	// MaxAttempts is how many times a failing batch is tried whole before its messages are
	// tried one at a time, so that those before the failing one are applied and the failure
	// names one message; default DefaultMaxAttempts. A message alone is retried without limit
	// while its error is transient or unknown: attempts never turn an outage into a poison
	// message.
	MaxAttempts int
	// InitialBackoff and MaxBackoff bound the exponential wait between attempts; defaults
	// DefaultInitialBackoff and DefaultMaxBackoff.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// LogInterval is how often an ongoing failure is logged again, with its attempts so far;
	// default DefaultLogInterval. Its start and its end are always logged.
	LogInterval time.Duration

	// DeadLetter sends a message the handler rejected as permanent to DeadLetterTopic(topic)
	// and goes on. Leave it off for streams that must never skip a message, such as blocks:
	// the message's partition then halts at it (see Halt) while the others go on.
	DeadLetter bool
	// DeadLetterReplicationFactor is the replication of the dead-letter topics Run creates when
	// missing; zero means the broker default.
	DeadLetterReplicationFactor int

	// MaxMessageBytes is the largest message the consumer can fetch (and dead-letter); default
	// DefaultMaxMessageBytes.
	MaxMessageBytes int
	// FetchMaxBytes is how much one fetch asks the broker for; default DefaultFetchMaxBytes.
	// A larger message still arrives whole (brokers return the first record batch of a fetch
	// whatever its size, KIP-74), so this bounds the work per fetch, not the message size. It
	// used to be MaxMessageBytes (64 MiB for blocks), and building responses that size took
	// the broker longer than kafka-go waits for a response header (MaxWait) on a loaded
	// machine: the reader timed out, dialled again and fetched the same data again, dozens of
	// times over on a long backlog.
	FetchMaxBytes int
	// MaxWait is how long a fetch waits on the broker for new data; default DefaultMaxWait.
	MaxWait time.Duration
	// CommitTimeout bounds one offset commit; default DefaultCommitTimeout.
	CommitTimeout time.Duration

	// Group membership timings; zero keeps kafka-go's defaults (3 s heartbeat, 30 s session
	// and rebalance timeouts, 5 s join backoff). Tests lower them to rebalance quickly.
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	JoinGroupBackoff  time.Duration

	// Offsets, when set, is where the handler records the offsets it applied, in the same
	// transaction as the data. The consumer then skips redelivered messages the store shows as
	// applied (committing them to Kafka all the same), and before joining an idle group it
	// moves the group's committed offsets up to the stored ones.
	Offsets OffsetStore

	// Logger receives the consumer's log; default none.
	Logger *zap.Logger
	// Registerer receives the consumer's metrics; default none.
	Registerer prometheus.Registerer
}

func (c *ConsumerConfig) setDefaults() {
	setDefault(&c.MaxBatchMessages, DefaultMaxBatchMessages)
	setDefault(&c.MaxBatchBytes, DefaultMaxBatchBytes)
	setDefault(&c.BatchLinger, DefaultBatchLinger)
	setDefault(&c.MaxAttempts, DefaultMaxAttempts)
	setDefault(&c.InitialBackoff, DefaultInitialBackoff)
	setDefault(&c.MaxBackoff, DefaultMaxBackoff)
	setDefault(&c.MaxMessageBytes, DefaultMaxMessageBytes)
	setDefault(&c.MaxWait, DefaultMaxWait)
	setDefault(&c.FetchMaxBytes, DefaultFetchMaxBytes)
	setDefault(&c.CommitTimeout, DefaultCommitTimeout)
	setDefault(&c.LogInterval, DefaultLogInterval)
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Consumer is a consumer group member that fetches, applies through a Handler, and only then
// commits. It commits once per batch, and only the prefix of each partition that was applied,
// skipped as already applied, or dead-lettered, because kafka-go commits the highest offset it
// is given per partition.
//
// Failures are classified by fault.Classify. A transient or unknown one (the database or the
// broker away) is retried without limit with capped exponential backoff; meanwhile Ready
// reports the cause, and the log has one line when it starts, one per LogInterval while it
// lasts, and one when it ends. A permanent one (the handler's Permanent) dead-letters the
// message, or on a stream without DeadLetter halts its partition at the message: see Halt.
// Readiness stays true while a partition is halted, since the service can still serve what it
// has; the halt is an alert of its own (Halts, the halted gauge, an Error line). While one
// partition retries, no new round is fetched for the others: an outage of the database they
// share stalls them alike, and nothing is fetched that could not be applied.
//
// kafka-go rebalances in the background: a partition can move to another member while a batch
// of it is being applied here, and both members then apply that batch. An OffsetStore, or
// idempotent handlers, absorb this; it never loses a message.
type Consumer struct {
	cfg      ConsumerConfig
	handler  Handler
	log      *zap.Logger
	metrics  *consumerMetrics
	readerCf kafkago.ReaderConfig
	dlq      *kafkago.Writer // nil without DeadLetter
	health   *health
	halts    halts
	offsets  appliedOffsets
	stats    readerStats

	mu     sync.Mutex
	reader *kafkago.Reader // set by Run
	closed bool

	started   atomic.Bool
	closeOnce sync.Once
}

// NewConsumer returns a consumer for cfg that applies messages with h. It joins the group only
// when Run is called.
func NewConsumer(cfg ConsumerConfig, h Handler) (*Consumer, error) {
	switch {
	case len(cfg.Brokers) == 0:
		return nil, fmt.Errorf("new consumer of group %q: %w: no brokers", cfg.GroupID, ErrConfig)
	case cfg.GroupID == "":
		return nil, fmt.Errorf("new consumer of topics %v: %w: no group", cfg.Topics, ErrConfig)
	case len(cfg.Topics) == 0:
		return nil, fmt.Errorf("new consumer of group %q: %w: no topics", cfg.GroupID, ErrConfig)
	case h == nil:
		return nil, fmt.Errorf("new consumer of group %q: %w: no handler", cfg.GroupID, ErrConfig)
	}
	cfg.setDefaults()
	m, err := newConsumerMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("new consumer of group %q: %w", cfg.GroupID, err)
	}
	c := &Consumer{
		cfg:     cfg,
		handler: h,
		log:     cfg.Logger.With(zap.String("group", cfg.GroupID)),
		metrics: m,
		offsets: appliedOffsets{store: cfg.Offsets, group: cfg.GroupID, entries: make(map[partition]offsetEntry)},
	}
	ready := m.ready.WithLabelValues(cfg.GroupID)
	c.health = newHealth(c.log, cfg.LogInterval, func(ok bool) { ready.Set(b2f(ok)) })
	c.readerCf = kafkago.ReaderConfig{
		Brokers:     cfg.Brokers,
		GroupID:     cfg.GroupID,
		GroupTopics: cfg.Topics,
		MinBytes:    1,
		MaxBytes:    cfg.FetchMaxBytes,
		MaxWait:     cfg.MaxWait,
		// Zero means synchronous commits: CommitMessages returns once the broker has the
		// offsets, so "committed" in the log and the metrics is true.
		CommitInterval:        0,
		StartOffset:           kafkago.FirstOffset,
		WatchPartitionChanges: true,
		HeartbeatInterval:     cfg.HeartbeatInterval,
		SessionTimeout:        cfg.SessionTimeout,
		RebalanceTimeout:      cfg.RebalanceTimeout,
		JoinGroupBackoff:      cfg.JoinGroupBackoff,
		// kafka-go logs every failed dial, join and heartbeat while a broker is away: those
		// lines feed the consumer's readiness and its rate-bounded log instead of flooding.
		ErrorLogger: kafkago.LoggerFunc(c.clientError),
		Dialer:      cfg.Security.Dialer(),
	}
	if err := c.readerCf.Validate(); err != nil {
		return nil, fmt.Errorf("new consumer of group %q: %w: %w", cfg.GroupID, ErrConfig, err)
	}
	if cfg.DeadLetter {
		c.dlq = NewWriter(WriterConfig{
			Brokers:         cfg.Brokers,
			MaxMessageBytes: cfg.MaxMessageBytes + deadLetterHeadroom,
			Logger:          cfg.Logger,
			Security:        cfg.Security,
		})
	}
	return c, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// errStopped reports that the run context ended while waiting; it never leaves the package.
var errStopped = errors.New("consumer stopped")

// Run consumes until ctx is done, then finishes and commits the batch in flight, leaves the
// group and returns nil. Failures do not end it: they are retried, dead-lettered or halt a
// partition (see Consumer). Run closes the consumer when it returns and may be called once.
func (c *Consumer) Run(ctx context.Context) (err error) {
	if !c.started.CompareAndSwap(false, true) {
		return ErrConsumerClosed
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	c.health.setRunning(true)
	defer c.health.setRunning(false)

	if c.dlq != nil {
		if err := c.ensureDeadLetterTopics(ctx); err != nil {
			return nil // only errStopped ends the retries
		}
	}
	if err := c.awaitTopics(ctx); err != nil {
		return nil // only errStopped ends the wait
	}
	c.seedGroupOffsets(ctx)
	reader, err := c.startReader()
	if err != nil {
		return err
	}
	c.log.Info("consumer started", zap.Strings("topics", c.cfg.Topics))
	defer c.log.Info("consumer stopped")

	wctx, stopWatch := context.WithCancel(ctx)
	var watch sync.WaitGroup
	watch.Go(func() { c.watchFetches(wctx, reader) })
	defer watch.Wait()
	defer stopWatch()

	for {
		r, ferr := c.fetchRound(ctx, reader)
		if len(r.order) > 0 {
			c.applyRound(ctx, reader, r)
		}
		switch {
		case errors.Is(ferr, errStopped):
			return nil
		case ferr != nil:
			return ferr
		case ctx.Err() != nil:
			return nil
		}
	}
}

// Ready returns nil while the consumer runs without an ongoing failure, and otherwise an error
// naming each cause: the fetch, apply or commit that is being retried, with the topic,
// partition and offset, for how long and after how many attempts. It is meant for readiness
// checks (app.Server.AddCheck). A halted partition does not make the consumer unready.
func (c *Consumer) Ready() error {
	if err := c.health.err(); err != nil {
		return fmt.Errorf("consumer of group %s: %w", c.cfg.GroupID, err)
	}
	return nil
}

// Halts returns the partitions halted at a message the handler rejected, by topic and
// partition. They stay halted until the consumer is replaced.
func (c *Consumer) Halts() []Halt { return c.halts.list() }

// Close leaves the group and releases the consumer's connections. Run calls it on return; a
// consumer that was never run must be closed by its owner. Close is idempotent.
func (c *Consumer) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.started.Store(true)
		c.mu.Lock()
		c.closed = true
		reader := c.reader
		c.mu.Unlock()
		if reader != nil {
			err = reader.Close()
		}
		if c.dlq != nil {
			err = errors.Join(err, c.dlq.Close())
		}
	})
	return err
}

// startReader creates the group reader, which joins the group at once.
func (c *Consumer) startReader() (*kafkago.Reader, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrConsumerClosed
	}
	c.reader = kafkago.NewReader(c.readerCf)
	return c.reader, nil
}

// ensureDeadLetterTopics creates the dead-letter topics before anything needs them: writers do
// not create topics, and finding one missing only when a bad message arrives would stop the
// stream. They get one partition (dead letters are rare and read by people) and room for the
// largest message plus the dlq-* headers. It retries until it succeeds or ctx ends
// (errStopped).
func (c *Consumer) ensureDeadLetterTopics(ctx context.Context) error {
	specs := make([]TopicSpec, len(c.cfg.Topics))
	for i, t := range c.cfg.Topics {
		specs[i] = TopicSpec{
			Name:              DeadLetterTopic(t),
			Partitions:        1,
			ReplicationFactor: c.cfg.DeadLetterReplicationFactor,
			Configs: map[string]string{
				"max.message.bytes": strconv.Itoa(c.cfg.MaxMessageBytes + deadLetterHeadroom),
			},
		}
	}
	const key = "create dead-letter topics"
	b := c.newBackoff()
	for {
		err := EnsureTopicsWith(ctx, c.cfg.Security, c.cfg.Brokers, specs...)
		switch {
		case err == nil:
			c.health.ok(key)
			return nil
		case ctx.Err() != nil:
			return errStopped
		}
		c.health.fail(key, fmt.Errorf("create dead-letter topics of group %s: %w", c.cfg.GroupID, err),
			zap.String("stage", "dead-letter"), zap.Stringer("class", fault.Classify(err)))
		if !sleep(ctx, b.NextBackOff()) {
			return errStopped
		}
	}
}

// awaitTopics waits until every topic the consumer reads exists, its producer having created
// it. A group that joins before a topic exists is assigned none of its partitions, and
// kafka-go's partition watcher does not notice the topic appear: the consumer would wait
// forever on an empty assignment (seen when export started before stash's first run created
// the blocks topic). Meanwhile the consumer is not ready and says which topic it waits for.
func (c *Consumer) awaitTopics(ctx context.Context) error {
	const key = "await topics"
	transport := c.cfg.Security.Transport()
	defer transport.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(c.cfg.Brokers...), Timeout: c.cfg.CommitTimeout, Transport: transport}
	b := c.newBackoff()
	for {
		missing, err := missingTopics(ctx, client, c.cfg.Topics)
		switch {
		case err == nil && len(missing) == 0:
			c.health.ok(key)
			return nil
		case ctx.Err() != nil:
			return errStopped
		case err == nil:
			err = fmt.Errorf("topics %s do not exist yet (their producers create them)", strings.Join(missing, ", "))
		}
		c.health.fail(key, fmt.Errorf("group %s waits for its topics: %w", c.cfg.GroupID, err), zap.String("stage", "topics"))
		if !sleep(ctx, b.NextBackOff()) {
			return errStopped
		}
	}
}

// missingTopics returns those of topics the brokers do not have.
func missingTopics(ctx context.Context, client *kafkago.Client, topics []string) ([]string, error) {
	md, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, t := range md.Topics {
		if t.Error == nil && len(t.Partitions) > 0 {
			have[t.Name] = true
		}
	}
	var missing []string
	for _, t := range topics {
		if !have[t] {
			missing = append(missing, t)
		}
	}
	return missing, nil
}

// partition identifies a topic partition.
type partition struct {
	topic string
	id    int
}

// round is what one fetch pass collected: a batch per partition, in the order partitions
// first appeared.
type round struct {
	batches map[partition][]kafkago.Message
	order   []partition
	bytes   int
	longest int
}

func (r *round) add(m kafkago.Message) {
	p := partition{topic: m.Topic, id: m.Partition}
	b, ok := r.batches[p]
	if !ok {
		r.order = append(r.order, p)
	}
	b = append(b, m)
	r.batches[p] = b
	r.bytes += len(m.Key) + len(m.Value)
	r.longest = max(r.longest, len(b))
}

// fetchRound waits for a message, then takes more until a partition's batch or the byte budget
// is full or the linger ends. Its error is errStopped when ctx ended, and ErrConsumerClosed
// when the reader was closed; the round holds what was fetched either way.
func (c *Consumer) fetchRound(ctx context.Context, reader *kafkago.Reader) (*round, error) {
	r := &round{batches: make(map[partition][]kafkago.Message)}
	m, err := c.fetchFirst(ctx, reader)
	if err != nil {
		return r, err
	}
	r.add(m)
	lctx, cancel := context.WithTimeout(ctx, c.cfg.BatchLinger)
	defer cancel()
	for r.longest < c.cfg.MaxBatchMessages && r.bytes < c.cfg.MaxBatchBytes {
		m, err := reader.FetchMessage(lctx)
		if err != nil {
			if lctx.Err() != nil {
				break // the linger ended or the consumer is stopping: apply what we have
			}
			if errors.Is(err, io.EOF) {
				return r, ErrConsumerClosed
			}
			// Apply what we have; fetchFirst backs off if the error persists.
			c.fetchFailed(err)
			break
		}
		if c.halts.drops(m) {
			continue
		}
		r.add(m)
	}
	return r, nil
}

// fetchFirst blocks for the next message of a partition that is not halted, backing off on
// fetch errors, which kafka-go reports while a broker or the group coordinator is unavailable
// and then recovers from.
func (c *Consumer) fetchFirst(ctx context.Context, reader *kafkago.Reader) (kafkago.Message, error) {
	b := c.newBackoff()
	for {
		m, err := reader.FetchMessage(ctx)
		switch {
		case err == nil:
			c.health.ok(fetchKey)
			if c.halts.drops(m) {
				continue // refetched after a restart; dropped here so the halt holds
			}
			return m, nil
		case ctx.Err() != nil:
			return kafkago.Message{}, errStopped
		case errors.Is(err, io.EOF):
			return kafkago.Message{}, ErrConsumerClosed
		}
		c.fetchFailed(err)
		if !sleep(ctx, b.NextBackOff()) {
			return kafkago.Message{}, errStopped
		}
	}
}

// applyResult is how far a partition's batch got: its first applied messages were applied,
// skipped or dead-lettered.
type applyResult struct {
	applied int
}

// applyRound applies every partition's batch, concurrently across partitions, then commits the
// applied prefixes in one request.
func (c *Consumer) applyRound(ctx context.Context, reader *kafkago.Reader, r *round) {
	epoch := c.stats.poll(reader).rebalances
	results := make([]applyResult, len(r.order))
	var wg sync.WaitGroup
	for i, p := range r.order {
		wg.Go(func() { results[i] = c.applyPartition(ctx, p, r.batches[p], epoch) })
	}
	wg.Wait()

	var commits []kafkago.Message
	for i, p := range r.order {
		if n := results[i].applied; n > 0 {
			commits = append(commits, r.batches[p][n-1])
		}
	}
	c.commit(ctx, reader, commits)
}

// applyPartition applies one partition's batch. When the batch fails permanently, or keeps
// failing MaxAttempts times, it tries the messages one by one, so the message at fault is
// found and everything before it is applied.
func (c *Consumer) applyPartition(ctx context.Context, p partition, msgs []kafkago.Message, epoch uint64) applyResult {
	key := applyKey(p)
	_, err := c.attempt(ctx, p, msgs, epoch, c.cfg.MaxAttempts)
	switch {
	case err == nil:
		c.health.ok(key)
		return applyResult{applied: len(msgs)}
	case errors.Is(err, errStopped):
		return applyResult{}
	}
	if len(msgs) > 1 {
		first := msgs[0]
		c.log.Warn("isolate failing batch", zap.String("topic", first.Topic), zap.Int("partition", first.Partition),
			zap.Int64("offset", first.Offset), zap.Int("messages", len(msgs)), zap.Error(err))
	}
	// The outage, if any, goes on while the messages before the failing one are applied alone:
	// it ends when the whole batch is done or a message is rejected.
	for i := range msgs {
		attempts, err := c.attempt(ctx, p, msgs[i:i+1], epoch, 0)
		switch {
		case err == nil:
			continue
		case errors.Is(err, errStopped):
			return applyResult{applied: i}
		}
		c.health.ok(key)
		if !c.reject(ctx, msgs[i], attempts, err) {
			return applyResult{applied: i}
		}
	}
	c.health.ok(key)
	return applyResult{applied: len(msgs)}
}

func applyKey(p partition) string { return "apply " + p.topic + "/" + partitionLabel(p.id) }

// attempt applies msgs until it succeeds or fails permanently, and returns the attempts made;
// its failures start or extend the partition's outage, which the caller ends.
// With limit > 0 it also gives up after limit attempts. Once ctx is done it stops retrying with
// errStopped, but a first attempt is always made so that the batch in flight at shutdown is
// applied.
func (c *Consumer) attempt(ctx context.Context, p partition, msgs []kafkago.Message, epoch uint64, limit int) (int, error) {
	key := applyKey(p)
	first := msgs[0]
	hctx := context.WithoutCancel(ctx)
	b := c.newBackoff()
	for n := 1; ; n++ {
		err := c.applyOnce(hctx, p, msgs, epoch)
		if err == nil {
			return n, nil
		}
		class := fault.Classify(err)
		if !class.Retry() {
			return n, err
		}
		c.metrics.retries.WithLabelValues(c.cfg.GroupID, p.topic).Inc()
		c.health.fail(key, fmt.Errorf("apply topic %s partition %d offset %d (%s error): %w", p.topic, p.id, first.Offset, class, err),
			zap.String("stage", "apply"), zap.String("topic", p.topic), zap.Int("partition", p.id),
			zap.Int64("offset", first.Offset), zap.Int("messages", len(msgs)), zap.Stringer("class", class))
		if limit > 0 && n >= limit {
			return n, err
		}
		if !sleep(ctx, b.NextBackOff()) {
			return n, errStopped
		}
	}
}

// applyOnce hands the handler the messages of msgs the offset store does not show as applied.
func (c *Consumer) applyOnce(ctx context.Context, p partition, msgs []kafkago.Message, epoch uint64) error {
	todo, err := c.offsets.unapplied(ctx, p, msgs, epoch)
	if err != nil {
		return err
	}
	if skipped := len(msgs) - len(todo); skipped > 0 {
		c.metrics.skipped.WithLabelValues(c.cfg.GroupID, p.topic).Add(float64(skipped))
		c.log.Info("skip applied messages", zap.String("topic", p.topic), zap.Int("partition", p.id),
			zap.Int64("offset", msgs[0].Offset), zap.Int("messages", skipped))
	}
	if len(todo) == 0 {
		return nil
	}
	if err := c.handler.Handle(ctx, todo); err != nil {
		c.offsets.forget(p) // the transaction may have committed before the error reached us
		return err
	}
	c.offsets.applied(p, todo[len(todo)-1].Offset+1)
	c.metrics.applied.WithLabelValues(c.cfg.GroupID, p.topic).Add(float64(len(todo)))
	return nil
}

// reject deals with a message the handler rejected as permanent: it dead-letters it and
// reports true, so that it is committed, or without a dead-letter topic halts its partition
// and reports false. It also reports false when ctx ended before the dead letter was written.
func (c *Consumer) reject(ctx context.Context, m kafkago.Message, attempts int, cause error) bool {
	if c.dlq == nil {
		ae := &ApplyError{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Attempts: attempts, Err: cause}
		h := newHalt(m, ae, time.Now())
		if c.halts.add(h) {
			c.metrics.halted.WithLabelValues(c.cfg.GroupID, m.Topic, partitionLabel(m.Partition)).Set(1)
			fields := []zap.Field{zap.String("topic", m.Topic), zap.Int("partition", m.Partition), zap.Int64("offset", m.Offset)}
			if h.HasBlock {
				fields = append(fields, zap.Uint64("block", h.Block))
			}
			c.log.Error("partition halted at rejected message", append(fields, zap.Error(cause))...)
		}
		return false
	}
	dl := deadLetter(m, attempts, cause, time.Now())
	key := "dead-letter " + m.Topic + "/" + partitionLabel(m.Partition)
	b := c.newBackoff()
	for {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deadLetterTimeout)
		err := c.dlq.WriteMessages(dctx, dl)
		cancel()
		if err == nil {
			c.health.ok(key)
			break
		}
		c.health.fail(key, fmt.Errorf("dead-letter message of topic %s partition %d at offset %d to %s: %w",
			m.Topic, m.Partition, m.Offset, dl.Topic, err),
			zap.String("stage", "dead-letter"), zap.String("topic", m.Topic), zap.Int("partition", m.Partition),
			zap.Int64("offset", m.Offset))
		if !sleep(ctx, b.NextBackOff()) {
			return false
		}
	}
	c.metrics.deadLettered.WithLabelValues(c.cfg.GroupID, m.Topic).Inc()
	c.log.Warn("message dead-lettered", zap.String("topic", m.Topic), zap.Int("partition", m.Partition),
		zap.Int64("offset", m.Offset), zap.Int("attempts", attempts), zap.Error(cause))
	return true
}

// deadLetter returns m addressed to its dead-letter topic, with its key, value and headers and
// the dlq-* headers naming the cause and the origin. dlq-* headers m already had (it came from a
// dead-letter topic itself) are replaced so that each key appears once.
func deadLetter(m kafkago.Message, attempts int, cause error, now time.Time) kafkago.Message {
	headers := make([]kafkago.Header, 0, len(m.Headers)+6)
	for _, h := range m.Headers {
		switch h.Key {
		case HeaderDLQError, HeaderDLQOriginTopic, HeaderDLQOriginPartition, HeaderDLQOriginOffset,
			HeaderDLQAttempts, HeaderDLQTime:
			continue
		}
		headers = append(headers, h)
	}
	headers = append(headers,
		kafkago.Header{Key: HeaderDLQError, Value: []byte(cause.Error())},
		kafkago.Header{Key: HeaderDLQOriginTopic, Value: []byte(m.Topic)},
		kafkago.Header{Key: HeaderDLQOriginPartition, Value: strconv.AppendInt(nil, int64(m.Partition), 10)},
		kafkago.Header{Key: HeaderDLQOriginOffset, Value: strconv.AppendInt(nil, m.Offset, 10)},
		kafkago.Header{Key: HeaderDLQAttempts, Value: strconv.AppendInt(nil, int64(attempts), 10)},
		kafkago.Header{Key: HeaderDLQTime, Value: now.UTC().AppendFormat(nil, time.RFC3339Nano)},
	)
	return kafkago.Message{Topic: DeadLetterTopic(m.Topic), Key: m.Key, Value: m.Value, Headers: headers}
}

// commitKey is the health key of offset commits.
const commitKey = "commit"

// commit commits the given last-applied messages. A failed commit is not retried: the messages
// were applied, at worst they are delivered again and skipped or re-applied idempotently, and
// the next batch's commit covers them. It makes the consumer unready until a commit succeeds.
// The commit outlives ctx so that the batch finished at shutdown is recorded.
func (c *Consumer) commit(ctx context.Context, reader *kafkago.Reader, msgs []kafkago.Message) {
	if len(msgs) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.CommitTimeout)
	defer cancel()
	if err := reader.CommitMessages(cctx, msgs...); err != nil {
		m := msgs[0]
		c.health.fail(commitKey, fmt.Errorf("commit offsets of %d partitions: %w", len(msgs), err),
			zap.String("stage", "commit"), zap.String("topic", m.Topic), zap.Int("partition", m.Partition),
			zap.Int64("offset", m.Offset+1))
		return
	}
	c.health.ok(commitKey)
}

func (c *Consumer) newBackoff() *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(c.cfg.InitialBackoff),
		backoff.WithMaxInterval(c.cfg.MaxBackoff),
		backoff.WithMaxElapsedTime(0),
	)
}

// sleep waits d or until ctx is done, reporting whether it waited the full d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
