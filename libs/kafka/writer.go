package kafka

import (
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// MaxBlockMessageBytes is the largest message on the bus: one verified block, published whole
// (a block is never split or dropped). It is the one figure the producer (stash's writer), the
// consumers and topic creation share; a 12 MiB block has been seen on a real chain, so it leaves
// room. Kafka's own default of 1 MiB is far too small: the broker's message.max.bytes and each
// topic's max.message.bytes must be at least this big.
const MaxBlockMessageBytes = 64 << 20

// DefaultMaxMessageBytes is the message size the writer and the consumer accept unless
// configured otherwise: MaxBlockMessageBytes.
const DefaultMaxMessageBytes = MaxBlockMessageBytes

// DefaultBatchTimeout is how long the writer waits to fill a batch. kafka-go's default of 1 s
// would make every synchronous single-message write take a second.
const DefaultBatchTimeout = 5 * time.Millisecond

// WriterConfig configures NewWriter.
type WriterConfig struct {
	// Brokers is the bootstrap list; it must not be empty.
	Brokers []string
	// Topic, if set, is the topic of every message; otherwise each message names its own.
	Topic string
	// MaxMessageBytes caps a produce batch, and so a message; default DefaultMaxMessageBytes.
	MaxMessageBytes int
	// BatchTimeout bounds how long a message waits for its batch; default DefaultBatchTimeout.
	BatchTimeout time.Duration
	// BatchSize caps the messages in one batch; default kafka-go's 100.
	BatchSize int
	// Compression is the batch codec; default none.
	Compression kafkago.Compression
	// Logger receives the client's error log; default none.
	Logger *zap.Logger
	// Security is TLS and SASL to the brokers; default plaintext.
	Security Security
}

// NewWriter returns a synchronous writer that waits for all in-sync replicas, routes a key
// always to the same partition (murmur2, as the Java client does), accepts messages up to
// MaxMessageBytes and never creates topics: a misspelt topic is an error, not a new topic.
// It panics if Brokers is empty, which is a wiring bug. Close it to release its connections.
func NewWriter(cfg WriterConfig) *kafkago.Writer {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = DefaultBatchTimeout
	}
	// kafka.NewWriter rather than a Writer literal: only then does Writer.Close also close the
	// writer's transport, whose connection goroutines would otherwise outlive it.
	w := kafkago.NewWriter(kafkago.WriterConfig{
		Brokers:      cfg.Brokers,
		Topic:        cfg.Topic,
		Balancer:     &kafkago.Murmur2Balancer{},
		BatchSize:    cfg.BatchSize,
		BatchBytes:   cfg.MaxMessageBytes,
		BatchTimeout: cfg.BatchTimeout,
		RequiredAcks: int(kafkago.RequireAll),
		Dialer:       cfg.Security.Dialer(),
	})
	w.RequiredAcks = kafkago.RequireAll
	w.AllowAutoTopicCreation = false
	w.Compression = cfg.Compression
	if cfg.Logger != nil {
		w.ErrorLogger = errorLogger(cfg.Logger)
	}
	return w
}

// errorLogger adapts kafka-go's printf-style error log to zap under one constant message.
func errorLogger(l *zap.Logger) kafkago.Logger {
	return kafkago.LoggerFunc(func(format string, args ...any) {
		l.Warn("kafka client error", zap.String("detail", fmt.Sprintf(format, args...)))
	})
}
