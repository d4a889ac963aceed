package stash

import (
	"errors"
	"flag"
	"fmt"

	"github.com/bcosdata/bcosdata/libs/app"
)

// EnvPrefix prefixes the environment variables that back the flags (STASH_KAFKA_BROKERS).
const EnvPrefix = "STASH"

// Config is the stash service configuration.
type Config struct {
	Sources      app.StringList
	Chain        string
	Group        uint
	Crypto       string
	KafkaBrokers app.StringList
	DBURL        string
	StartBlock   uint64
	Partitions   int
	Server       app.ServerConfig
	Log          app.LogFlags
}

// RegisterFlags adds every option to fs with its default.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var(&c.Sources, "source", "block source, repeatable for several nodes of one group: file:///…/BinaryLogs, http://host:port/…/BinaryLogs/ or rpc://host:8545?group=1")
	fs.StringVar(&c.Chain, "chain", "chain0", "chain name used in topic names bcos.<chain>.<group>.<kind>.v1")
	fs.UintVar(&c.Group, "group", 1, "group id")
	fs.StringVar(&c.Crypto, "crypto", "ecdsa", "crypto suite of the chain: ecdsa or sm")
	fs.Var(&c.KafkaBrokers, "kafka.brokers", "Kafka bootstrap brokers, comma-separated (default 127.0.0.1:9092)")
	fs.StringVar(&c.DBURL, "db.url", "postgres://postgres@127.0.0.1:5432/bcosdata?sslmode=disable", "PostgreSQL URL (schema stash)")
	fs.Uint64Var(&c.StartBlock, "start-block", 0, "first block to ingest when there is no saved progress")
	fs.IntVar(&c.Partitions, "partitions", 1, "partitions for topics this service creates")
	c.Server.RegisterFlags(fs, "127.0.0.1:9101", "127.0.0.1:9201")
	c.Log.Register(fs)
}

// Validate checks the options that flag parsing cannot.
func (c *Config) Validate() error {
	var errs []error
	if c.Crypto != "ecdsa" && c.Crypto != "sm" {
		errs = append(errs, fmt.Errorf("-crypto %q: want ecdsa or sm", c.Crypto))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("-partitions %d: want at least 1", c.Partitions))
	}
	if len(c.KafkaBrokers) == 0 {
		c.KafkaBrokers = app.StringList{"127.0.0.1:9092"}
	}
	return errors.Join(errs...)
}
