package stash_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/benchcpu"
	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/stash"
	"github.com/bcosdata/bcosdata/services/stash/internal/ingest"
	"github.com/bcosdata/bcosdata/services/stash/internal/publish"
	"github.com/bcosdata/bcosdata/services/stash/internal/source"
	"github.com/bcosdata/bcosdata/services/stash/internal/store"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// benchTxsEnv overrides the size of the benchmark chain (default 1,000,000 transactions).
const benchTxsEnv = "BCOSDATA_BENCH_TXS"

// BenchmarkIngest measures verified ingestion (verify, PostgreSQL, Kafka) of a simulated chain
// of 1M transactions in blocks of 1000, and beside it, in the same run, two ceilings: reading
// the same binlog files with their CRC checks, and recovering transaction senders on two
// cores, the bound on verification (measured before and after ingestion, and averaged).
//
// ingest/recover is the fraction of that bound reached on this machine, whose cores the stash
// shares with PostgreSQL and the broker (a child process). The processor time each of them
// used per transaction is reported beside it, and stash-only/recover is the recovery time per
// transaction over the stash's own: the fraction of the bound a stash reaches on cores of its
// own, the part the stash's design decides.
func BenchmarkIngest(b *testing.B) {
	txs := 1_000_000
	if v := os.Getenv(benchTxsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("%s=%q: want a number of at least 1000", benchTxsEnv, v)
		}
		txs = n
	}
	dir := benchChain(b, txs)
	for b.Loop() {
		blocks, bytes, read := readAll(b, dir)
		before := recoverRate(b, dir, min(txs, 200_000), 2)
		pipeline := pipelineOnly(b, dir, blocks-1)
		run := ingestAll(b, dir, blocks-1)
		rec := before.add(recoverRate(b, dir, min(txs, 200_000), 2))
		recoverTxs := float64(rec.txs) / rec.took.Seconds()
		ingestTxs := float64(txs) / run.ingest.Seconds()
		b.ReportMetric(float64(bytes)/1e6/read.Seconds(), "read-MB/s")
		b.ReportMetric(float64(txs)/read.Seconds(), "read-tx/s")
		b.ReportMetric(recoverTxs, "recover2-tx/s")
		b.ReportMetric(float64(txs)/pipeline.Seconds(), "verify-tx/s")
		b.ReportMetric(float64(blocks)/run.ingest.Seconds(), "ingest-blocks/s")
		b.ReportMetric(ingestTxs, "ingest-tx/s")
		b.ReportMetric(float64(txs)/run.publish.Seconds(), "published-tx/s")
		b.ReportMetric(run.index.Seconds(), "keyindex-s")
		b.ReportMetric(ingestTxs/recoverTxs, "ingest/recover")
		if run.cpu.OK && rec.cpu.OK {
			perTx := benchcpu.PerUnit
			recoverCPU := perTx(rec.cpu.Self, rec.txs)
			b.ReportMetric(recoverCPU, "recover-cpu-µs/tx")
			b.ReportMetric(perTx(run.cpu.Self, txs), "stash-cpu-µs/tx")
			b.ReportMetric(perTx(run.cpu.Broker, txs), "broker-cpu-µs/tx")
			b.ReportMetric(perTx(run.cpu.Postgres, txs), "pg-cpu-µs/tx")
			b.ReportMetric(recoverCPU/perTx(run.cpu.Self, txs), "stash-only/recover")
		}
	}
}

// benchChain writes (once, cached in the temporary directory) a bulk chain of txs
// transactions and returns its binlog directory.
func benchChain(b *testing.B, txs int) string {
	b.Helper()
	root := filepath.Join(os.TempDir(), fmt.Sprintf("bcosdata-stash-bench-%d", txs))
	cfg := fiscosim.DefaultConfig()
	cfg.Data = root
	cfg.RPCAddr, cfg.BinlogAddr = "", ""
	cfg.Bulk, cfg.Txs, cfg.MaxTxs, cfg.Accounts, cfg.Progress = true, txs, 1000, 100, false
	cfg.Clock = fiscosim.ClockSim
	done := filepath.Join(root, "complete")
	bin := filepath.Join(root, "group1", "BinaryLogs")
	if _, err := os.Stat(done); err == nil {
		return bin
	}
	os.RemoveAll(root)
	start := time.Now()
	sim, err := fiscosim.New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Run(context.Background()); err != nil {
		b.Fatalf("write bench chain: %v", err)
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote a %d-transaction chain to %s in %s", txs, bin, time.Since(start).Round(time.Second))
	return bin
}

// readAll reads every record of dir with the binlog reader (CRC and structure checks).
func readAll(b *testing.B, dir string) (blocks int, bytes int64, took time.Duration) {
	b.Helper()
	files, err := binlog.ListDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for _, f := range files {
		r, err := binlog.Open(f.Path, binlog.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			blocks++
			bytes += int64(len(rec.Raw))
		}
		r.Close()
	}
	return blocks, bytes, time.Since(start)
}

// recovery is what recoverRate measured.
type recovery struct {
	txs  int
	took time.Duration
	cpu  benchcpu.Times
}

func (r recovery) add(o recovery) recovery {
	return recovery{txs: r.txs + o.txs, took: r.took + o.took,
		cpu: benchcpu.Times{Self: r.cpu.Self + o.cpu.Self, OK: r.cpu.OK && o.cpu.OK}}
}

// recoverRate recovers the senders of the first n transactions of dir on the given number of
// goroutines (the blocks are decoded beforehand, outside the timing).
func recoverRate(b *testing.B, dir string, n, workers int) recovery {
	b.Helper()
	files, err := binlog.ListDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var txs []*block.Transaction
	for _, f := range files {
		r, err := binlog.Open(f.Path, binlog.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for len(txs) < n {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			t := rec.Table("_sys_hash_2_block_")
			raw, _ := t.Value(&t.New[0], "value")
			blk, err := block.DecodeBlock(raw)
			if err != nil {
				b.Fatal(err)
			}
			txs = append(txs, blk.Transactions...)
		}
		r.Close()
	}
	txs = txs[:min(n, len(txs))]
	suite := cryptosuite.ECDSA()
	cpu0 := benchcpu.Read(0, 0)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(txs); i += workers {
				if _, err := txs[i].Sender(suite); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return recovery{txs: len(txs), took: time.Since(start), cpu: benchcpu.Read(0, 0).Sub(cpu0)}
}

// nopStore and nopPublisher stand in for PostgreSQL and Kafka, to time the pipeline alone:
// reading, verifying and building the messages.
type nopStore struct{ last chan uint64 }

func (s nopStore) Apply(_ context.Context, bs []*verify.Block) error {
	s.last <- bs[len(bs)-1].Number
	return nil
}
func (nopStore) SetPublished(context.Context, uint64) error       { return nil }
func (nopStore) Progress(context.Context) (store.Progress, error) { return store.Progress{}, nil }
func (nopStore) Tip(_ context.Context, from uint64) (verify.Tip, error) {
	return verify.Tip{Next: from}, nil
}
func (nopStore) Load(context.Context, uint64) (*verify.Block, error) {
	return nil, errors.New("nothing stored")
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, []kafkago.Message) error { return nil }

// pipelineOnly runs the ingest pipeline on dir without storage or bus until block last.
func pipelineOnly(b *testing.B, dir string, last int) time.Duration {
	b.Helper()
	suite := cryptosuite.ECDSA()
	src := source.NewFile("file://"+dir, dir, source.Options{Poll: 10 * time.Millisecond})
	st := nopStore{last: make(chan uint64, 1024)}
	p, err := ingest.New(ingest.Config{Chain: publish.Chain{Name: "bench", Group: 1, Suite: suite}, Sources: []source.Source{src}},
		verify.NewVerifier(suite), st, nopPublisher{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	for n := range st.last {
		if n == uint64(last) {
			return time.Since(start)
		}
	}
	return 0
}

// ingestRun is what ingestAll measured.
type ingestRun struct {
	// ingest and publish are the times until the last block was stored and published; index
	// the time to build the key indexes afterwards.
	ingest, publish, index time.Duration
	// cpu is the processor time used until the last block was published.
	cpu benchcpu.Times
}

// ingestAll runs the stash on dir until block last is stored (ingest) and published, then
// stops it and builds the key indexes the stash leaves out while catching up (index), which
// it would build itself at the first pause.
func ingestAll(b *testing.B, dir string, last int) ingestRun {
	b.Helper()
	broker := benchcpu.StartBroker(b, "broker")
	cfg := stash.DefaultConfig()
	cfg.Sources, cfg.Chain, cfg.Group, cfg.Crypto = []string{"file://" + dir}, "bench", 1, "ecdsa"
	cfg.Kafka = kafka.Flags{Brokers: broker.Addrs, MaxMessageBytes: kafka.MaxBlockMessageBytes}
	cfg.Partitions, cfg.Poll = 1, 10*time.Millisecond
	cfg.RetryMin, cfg.RetryMax, cfg.Workers = 50*time.Millisecond, time.Second, runtime.GOMAXPROCS(0)
	pool := pgtest.NewPool(b)
	svc, err := stash.New(cfg, app.Deps{Pool: pool})
	if err != nil {
		b.Fatal(err)
	}
	client := serve(b, svc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var run ingestRun
	// Only this benchmark's server: other test binaries run servers of their own.
	postmaster, err := benchcpu.Postmaster(b.Context(), pool)
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := benchcpu.Read(broker.PID, postmaster)
	start := time.Now()
	go func() { done <- svc.Run(ctx) }()
	stop := func() {
		if cancel == nil {
			return
		}
		cancel()
		cancel = nil
		if err := <-done; err != nil {
			b.Errorf("Run: %v", err)
		}
	}
	defer stop()
	await.For(b, 30*time.Minute, "ingestion to finish", func() error {
		st, err := client.Status(context.Background(), &stashv1.StatusRequest{})
		if err != nil {
			return err
		}
		if run.ingest == 0 && st.GetLastVerified() == uint64(last) {
			run.ingest = time.Since(start)
		}
		if st.GetLastPublished() != uint64(last) {
			if f := st.GetFailure(); f != nil {
				b.Fatalf("ingestion failed: %v", f)
			}
			return fmt.Errorf("verified %d, published %d of %d", st.GetLastVerified(), st.GetLastPublished(), last)
		}
		run.cpu = benchcpu.Read(broker.PID, postmaster).Sub(cpu0)
		if run.ingest == 0 {
			run.ingest = time.Since(start)
		}
		run.publish = time.Since(start)
		return nil
	})
	stop()
	run.index = buildKeyIndexes(b, pool)
	return run
}

// buildKeyIndexes times building the key indexes of a stash that has just caught up.
func buildKeyIndexes(b *testing.B, pool *pgxpool.Pool) time.Duration {
	b.Helper()
	st, err := store.Open(context.Background(), pool)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := st.BuildKeyIndexes(context.Background()); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
