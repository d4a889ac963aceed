package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Handler applies messages. Each call gets a batch from one partition in offset order and must
// apply all of it or none of it (one database transaction), because the Consumer retries a
// failed batch whole. Batches of different partitions may be handled concurrently; batches of
// one partition never are. Handling must be idempotent: after a crash or a rebalance a message
// can be delivered again.
//
// The context is not cancelled when the consumer is asked to stop, so the batch in flight can
// finish and be committed; a handler that can block should bound its own waits.
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
	DefaultCommitTimeout    = 10 * time.Second
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

	// MaxAttempts is how many times a batch, and then each of its messages alone, is tried
	// before the message is dead-lettered or the consumer stops; default DefaultMaxAttempts.
	MaxAttempts int
	// InitialBackoff and MaxBackoff bound the exponential wait between attempts; defaults
	// DefaultInitialBackoff and DefaultMaxBackoff.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration

	// DeadLetter sends a message that exhausted its attempts to DeadLetterTopic(topic) and goes
	// on. Leave it off for streams that must never skip a message, such as blocks: the
	// consumer then stops at the message with an *ApplyError.
	DeadLetter bool
	// DeadLetterReplicationFactor is the replication of the dead-letter topics Run creates when
	// missing; zero means the broker default.
	DeadLetterReplicationFactor int

	// MaxMessageBytes is the largest message the consumer can fetch (and dead-letter); default
	// DefaultMaxMessageBytes.
	MaxMessageBytes int
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

	// Logger receives the consumer's log; default none.
	Logger *zap.Logger
	// Registerer receives the consumer's counters; default none.
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
	setDefault(&c.CommitTimeout, DefaultCommitTimeout)
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
// commits. It commits once per batch, and only the prefix of each partition that was applied or
// dead-lettered, because kafka-go commits the highest offset it is given per partition.
//
// kafka-go rebalances in the background: a partition can move to another member while a batch
// of it is being applied here, and both members then apply that batch. Idempotent handlers
// absorb this; it never loses a message.
type Consumer struct {
	cfg     ConsumerConfig
	handler Handler
	log     *zap.Logger
	metrics *consumerMetrics
	reader  *kafkago.Reader
	dlq     *kafkago.Writer // nil without DeadLetter

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
	rc := kafkago.ReaderConfig{
		Brokers:     cfg.Brokers,
		GroupID:     cfg.GroupID,
		GroupTopics: cfg.Topics,
		MinBytes:    1,
		MaxBytes:    cfg.MaxMessageBytes,
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
		ErrorLogger:           errorLogger(cfg.Logger),
	}
	if err := rc.Validate(); err != nil {
		return nil, fmt.Errorf("new consumer of group %q: %w: %w", cfg.GroupID, ErrConfig, err)
	}
	c := &Consumer{
		cfg:     cfg,
		handler: h,
		log:     cfg.Logger.With(zap.String("group", cfg.GroupID)),
		metrics: m,
		reader:  kafkago.NewReader(rc),
	}
	if cfg.DeadLetter {
		c.dlq = NewWriter(WriterConfig{
			Brokers:         cfg.Brokers,
			MaxMessageBytes: cfg.MaxMessageBytes + deadLetterHeadroom,
			Logger:          cfg.Logger,
		})
	}
	return c, nil
}

// errStopped reports that the run context ended while waiting; it never leaves the package.
var errStopped = errors.New("consumer stopped")

// Run consumes until ctx is done, then finishes and commits the batch in flight, leaves the
// group and returns nil. It returns early with an error when a message cannot be applied and no
// dead-letter topic is configured (an *ApplyError), or when a dead-letter publication fails.
// Run closes the consumer when it returns and may be called once.
func (c *Consumer) Run(ctx context.Context) (err error) {
	if !c.started.CompareAndSwap(false, true) {
		return ErrConsumerClosed
	}
	defer func() { err = errors.Join(err, c.Close()) }()

	if c.dlq != nil {
		if err := c.ensureDeadLetterTopics(ctx); err != nil {
			if errors.Is(err, errStopped) {
				return nil
			}
			return err
		}
	}
	c.log.Info("consumer started", zap.Strings("topics", c.cfg.Topics))
	defer c.log.Info("consumer stopped")
	for {
		r, ferr := c.fetchRound(ctx)
		if len(r.order) > 0 {
			if err := c.applyRound(ctx, r); err != nil {
				return err
			}
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

// Close leaves the group and releases the consumer's connections. Run calls it on return; a
// consumer that was never run must be closed by its owner. Close is idempotent.
func (c *Consumer) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.started.Store(true)
		err = c.reader.Close()
		if c.dlq != nil {
			err = errors.Join(err, c.dlq.Close())
		}
	})
	return err
}

// ensureDeadLetterTopics creates the dead-letter topics before anything needs them: writers do
// not create topics, and finding one missing only when a bad message arrives would stop the
// stream. They get one partition (dead letters are rare and read by people) and room for the
// largest message plus the dlq-* headers.
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
	b := c.newBackoff()
	for attempt := 1; ; attempt++ {
		err := EnsureTopics(ctx, c.cfg.Brokers, specs...)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return errStopped
		}
		if attempt >= c.cfg.MaxAttempts {
			return fmt.Errorf("create dead-letter topics of group %s: %w", c.cfg.GroupID, err)
		}
		c.log.Warn("retry dead-letter topic creation", zap.Int("attempt", attempt), zap.Error(err))
		if !sleep(ctx, b.NextBackOff()) {
			return errStopped
		}
	}
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
// is full or the linger ends. Its error is errStopped when ctx ended, and anything else is fatal;
// the round holds what was fetched either way.
func (c *Consumer) fetchRound(ctx context.Context) (*round, error) {
	r := &round{batches: make(map[partition][]kafkago.Message)}
	m, err := c.fetchFirst(ctx)
	if err != nil {
		return r, err
	}
	r.add(m)
	lctx, cancel := context.WithTimeout(ctx, c.cfg.BatchLinger)
	defer cancel()
	for r.longest < c.cfg.MaxBatchMessages && r.bytes < c.cfg.MaxBatchBytes {
		m, err := c.reader.FetchMessage(lctx)
		if err != nil {
			if lctx.Err() != nil {
				break // the linger ended or the consumer is stopping: apply what we have
			}
			if errors.Is(err, io.EOF) {
				return r, ErrConsumerClosed
			}
			// Apply what we have; fetchFirst backs off if the error persists.
			c.log.Warn("fetch message", zap.Error(err))
			break
		}
		r.add(m)
	}
	return r, nil
}

// fetchFirst blocks for the next message, backing off on fetch errors, which kafka-go reports
// while a broker or the group coordinator is unavailable and then recovers from.
func (c *Consumer) fetchFirst(ctx context.Context) (kafkago.Message, error) {
	b := c.newBackoff()
	for {
		m, err := c.reader.FetchMessage(ctx)
		switch {
		case err == nil:
			return m, nil
		case ctx.Err() != nil:
			return kafkago.Message{}, errStopped
		case errors.Is(err, io.EOF):
			return kafkago.Message{}, ErrConsumerClosed
		}
		c.log.Warn("fetch message", zap.Error(err))
		if !sleep(ctx, b.NextBackOff()) {
			return kafkago.Message{}, errStopped
		}
	}
}

// applyResult is how far a partition's batch got: its first applied messages were applied or
// dead-lettered, and err, if set, stops the consumer.
type applyResult struct {
	applied int
	err     error
}

// applyRound applies every partition's batch, concurrently across partitions, then commits the
// applied prefixes in one request.
func (c *Consumer) applyRound(ctx context.Context, r *round) error {
	results := make([]applyResult, len(r.order))
	var wg sync.WaitGroup
	for i, p := range r.order {
		wg.Go(func() { results[i] = c.applyPartition(ctx, r.batches[p]) })
	}
	wg.Wait()

	var (
		commits []kafkago.Message
		errs    []error
	)
	for i, p := range r.order {
		if n := results[i].applied; n > 0 {
			commits = append(commits, r.batches[p][n-1])
		}
		if results[i].err != nil {
			errs = append(errs, results[i].err)
		}
	}
	c.commit(ctx, commits)
	return errors.Join(errs...)
}

// applyPartition applies one partition's batch. When the batch keeps failing it retries the
// messages one by one, so the message at fault is found and everything before it is applied.
func (c *Consumer) applyPartition(ctx context.Context, msgs []kafkago.Message) applyResult {
	attempts, err := c.attempt(ctx, msgs)
	switch {
	case err == nil:
		return applyResult{applied: len(msgs)}
	case errors.Is(err, errStopped):
		return applyResult{}
	case len(msgs) == 1:
		if ferr := c.giveUp(ctx, msgs[0], attempts, err); ferr != nil {
			return applyResult{err: ferr}
		}
		return applyResult{applied: 1}
	}
	first := msgs[0]
	c.log.Warn("isolate failing batch", zap.String("topic", first.Topic), zap.Int("partition", first.Partition),
		zap.Int64("offset", first.Offset), zap.Int("messages", len(msgs)), zap.Error(err))
	for i := range msgs {
		attempts, err := c.attempt(ctx, msgs[i:i+1])
		switch {
		case err == nil:
			continue
		case errors.Is(err, errStopped):
			return applyResult{applied: i}
		}
		if ferr := c.giveUp(ctx, msgs[i], attempts, err); ferr != nil {
			return applyResult{applied: i, err: ferr}
		}
	}
	return applyResult{applied: len(msgs)}
}

// attempt calls the handler up to MaxAttempts times, fewer for a permanent error, and returns
// the attempts made. It stops retrying with errStopped once ctx is done, but a first attempt
// is always made so that the batch in flight at shutdown is applied.
func (c *Consumer) attempt(ctx context.Context, msgs []kafkago.Message) (int, error) {
	first := msgs[0]
	hctx := context.WithoutCancel(ctx)
	b := c.newBackoff()
	for n := 1; ; n++ {
		err := c.handler.Handle(hctx, msgs)
		if err == nil {
			c.metrics.applied.WithLabelValues(c.cfg.GroupID, first.Topic).Add(float64(len(msgs)))
			return n, nil
		}
		if n >= c.cfg.MaxAttempts || errors.Is(err, ErrPermanent) {
			return n, err
		}
		c.metrics.retries.WithLabelValues(c.cfg.GroupID, first.Topic).Inc()
		c.log.Warn("retry batch", zap.String("topic", first.Topic), zap.Int("partition", first.Partition),
			zap.Int64("offset", first.Offset), zap.Int("messages", len(msgs)), zap.Int("attempt", n), zap.Error(err))
		if !sleep(ctx, b.NextBackOff()) {
			return n, errStopped
		}
	}
}

// giveUp handles a message that exhausted its attempts: it dead-letters it, or without a
// dead-letter topic returns the *ApplyError that stops the consumer before the message.
func (c *Consumer) giveUp(ctx context.Context, m kafkago.Message, attempts int, cause error) error {
	if c.dlq == nil {
		return &ApplyError{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Attempts: attempts, Err: cause}
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deadLetterTimeout)
	defer cancel()
	dl := deadLetter(m, attempts, cause, time.Now())
	if err := c.dlq.WriteMessages(dctx, dl); err != nil {
		return fmt.Errorf("dead-letter message of topic %s partition %d at offset %d to %s: %w",
			m.Topic, m.Partition, m.Offset, dl.Topic, err)
	}
	c.metrics.deadLettered.WithLabelValues(c.cfg.GroupID, m.Topic).Inc()
	c.log.Warn("message dead-lettered", zap.String("topic", m.Topic), zap.Int("partition", m.Partition),
		zap.Int64("offset", m.Offset), zap.Int("attempts", attempts), zap.Error(cause))
	return nil
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

// commit commits the given last-applied messages. A failed commit is logged, not fatal: the
// messages were applied, and at worst they are delivered again to an idempotent handler.
// The commit outlives ctx so that the batch finished at shutdown is recorded.
func (c *Consumer) commit(ctx context.Context, msgs []kafkago.Message) {
	if len(msgs) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.CommitTimeout)
	defer cancel()
	if err := c.reader.CommitMessages(cctx, msgs...); err != nil {
		for _, m := range msgs {
			c.log.Warn("commit offset", zap.String("topic", m.Topic), zap.Int("partition", m.Partition),
				zap.Int64("offset", m.Offset+1), zap.Error(err))
		}
	}
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
