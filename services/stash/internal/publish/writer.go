package publish

import (
	"context"
	"fmt"
	"strconv"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/kafka"
)

// DefaultMaxMessageBytes is the largest message the stash writes unless configured otherwise:
// a block is published whole or the stream stops, never truncated or dropped, so the topics
// are created with this limit and the writer batches up to it.
const DefaultMaxMessageBytes = kafka.MaxBlockMessageBytes

// Config configures a Publisher.
type Config struct {
	Brokers []string
	Chain   Chain
	// Partitions and ReplicationFactor are used when the topics are created.
	Partitions        int
	ReplicationFactor int
	// MaxMessageBytes bounds a message; default DefaultMaxMessageBytes.
	MaxMessageBytes int
	Logger          *zap.Logger
}

// Publisher writes block and state messages.
type Publisher struct {
	cfg Config
	w   *kafkago.Writer
}

// New returns a publisher; call EnsureTopics before the first Publish.
func New(cfg Config) *Publisher {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	w := kafka.NewWriter(kafka.WriterConfig{
		Brokers:         cfg.Brokers,
		MaxMessageBytes: cfg.MaxMessageBytes,
		BatchSize:       1000,
		Logger:          cfg.Logger,
	})
	return &Publisher{cfg: cfg, w: w}
}

// EnsureTopics creates the blocks and state topics when missing, with the configured partitions
// and a message size limit large enough for any block the writer accepts.
func (p *Publisher) EnsureTopics(ctx context.Context) error {
	cfgs := map[string]string{"max.message.bytes": strconv.Itoa(p.cfg.MaxMessageBytes)}
	return kafka.EnsureTopics(ctx, p.cfg.Brokers,
		kafka.TopicSpec{Name: p.cfg.Chain.BlocksTopic(), Partitions: p.cfg.Partitions, ReplicationFactor: p.cfg.ReplicationFactor, Configs: cfgs},
		kafka.TopicSpec{Name: p.cfg.Chain.StateTopic(), Partitions: p.cfg.Partitions, ReplicationFactor: p.cfg.ReplicationFactor, Configs: cfgs},
	)
}

// Publish writes msgs and returns once every broker in the in-sync set has them.
func (p *Publisher) Publish(ctx context.Context, msgs []kafkago.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		first, _ := kafka.ParseBlockKey(msgs[0].Key)
		last, _ := kafka.ParseBlockKey(msgs[len(msgs)-1].Key)
		return fmt.Errorf("publish blocks %d-%d (%d messages): %w", first, last, len(msgs), err)
	}
	return nil
}

// Close flushes and closes the writer.
func (p *Publisher) Close() error { return p.w.Close() }
