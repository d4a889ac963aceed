package reconcile

import (
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/postgres"
)

// defaults returns the configuration the flags give without arguments.
func defaults(t *testing.T) Config {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewRejectsBadFlagsNamingThem(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"defaults", func(*Config) {}, ""},
		{"group 0", func(c *Config) { c.Group = 0 }, "-group 0: want 1 or more"},
		{"empty chain", func(c *Config) { c.Chain = "" }, "-chain: empty"},
		{"small messages", func(c *Config) { c.Kafka.MaxMessageBytes = 1000 }, "-kafka.max-message-bytes 1000"},
		{"negative replication", func(c *Config) { c.Kafka.ReplicationFactor = -1 }, "-kafka.replication-factor -1"},
		{"negative max conns", func(c *Config) { c.DB.MaxConns = -1 }, "-db.max-conns -1"},
		{"zero shutdown timeout", func(c *Config) { c.Server.ShutdownTimeout = 0 }, "-shutdown-timeout 0s"},
		{"evidence archive scheme", func(c *Config) { c.Evidence.Archive = "ftp://host/dir" }, "-evidence.archive \"ftp://host/dir\""},
		{"evidence rpc without key", func(c *Config) {
			c.Evidence.Archive, c.Evidence.RPC, c.Evidence.Contract = "file:///tmp/a", "http://127.0.0.1:8545", "0x00000000000000000000000000000000000000e1"
		}, "-evidence.rpc needs -evidence.key"},
		{"evidence contract", func(c *Config) {
			c.Evidence.Archive, c.Evidence.RPC, c.Evidence.Key = "file:///tmp/a", "http://127.0.0.1:8545", "k"
		}, "-evidence.contract \"\": want a 0x address"},
		{"evidence inbox without archive", func(c *Config) { c.Evidence.Inbox = "/tmp/in" }, "need -evidence.archive"},
		{"evidence batch size", func(c *Config) { c.Evidence.Archive, c.Evidence.BatchSize = "file:///tmp/a", 0 }, "-evidence.batch-size 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaults(t)
			tc.modify(&cfg)
			_, err := New(cfg, app.Deps{})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			var ue *app.UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want a usage error containing %q", err, tc.want)
			}
		})
	}
}

func TestReadyPingsTheDatabase(t *testing.T) {
	pool, err := postgres.NewPool("postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	svc, err := New(defaults(t), app.Deps{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := svc.Ready(ctx); err == nil || !strings.Contains(err.Error(), "ping database") {
		t.Fatalf("Ready with the database away = %v, want a ping error", err)
	}
}
