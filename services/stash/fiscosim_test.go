package stash_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"

	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/fiscosim/simtest"
)

// simConfig is a fast, reproducible simulator: simulated clock, 5 ms blocks, servers on
// loopback ports the kernel picks.
func simConfig(t testing.TB, blocks uint64) fiscosim.Config {
	cfg := simtest.Config(t)
	cfg.Blocks = blocks
	return cfg
}

// startSim runs a simulator until the test ends.
func startSim(t *testing.T, cfg fiscosim.Config) *fiscosim.Sim {
	t.Helper()
	sim := simtest.Start(t, cfg)
	wctx, wcancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer wcancel()
	if err := sim.WaitBlock(wctx, cfg.Blocks); err != nil {
		t.Fatalf("wait for block %d: %v", cfg.Blocks, err)
	}
	return sim
}

// TestFiscosimSourceModes ingests one simulated chain through each kind of source: the binlog
// directory, its HTTP autoindex, and JSON-RPC. The blocks topic must carry the same block
// hashes in all three, with every transaction's sender.
func TestFiscosimSourceModes(t *testing.T) {
	t.Parallel()
	const blocks = 40
	sim := startSim(t, simConfig(t, blocks))
	modes := []struct {
		name   string
		source string
		state  bool
	}{
		{"file", "file://" + sim.BinlogDir(), true},
		{"http", sim.BinlogURL(), true},
		{"rpc", "rpc://" + sim.RPCAddr() + "?group=1", false},
	}
	hashes := make([][]string, len(modes))
	for i, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newHarness(t)
			run := h.start(h.config(m.source))
			waitStatus(t, run.client, 60*time.Second, fmt.Sprintf("%d blocks published", blocks+1), func(s *stashv1.StatusResponse) bool {
				return s.GetLastPublished() == blocks
			})
			run.noFailures(t)
			msgs := h.readTopic(t, "bcos.chain0.group1.blocks.v1", blocks+1)
			txs := 0
			for _, msg := range msgs {
				b := decodeBlock(t, msg)
				hashes[i] = append(hashes[i], hex.EncodeToString(b.GetHeader().GetHash()))
				for _, tx := range b.GetTransactions() {
					if len(tx.GetFrom()) != 20 {
						t.Fatalf("block %d tx %d published without its sender", b.GetHeader().GetNumber(), tx.GetIndex())
					}
					txs++
				}
			}
			if txs == 0 {
				t.Fatal("the simulated chain has no transactions")
			}
			state := h.drainTopic(t, "bcos.chain0.group1.state.v1")
			if m.state && len(state) != blocks+1 {
				t.Errorf("%d state messages, want %d", len(state), blocks+1)
			}
			if !m.state && len(state) != 0 {
				t.Errorf("%d state messages from an RPC source, which has no change-sets", len(state))
			}
		})
	}
	for i := 1; i < len(modes); i++ {
		if !slices.Equal(hashes[0], hashes[i]) {
			t.Errorf("%s and %s sources published different block hashes:\n%v\n%v", modes[0].name, modes[i].name, hashes[0], hashes[i])
		}
	}
}

// TestLargeBlockPublishedWhole ingests a block whose message is several MiB, over Kafka's
// 1 MiB default: it must reach the topic whole, not be dropped or cut.
func TestLargeBlockPublishedWhole(t *testing.T) {
	t.Parallel()
	cfg := simConfig(t, 0)
	cfg.RPCAddr, cfg.BinlogAddr = "", ""
	cfg.Bulk, cfg.Txs, cfg.MaxTxs, cfg.Workers = true, 4000, 4000, 2
	sim, err := fiscosim.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Run(t.Context()); err != nil {
		t.Fatalf("write bulk chain: %v", err)
	}
	h := newHarness(t)
	run := h.start(h.config("file://" + sim.BinlogDir()))
	st := waitStatus(t, run.client, 60*time.Second, "the large block published", func(s *stashv1.StatusResponse) bool {
		return s.GetLastPublished() >= 1
	})
	msgs := h.readTopic(t, "bcos.chain0.group1.blocks.v1", int(st.GetLastPublished())+1)
	biggest := 0
	for _, m := range msgs {
		b := decodeBlock(t, m)
		if len(b.GetTransactions()) == 4000 {
			biggest = len(m.Value)
			if got := len(b.GetReceipts()); got != 4000 {
				t.Errorf("large block published with %d receipts of 4000", got)
			}
		}
	}
	if biggest <= 1<<20 {
		t.Fatalf("largest block message %d bytes; the test needs one over 1 MiB with all 4000 transactions", biggest)
	}
	t.Logf("largest block message: %.1f MiB", float64(biggest)/(1<<20))
}

// TestFiscosimFaults runs the simulator's own fault injection: the stream stops at the last
// good block with the failed check named in Status. A restarted node (new binlog files) is not
// a fault.
func TestFiscosimFaults(t *testing.T) {
	t.Parallel()
	const bad = 8
	cases := []struct {
		name   string
		faults func(*fiscosim.Config)
		second func(*fiscosim.Config) // a second source, when set
		block  uint64
		check  string
	}{
		{name: "corrupt crc", faults: func(c *fiscosim.Config) { c.Faults.CorruptCRC = fiscosim.BlockList{bad} }, block: bad, check: "crc"},
		{name: "forged signature", faults: func(c *fiscosim.Config) { c.Faults.ForgeSignature = fiscosim.BlockList{bad} }, block: bad, check: "signatures"},
		{name: "truncated tail", faults: func(c *fiscosim.Config) { c.Blocks, c.Faults.TruncateTail = bad, true }, block: bad, check: "truncated"},
		{name: "disagreeing nodes", faults: func(*fiscosim.Config) {}, second: func(c *fiscosim.Config) { c.Seed = 2 }, block: 0, check: "source-disagreement"},
		{name: "node restarts", faults: func(c *fiscosim.Config) { c.Faults.RestartAt = fiscosim.BlockList{3, 4, 9} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := simConfig(t, 15)
			cfg.RPCAddr, cfg.BinlogAddr = "", ""
			tc.faults(&cfg)
			sources := []string{"file://" + runSim(t, cfg).BinlogDir()}
			if tc.second != nil {
				cfg2 := simConfig(t, 15)
				cfg2.RPCAddr, cfg2.BinlogAddr = "", ""
				tc.second(&cfg2)
				sources = append(sources, "file://"+runSim(t, cfg2).BinlogDir())
			}
			h := newHarness(t)
			run := h.start(h.config(sources...))
			if tc.check == "" {
				waitStatus(t, run.client, 60*time.Second, "all blocks published", func(s *stashv1.StatusResponse) bool { return s.GetLastPublished() == 15 })
				run.noFailures(t)
				return
			}
			st := waitStatus(t, run.client, 60*time.Second, "a "+tc.check+" failure", func(s *stashv1.StatusResponse) bool {
				f := s.GetFailure()
				return f != nil && f.GetBlockNumber() == tc.block && f.GetCheck() == tc.check
			})
			if tc.block > 0 && (st.GetLastVerified() != tc.block-1 || st.GetLastPublished() != tc.block-1) {
				t.Errorf("stopped at verified %d, published %d; want %d", st.GetLastVerified(), st.GetLastPublished(), tc.block-1)
			}
			if got := len(h.drainTopic(t, "bcos.chain0.group1.blocks.v1")); got != int(tc.block) {
				t.Errorf("%d blocks published, want the %d before the failure", got, tc.block)
			}
		})
	}
}

// runSim writes a simulated chain to the end and returns the simulator.
func runSim(t *testing.T, cfg fiscosim.Config) *fiscosim.Sim {
	t.Helper()
	cfg.Exit = true
	sim, err := fiscosim.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := sim.Run(ctx); err != nil {
		t.Fatalf("fiscosim: %v", err)
	}
	return sim
}

// TestHTTPSourceCache follows a node's binlog over HTTP while the node writes it, in many
// small files: every byte is downloaded once (growing files are topped up with Range
// requests), and the local cache stays within its budget.
func TestHTTPSourceCache(t *testing.T) {
	t.Parallel()
	const blocks = 80
	cfg := simConfig(t, blocks)
	cfg.BinlogMaxSize = 32 << 10
	sim, err := fiscosim.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("fiscosim: %v", err)
		}
	})
	h := newHarness(t)
	scfg := h.config(sim.BinlogURL())
	scfg.CacheMaxBytes = 96 << 10
	run := h.start(scfg)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, d := range mustSubdirs(t, scfg.CacheDir) {
			fs, _ := binlog.ListDir(d)
			for _, f := range fs {
				t.Logf("cache %s %d", f.Name, f.Size)
			}
		}
		fs, _ := binlog.ListDir(sim.BinlogDir())
		for _, f := range fs {
			t.Logf("node %s %d", f.Name, f.Size)
		}
	})
	st := waitStatus(t, run.client, 20*time.Second, "all blocks published", func(s *stashv1.StatusResponse) bool { return s.GetLastPublished() == blocks })
	run.noFailures(t)
	files, err := binlog.ListDir(sim.BinlogDir())
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	if len(files) < 5 {
		t.Fatalf("the node wrote %d files; the test needs many", len(files))
	}
	if got := int64(st.GetSources()[0].GetDownloadBytes()); got != total {
		t.Errorf("downloaded %d bytes, the node's files hold %d: every byte should be fetched exactly once", got, total)
	}
	var cache int64
	for _, d := range mustSubdirs(t, scfg.CacheDir) {
		fs, err := binlog.ListDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			cache += f.Size
		}
	}
	if limit := scfg.CacheMaxBytes + 2*cfg.BinlogMaxSize; cache > limit {
		t.Errorf("cache holds %d bytes, budget %d (+ up to two files)", cache, scfg.CacheMaxBytes)
	}
	t.Logf("%d files, %d bytes downloaded, %d bytes left in the cache", len(files), total, cache)
}

func mustSubdirs(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}
