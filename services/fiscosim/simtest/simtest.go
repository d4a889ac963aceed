// Package simtest runs fiscosim inside other packages' tests: a fast, reproducible chain on
// loopback ports, stopped when the test ends.
package simtest

import (
	"context"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/services/fiscosim"
)

// Config is a fast, reproducible configuration: simulated clock, 5 ms blocks, 2000 tx/s of
// traffic from 5 accounts, data in a test temp dir, servers on ports the kernel picks, and the
// generator's record of what it sent kept for Sim.Sent.
func Config(tb testing.TB) fiscosim.Config {
	cfg := fiscosim.DefaultConfig()
	cfg.Data = tb.TempDir()
	cfg.RPCAddr = "127.0.0.1:0"
	cfg.BinlogAddr = "127.0.0.1:0"
	cfg.BlockInterval = 5 * time.Millisecond
	cfg.TPS = 2000
	cfg.Clock = fiscosim.ClockSim
	cfg.Accounts = 5
	cfg.Progress = false
	cfg.KeepSent = true
	return cfg
}

// Start runs a simulator in the background until the test ends, and fails the test if Run
// returns an error or does not stop within 10 s of the test's end.
func Start(tb testing.TB, cfg fiscosim.Config) *fiscosim.Sim {
	tb.Helper()
	sim, err := fiscosim.New(cfg, nil)
	if err != nil {
		tb.Fatalf("start fiscosim: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("fiscosim Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			tb.Error("fiscosim did not stop within 10 s")
		}
	})
	return sim
}
