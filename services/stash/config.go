package stash

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/postgres"
)

// EnvPrefix prefixes the environment variables that back the flags (STASH_KAFKA_BROKERS).
const EnvPrefix = "STASH"

// Config is the stash service configuration.
type Config struct {
	Sources    app.StringList
	Chain      string
	Group      uint
	Crypto     string
	StartBlock uint64
	Partitions int

	// Kafka are the broker options (-kafka.*): bootstrap brokers, the replication factor of
	// the topics stash creates, and the largest message (a whole block).
	Kafka kafka.Flags
	// DB are the PostgreSQL options (-db.*); a host that hands the service a pool in its
	// Deps makes the pool from them.
	DB postgres.Flags
	// Workers verify blocks in parallel; 0 means one per CPU.
	Workers int
	// SourceWait is how long the other sources are waited for once one delivered a block.
	SourceWait time.Duration
	// Poll is how often sources look for new data.
	Poll time.Duration
	// TruncatedGrace is how long a record may stay cut short at the end of a node's newest file
	// before it counts as a failure.
	TruncatedGrace time.Duration
	// CacheDir and CacheMaxBytes configure the local copies of HTTP sources.
	CacheDir      string
	CacheMaxBytes int64
	// RetryMin and RetryMax bound the backoff after failures.
	RetryMin, RetryMax time.Duration
	// BatchBlocks bounds the blocks committed in one PostgreSQL transaction.
	BatchBlocks int

	Server app.ServerConfig
	Log    app.LogFlags
}

// RegisterFlags adds every option to fs with its default.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var(&c.Sources, "source", "block source, repeatable for several nodes of one group: file:///…/BinaryLogs, http://host:port/…/BinaryLogs/ or rpc://host:8545?group=1")
	fs.StringVar(&c.Chain, "chain", "chain0", "chain name used in topic names bcos.<chain>.<group>.<kind>.v1")
	fs.UintVar(&c.Group, "group", 1, "group id")
	fs.StringVar(&c.Crypto, "crypto", "ecdsa", "crypto suite of the chain: ecdsa or sm")
	c.Kafka.RegisterFlagsWithPrefix("kafka.", fs)
	c.DB.RegisterFlagsWithPrefix("db.", fs, "stash")
	fs.Uint64Var(&c.StartBlock, "start-block", 0, "first block to ingest when there is no saved progress")
	fs.IntVar(&c.Partitions, "partitions", 1, "partitions for topics this service creates")
	fs.IntVar(&c.Workers, "workers", 0, "blocks verified in parallel (0: one per CPU)")
	fs.DurationVar(&c.SourceWait, "source.wait", 30*time.Second, "with several sources, how long the others are waited for once one delivered a block")
	fs.DurationVar(&c.Poll, "source.poll", 500*time.Millisecond, "how often sources look for new blocks")
	fs.DurationVar(&c.TruncatedGrace, "source.truncated-grace", 10*time.Second, "how long a record may stay cut short at the end of the newest binlog before it is reported")
	fs.StringVar(&c.CacheDir, "source.cache-dir", "", "local cache of HTTP binlog sources (default: the user cache directory)")
	fs.Int64Var(&c.CacheMaxBytes, "source.cache-bytes", 1<<30, "bytes each HTTP source may keep in its cache")
	fs.DurationVar(&c.RetryMin, "retry.min", 500*time.Millisecond, "first backoff after a failed block or an unavailable database or broker")
	fs.DurationVar(&c.RetryMax, "retry.max", 30*time.Second, "longest backoff")
	fs.IntVar(&c.BatchBlocks, "batch.blocks", 256, "most blocks committed to PostgreSQL in one transaction")
	c.Server.RegisterFlags(fs, "127.0.0.1:9101", "127.0.0.1:9201")
	c.Server.RegisterHTTPFlag(fs, "127.0.0.1:9301")
	c.Log.Register(fs)
}

// DefaultConfig returns the configuration the flags default to, for hosts and tests that build
// one in code: every field Validate checks has its flag's default.
func DefaultConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("stash", flag.ContinueOnError))
	return c
}

// Validate checks the options that flag parsing cannot.
func (c *Config) Validate() error {
	var errs []error
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("-workers %d: want 0 (one per CPU) or more", c.Workers))
	}
	if c.BatchBlocks < 1 {
		errs = append(errs, fmt.Errorf("-batch.blocks %d: want at least 1", c.BatchBlocks))
	}
	if c.CacheMaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("-source.cache-bytes %d: want more than 0", c.CacheMaxBytes))
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"source.wait", c.SourceWait}, {"source.poll", c.Poll}, {"source.truncated-grace", c.TruncatedGrace},
		{"retry.min", c.RetryMin}, {"retry.max", c.RetryMax},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("-%s %s: want more than 0", d.flag, d.v))
		}
	}
	if c.RetryMin > 0 && c.RetryMax > 0 && c.RetryMax < c.RetryMin {
		errs = append(errs, fmt.Errorf("-retry.max %s: want at least -retry.min (%s)", c.RetryMax, c.RetryMin))
	}
	if c.Crypto != "ecdsa" && c.Crypto != "sm" {
		errs = append(errs, fmt.Errorf("-crypto %q: want ecdsa or sm", c.Crypto))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("-partitions %d: want at least 1", c.Partitions))
	}
	if len(c.Sources) == 0 {
		errs = append(errs, errors.New("-source: at least one source is required"))
	}
	if c.Chain == "" {
		errs = append(errs, errors.New("-chain: empty"))
	}
	if err := c.Kafka.Validate("kafka."); err != nil {
		errs = append(errs, err)
	}
	if err := c.DB.Validate("db."); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
