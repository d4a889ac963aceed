package stash_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/services/stash"
)

// Environment of the child process of TestCrashRestart.
const (
	crashChildEnv   = "STASH_TEST_CRASH_CHILD"
	crashSourceEnv  = "STASH_TEST_CRASH_SOURCE"
	crashDBEnv      = "STASH_TEST_CRASH_DB"
	crashBrokersEnv = "STASH_TEST_CRASH_BROKERS"
)

// TestCrashChild is the stash process TestCrashRestart kills: it runs the service until the
// parent kills it.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) != "1" {
		t.Skip("helper process for TestCrashRestart")
	}
	cfg := stash.DefaultConfig()
	cfg.Sources, cfg.Chain, cfg.Group, cfg.Crypto = []string{os.Getenv(crashSourceEnv)}, "chain0", 1, "ecdsa"
	cfg.Kafka = kafka.Flags{Brokers: strings.Split(os.Getenv(crashBrokersEnv), ","), MaxMessageBytes: kafka.MaxBlockMessageBytes}
	cfg.DB = postgres.Flags{URL: os.Getenv(crashDBEnv)}
	cfg.Partitions, cfg.Poll, cfg.RetryMin, cfg.RetryMax = 1, 10*time.Millisecond, 20*time.Millisecond, 200*time.Millisecond
	// Small transactions: more commit points to be killed between.
	cfg.BatchBlocks = 7
	log, _ := zap.NewDevelopment()
	svc, err := stash.New(cfg, app.Deps{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestCrashRestart kills the stash with SIGKILL several times while it ingests a simulated
// chain, restarts it, and checks that every block is stored exactly once (every binlog row
// exactly once in the mirrored tables) and present on the bus, byte-identical where it was
// published more than once.
func TestCrashRestart(t *testing.T) {
	t.Parallel()
	const blocks = 300
	sim := startSim(t, simConfig(t, blocks))
	h := newHarness(t)

	progress := func() (verified, published int64) {
		verified, published = -1, -1
		var v, p *int64
		err := h.pool.QueryRow(t.Context(), `SELECT last_verified, last_published FROM stash.stash_progress`).Scan(&v, &p)
		if err == nil {
			if v != nil {
				verified = *v
			}
			if p != nil {
				published = *p
			}
		}
		return verified, published
	}
	var childLog bytes.Buffer
	runChild := func(until func(verified, published int64) bool) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashSourceEnv+"=file://"+sim.BinlogDir(),
			crashDBEnv+"="+h.dsn, crashBrokersEnv+"="+strings.Join(h.addrs, ","))
		cmd.Stdout, cmd.Stderr = io.Discard, &childLog
		if err := cmd.Start(); err != nil {
			t.Fatalf("start stash child: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var v, p int64
		err := await.UntilEvery(t.Context(), 60*time.Second, 2*time.Millisecond, func() error { // 2 ms: kill close to a commit
			if v, p = progress(); until(v, p) {
				return nil
			}
			select {
			case err := <-exited:
				t.Fatalf("stash child exited by itself: %v\n%s", err, tail(childLog.String()))
			default:
			}
			return await.ErrNotYet
		})
		if err != nil {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("stash child made no progress within 60s (verified %d, published %d): %v\n%s", v, p, err, tail(childLog.String()))
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("kill stash child: %v", err)
		}
		<-exited
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	targets := make([]int64, 6)
	for i := range targets {
		targets[i] = int64(rng.IntN(blocks - 20))
	}
	slices.Sort(targets)
	for i, target := range targets {
		// Kill some runs right after a commit, others right after a publication.
		afterPublish := i%2 == 1
		runChild(func(v, p int64) bool {
			if afterPublish {
				return p >= target
			}
			return v >= target
		})
		v, p := progress()
		t.Logf("run %d killed at verified %d, published %d", i+1, v, p)
	}
	// SIGKILL rarely lands between a Kafka write and the progress update that records it, so
	// make that crash happen for sure: forget the last publications, as such a crash would.
	if _, err := h.pool.Exec(t.Context(), `UPDATE stash.stash_progress SET last_published = last_published - 15 WHERE last_published >= 15`); err != nil {
		t.Fatal(err)
	}
	runChild(func(v, p int64) bool { return v == blocks && p == blocks })

	t.Run("postgres rows exactly once", func(t *testing.T) {
		var n, distinct, lo, hi int64
		if err := h.pool.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT number), min(number), max(number) FROM stash.stash_blocks`).Scan(&n, &distinct, &lo, &hi); err != nil {
			t.Fatal(err)
		}
		if n != blocks+1 || distinct != n || lo != 0 || hi != blocks {
			t.Fatalf("stash_blocks: %d rows, %d distinct, %d..%d; want blocks 0..%d once each", n, distinct, lo, hi, blocks)
		}
		want := binlogRowCounts(t, sim.BinlogDir(), blocks)
		rows, err := h.pool.Query(t.Context(), `SELECT name, history_table FROM stash.stash_tables`)
		if err != nil {
			t.Fatal(err)
		}
		tables := map[string]string{}
		for rows.Next() {
			var name, hist string
			if err := rows.Scan(&name, &hist); err != nil {
				t.Fatal(err)
			}
			tables[name] = hist
		}
		if len(tables) != len(want) {
			t.Errorf("%d tables mirrored, the binlog has %d", len(tables), len(want))
		}
		for name, count := range want {
			hist, ok := tables[name]
			if !ok {
				t.Errorf("table %s not mirrored", name)
				continue
			}
			var got int64
			if err := h.pool.QueryRow(t.Context(), fmt.Sprintf(`SELECT count(*) FROM stash.%q`, hist)).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != count {
				t.Errorf("table %s: %d row versions stored, the binlog has %d", name, got, count)
			}
		}
	})

	t.Run("kafka complete and identical", func(t *testing.T) {
		for _, topic := range []string{"bcos.chain0.group1.blocks.v1", "bcos.chain0.group1.state.v1"} {
			msgs := h.drainTopic(t, topic)
			byBlock := map[uint64]kafkago.Message{}
			dups := 0
			for _, m := range msgs {
				n, err := kafka.ParseBlockKey(m.Key)
				if err != nil {
					t.Fatal(err)
				}
				if prev, ok := byBlock[n]; ok {
					dups++
					if !bytes.Equal(prev.Value, m.Value) || fmt.Sprint(prev.Headers) != fmt.Sprint(m.Headers) {
						t.Errorf("%s: block %d republished with different bytes", topic, n)
					}
					continue
				}
				byBlock[n] = m
			}
			for n := range uint64(blocks + 1) {
				if _, ok := byBlock[n]; !ok {
					t.Errorf("%s: block %d missing", topic, n)
				}
			}
			t.Logf("%s: %d messages, %d republished", topic, len(msgs), dups)
			if dups < 15 {
				t.Errorf("%s: %d blocks republished, want at least the 15 whose publication was forgotten", topic, dups)
			}
		}
	})
}

// binlogRowCounts counts the row versions per table in the binlog files, up to block last.
func binlogRowCounts(t *testing.T, dir string, last uint64) map[string]int64 {
	t.Helper()
	files, err := binlog.ListDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, f := range files {
		r, err := binlog.Open(f.Path, binlog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.BlockNumber > last {
				break
			}
			for _, tb := range rec.Tables {
				out[tb.Name] += int64(len(tb.Dirty) + len(tb.New))
			}
		}
		r.Close()
	}
	return out
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}
