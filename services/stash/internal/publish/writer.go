package publish

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/bcosdata/bcosdata/libs/kafka"
)

// DefaultMaxMessageBytes is the largest message the stash writes unless configured otherwise:
// a block is published whole or the stream stops, never truncated or dropped, so the topics
// are created with this limit and the writer batches up to it.
const DefaultMaxMessageBytes = kafka.MaxBlockMessageBytes

// Config configures a Publisher.
type Config struct {
	Brokers []string
	// Security is TLS and SASL to the brokers.
	Security kafka.Security
	Chain    Chain
	// Partitions and ReplicationFactor are used when the topics are created.
	Partitions        int
	ReplicationFactor int
	// MaxMessageBytes bounds a message; default DefaultMaxMessageBytes.
	MaxMessageBytes int
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
	// No error log for the writer: every failure comes back from Publish, which the caller
	// reports at a bounded rate, while kafka-go's own log repeats each one.
	w := kafka.NewWriter(kafka.WriterConfig{
		Brokers:         cfg.Brokers,
		Security:        cfg.Security,
		MaxMessageBytes: cfg.MaxMessageBytes,
		BatchSize:       1000,
	})
	return &Publisher{cfg: cfg, w: w}
}

// EnsureTopics creates the blocks and state topics when missing, with the configured partitions
// and a message size limit large enough for any block the writer accepts.
func (p *Publisher) EnsureTopics(ctx context.Context) error {
	cfgs := map[string]string{"max.message.bytes": strconv.Itoa(p.cfg.MaxMessageBytes)}
	return explainErr(kafka.EnsureTopicsWith(ctx, p.cfg.Security, p.cfg.Brokers,
		kafka.TopicSpec{Name: p.cfg.Chain.BlocksTopic(), Partitions: p.cfg.Partitions, ReplicationFactor: p.cfg.ReplicationFactor, Configs: cfgs},
		kafka.TopicSpec{Name: p.cfg.Chain.StateTopic(), Partitions: p.cfg.Partitions, ReplicationFactor: p.cfg.ReplicationFactor, Configs: cfgs},
	))
}

func explainErr(err error) error {
	if err == nil {
		return nil
	}
	return explain(err)
}

// Publish writes msgs and returns once every broker in the in-sync set has them. When the
// broker does not know a topic (it came back empty, or the topic was deleted) it creates the
// topics again before returning the error, so the caller's retry goes through.
func (p *Publisher) Publish(ctx context.Context, msgs []kafkago.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		first, _ := kafka.ParseBlockKey(msgs[0].Key)
		last, _ := kafka.ParseBlockKey(msgs[len(msgs)-1].Key)
		err = explain(err)
		if errors.Is(err, kafkago.UnknownTopicOrPartition) {
			if cerr := p.EnsureTopics(ctx); cerr != nil {
				err = fmt.Errorf("%w; create the topics again: %w", err, cerr)
			} else {
				err = fmt.Errorf("%w (topics created again)", err)
			}
		}
		return fmt.Errorf("publish blocks %d-%d (%d messages): %w", first, last, len(msgs), err)
	}
	return nil
}

// explained is an error whose Kafka error codes are said by their titles: kafka-go's
// descriptions mislead in a producer's log (a broker that is away is "not a client facing
// error and is used mostly by tools").
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// explain returns the first of a batch's write errors (or err), its Kafka error code said by
// its title rather than kafka-go's description. errors.Is still finds the code.
func explain(err error) error {
	var we kafkago.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil {
				err = e
				break
			}
		}
	}
	var code kafkago.Error
	if !errors.As(err, &code) {
		return err
	}
	title := fmt.Sprintf("%s (Kafka error %d)", code.Title(), int(code))
	msg := err.Error()
	if strings.Contains(msg, code.Error()) {
		msg = strings.Replace(msg, code.Error(), title, 1)
	} else {
		msg += " (" + title + ")"
	}
	return &explained{msg: msg, err: err}
}

// Close flushes and closes the writer.
func (p *Publisher) Close() error { return p.w.Close() }
