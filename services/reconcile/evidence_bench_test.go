package reconcile

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/await"
	libevidence "github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/evidence/ceiling"
	"github.com/bcosdata/bcosdata/libs/evidence/chain"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/fiscosim/simtest"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/evidence"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/source"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// benchEvidenceEnv overrides the records of BenchmarkEvidence (default 20,000 per path).
const benchEvidenceEnv = "BCOSDATA_BENCH_EVIDENCE_RECORDS"

// BenchmarkEvidence measures the evidence service on a real PostgreSQL (fsync on) and
// fiscosim, and beside it, in the same run, the raw ceilings of its two costs:
//
//   - accept-rec/s: records accepted one per call from 8 callers (PublishRecord's path:
//     publisher lookup, signature check, one committed transaction each); accept-bulk-rec/s:
//     1000 records per transaction (the inbox's and records.in's path, signatures checked in
//     parallel);
//   - raw-verify/s: the bare signature checks of the same records on every core;
//     raw-fsync/s: 512-byte writes each followed by fsync, in the benchmark's temp directory;
//   - anchor-rec/s: records sealed into batches of 1000, archived (file://) and anchored in a
//     transaction on fiscosim whose receipt came back (the events.v1 confirmation, which
//     depends on stash and export, is not in this figure);
//   - proof-p50-ms, proof-p99-ms: Proof (the leaves of the batch, the path, the offline check)
//     of random records.
func BenchmarkEvidence(b *testing.B) {
	n := 20_000
	if s := os.Getenv(benchEvidenceEnv); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 100 {
			b.Fatalf("%s=%q: want a whole number ≥ 100", benchEvidenceEnv, s)
		}
		n = v
	}
	suite := cryptosuite.ECDSA()
	key, err := suite.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	sign := func(id string) libevidence.Record {
		r := libevidence.Record{ID: id, Publisher: "bench", Category: "invoice", Kind: libevidence.KindPublish}
		r.SetPayload(libevidence.PayloadJSON, []byte(fmt.Sprintf(`{"invoice":%q,"amount":"1024.00","memo":"benchmark record"}`, id)))
		if err := libevidence.Sign(suite, key, &r); err != nil {
			b.Fatal(err)
		}
		return r
	}
	for b.Loop() {
		single, bulk := make([]libevidence.Record, n), make([]libevidence.Record, n)
		for i := range n {
			single[i], bulk[i] = sign(fmt.Sprintf("s-%07d", i)), sign(fmt.Sprintf("b-%07d", i))
		}
		pool := pgtest.NewPool(b)
		if _, err := store.Open(b.Context(), pool); err != nil {
			b.Fatal(err)
		}
		cfg := simtest.Config(b)
		cfg.Mix, cfg.TPS, cfg.KeepSent = fiscosim.MixClassic, 5, false
		cfg.Clock, cfg.BlockInterval = fiscosim.ClockWall, 50*time.Millisecond
		sim := simtest.Start(b, cfg)
		var contract string
		for _, k := range sim.Contracts() {
			if k.Name == "Evidence" {
				contract = k.Address
			}
		}
		node, err := chain.Dial(sim.RPCURL(), int(sim.GroupID()), suite)
		if err != nil {
			b.Fatal(err)
		}
		defer node.Close()
		anchorKey, _ := suite.GenerateKey(rand.Reader)
		anchorer := await.Value(b, 30*time.Second, "the anchorer", func() (*chain.Anchorer, error) {
			return chain.NewAnchorer(b.Context(), node, anchorKey, common.HexToAddress(contract))
		})
		dir := b.TempDir()
		svc := evidence.New(evidence.Config{
			Flags: evidence.Flags{Archive: "file://" + dir, MaxPayload: 64 << 10, BatchSize: 1000, BatchAge: 100 * time.Millisecond,
				Contract: contract, Resend: time.Minute, Grace: time.Hour},
			Chain: "chain0", Group: 1, Archiver: archive{source.New(source.Config{})}, Anchorer: chainAnchorer{anchorer},
			Submitter: anchorer.Address(), Log: zap.NewNop(),
		}, pool)
		reg := libevidence.Record{ID: "publisher/bench", Publisher: "bench", Category: "publisher", Kind: libevidence.KindPublisher}
		pub := key.PublicKey()
		reg.SetPayload(libevidence.PayloadJSON, []byte(`{"suite":"ecdsa","public_key":"0x`+pub.String()+`"}`))
		if err := libevidence.Sign(suite, key, &reg); err != nil {
			b.Fatal(err)
		}
		if _, errs := svc.Accept(b.Context(), []evidence.Incoming{{Record: reg, Source: "grpc", Want: libevidence.KindPublisher}}); errs[0] != nil {
			b.Fatal(errs[0])
		}

		// Ceilings first, on the idle machine state the accept figures will see.
		verify, err := ceiling.VerifyRate(suite, pub, single, runtime.GOMAXPROCS(0))
		if err != nil {
			b.Fatal(err)
		}
		fsync, err := ceiling.FsyncRate(dir, 1000, 512)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(verify, "raw-verify/s")
		b.ReportMetric(fsync, "raw-fsync/s")

		// One record per call, 8 callers.
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					if _, errs := svc.Accept(context.Background(), []evidence.Incoming{{Record: single[i], Source: "grpc"}}); errs[0] != nil {
						b.Error(errs[0])
						return
					}
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "accept-rec/s")

		// 1000 per transaction.
		start = time.Now()
		for lo := 0; lo < n; lo += 1000 {
			in := make([]evidence.Incoming, 0, 1000)
			for _, r := range bulk[lo:min(n, lo+1000)] {
				in = append(in, evidence.Incoming{Record: r, Source: "inbox"})
			}
			_, errs := svc.Accept(b.Context(), in)
			for _, err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "accept-bulk-rec/s")

		// Seal, archive and anchor everything.
		total := 2*n + 1
		start = time.Now()
		ctx, cancel := context.WithCancel(b.Context())
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()
		// A fixed, short interval: the rate is timed by when the last one is seen.
		if err := await.UntilEvery(b.Context(), 10*time.Minute, 50*time.Millisecond, func() error {
			var sent int
			if err := pool.QueryRow(b.Context(), `SELECT coalesce(sum(count), 0) FROM reconcile.evidence_batches WHERE state = 'sent'`).Scan(&sent); err != nil {
				return err
			}
			if sent != total {
				return fmt.Errorf("%w: %d of %d records anchored", await.ErrNotYet, sent, total)
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		anchorTook := time.Since(start)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(total)/anchorTook.Seconds(), "anchor-rec/s")

		// The anchors as events.v1 would bring them, read back from the chain.
		confirmFromChain(b, svc, pool, node, anchorer)
		lat := make([]time.Duration, 0, 2000)
		for i := range 2000 {
			id := single[(i*7919)%n].ID
			if i%2 == 1 {
				id = bulk[(i*104729)%n].ID
			}
			t0 := time.Now()
			if _, err := svc.Proof(b.Context(), id); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "proof-p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "proof-p99-ms")
	}
}

// confirmFromChain marks every sent batch anchored with its anchor as the chain has it.
func confirmFromChain(b *testing.B, svc *evidence.Service, pool pgxPool, node *chain.Node, a *chain.Anchorer) {
	rows, err := pool.Query(b.Context(), `SELECT batch_id, root FROM reconcile.evidence_batches WHERE state = 'sent'`)
	if err != nil {
		b.Fatal(err)
	}
	var events []evidence.StoredEvent
	var id, root []byte
	if _, err := pgx.ForEachRow(rows, []any{&id, &root}, func() error {
		an, err := chain.FindAnchor(b.Context(), node, a.Contract(), [32]byte(id))
		if err != nil {
			return err
		}
		events = append(events, evidence.StoredEvent{Contract: a.Contract(), ID: [32]byte(id), DocHash: [32]byte(root), Submitter: a.Address(),
			BlockNumber: an.BlockNumber, BlockHash: an.BlockHash, TxHash: an.TxHash, LogIndex: uint32(an.LogIndex)})
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	if err := pgx.BeginFunc(b.Context(), pool, func(tx pgx.Tx) error {
		_, err := svc.Confirm(b.Context(), tx, events)
		return err
	}); err != nil {
		b.Fatal(err)
	}
}

type pgxPool interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}
