package stash_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/services/stash"
)

// TestConfigValidate checks that every numeric flag is validated, the error naming the flag.
func TestConfigValidate(t *testing.T) {
	valid := func() stash.Config {
		c := stash.DefaultConfig()
		c.Sources = []string{"file:///data/BinaryLogs"}
		return c
	}
	if c := valid(); c.Validate() != nil {
		t.Fatalf("defaults: %v", c.Validate())
	}
	cases := []struct {
		flag string
		set  func(*stash.Config)
	}{
		{"-workers", func(c *stash.Config) { c.Workers = -3 }},
		{"-batch.blocks", func(c *stash.Config) { c.BatchBlocks = 0 }},
		{"-partitions", func(c *stash.Config) { c.Partitions = 0 }},
		{"-source.cache-bytes", func(c *stash.Config) { c.CacheMaxBytes = 0 }},
		{"-source.wait", func(c *stash.Config) { c.SourceWait = 0 }},
		{"-source.poll", func(c *stash.Config) { c.Poll = -time.Second }},
		{"-source.truncated-grace", func(c *stash.Config) { c.TruncatedGrace = 0 }},
		{"-retry.min", func(c *stash.Config) { c.RetryMin = 0 }},
		{"-retry.max", func(c *stash.Config) { c.RetryMax = 0 }},
		{"-retry.max", func(c *stash.Config) { c.RetryMin, c.RetryMax = time.Minute, time.Second }},
		{"-kafka.max-message-bytes", func(c *stash.Config) { c.Kafka.MaxMessageBytes = 0 }},
		{"-db.max-conns", func(c *stash.Config) { c.DB.MaxConns = -1 }},
	}
	for _, tc := range cases {
		c := valid()
		tc.set(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.flag+" ") {
			t.Errorf("%s: Validate = %v, want an error naming the flag", tc.flag, err)
		}
		if err != nil && strings.HasPrefix(err.Error(), "stash:") {
			t.Errorf("%s: error %q repeats the host's prefix", tc.flag, err)
		}
	}
	if _, err := stash.New(stash.Config{}, app.Deps{}); err == nil {
		t.Error("New accepted a zero Config")
	}
	if strings.HasPrefix(stash.ErrNotStarted.Error(), "stash") {
		t.Errorf("ErrNotStarted %q repeats the host's prefix", stash.ErrNotStarted)
	}
}
