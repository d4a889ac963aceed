package reconcile

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
	"github.com/bcosdata/bcosdata/services/export"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/fiscosim/sent"
	"github.com/bcosdata/bcosdata/services/fiscosim/simtest"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/bizgen"
	"github.com/bcosdata/bcosdata/services/stash"
)

// TestEndToEndFromTheSimulator runs the whole platform in this process: fiscosim writes a
// full-mix chain, stash verifies and publishes it, export decodes Asset's Transfer events onto
// events.v1, and reconcile reconciles a business file generated from the simulator's own record
// of the transfers it sent (never from the chain): outcomes and totals equal bizgen's.
func TestEndToEndFromTheSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	const blocks = 40
	dir := t.TempDir()
	e := newEnv(t, "file://"+dir, "sim-{yyyyMMdd}.csv")
	blocksTopic := "bcos.chain0.group1.blocks.v1"
	e.broker.CreateTopic(t, blocksTopic, 1, map[string]string{"max.message.bytes": strconv.Itoa(kafka.MaxBlockMessageBytes)})

	// fiscosim, then stash on its binlogs.
	cfg := simtest.Config(t)
	cfg.Mix, cfg.Blocks, cfg.Exit = fiscosim.MixFull, blocks, true
	cfg.RPCAddr, cfg.BinlogAddr = "", ""
	sim, err := fiscosim.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := sim.Run(ctx); err != nil {
		t.Fatalf("fiscosim: %v", err)
	}
	startService(t, "stash", func() (app.Service, error) {
		scfg := stash.DefaultConfig()
		scfg.Sources = app.StringList{"file://" + sim.BinlogDir()}
		scfg.Crypto = "ecdsa"
		scfg.Partitions = 1
		scfg.Kafka = kafka.Flags{Brokers: e.broker.Addrs(), MaxMessageBytes: kafka.MaxBlockMessageBytes}
		scfg.DB = postgres.Flags{URL: pgtest.NewDB(t)}
		scfg.CacheDir = t.TempDir()
		scfg.Poll = 20 * time.Millisecond
		return stash.New(scfg, app.Deps{Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), Metrics: prometheus.NewRegistry()})
	})

	// export with the sample contracts, learning their deployments.
	cdir := t.TempDir()
	simtest.WriteContracts(t, cdir, false, "Asset", "Evidence", "Ledger", "Registry")
	var cf strings.Builder
	cf.WriteString("contracts:\n")
	for _, n := range []string{"Asset", "Evidence", "Ledger", "Registry"} {
		fmt.Fprintf(&cf, "  - name: %s\n    abi: %s.abi.json\n    bin: %s.bin\n    learn: true\n", n, n, n)
	}
	contracts := filepath.Join(cdir, "contracts.yaml")
	if err := os.WriteFile(contracts, []byte(cf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	exportPool, err := postgres.NewPool(pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(exportPool.Close)
	startService(t, "export", func() (app.Service, error) {
		var ecfg export.Config
		ecfg.RegisterFlags(newFlagSet())
		ecfg.Kafka = kafka.Flags{Brokers: e.broker.Addrs(), MaxMessageBytes: kafka.MaxBlockMessageBytes}
		ecfg.Contracts = contracts
		ecfg.Partitions = 2
		ecfg.RetryMin, ecfg.RetryMax = 50*time.Millisecond, 500*time.Millisecond
		ecfg.HeartbeatInterval, ecfg.SessionTimeout = kafkatest.HeartbeatInterval, kafkatest.SessionTimeout
		return export.New(ecfg, app.Deps{Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), Metrics: prometheus.NewRegistry(), Pool: exportPool})
	})

	// The chain records: every Transfer the simulator says Asset emitted.
	var recs []bizgen.ChainRecord
	for _, r := range sim.Sent() {
		for i, ev := range r.Events {
			if ev.Contract != "Asset" || ev.Name != "Transfer" {
				continue
			}
			recs = append(recs, transferRecord(t, r, i, ev))
		}
	}
	if len(recs) < 10 {
		t.Fatalf("the simulator sent %d transfers, want at least 10", len(recs))
	}

	// reconcile, on a job without time fields (the window is not the point here).
	y := `jobs:
  - name: transfers
    source: file://` + dir + `
    pattern: sim-{yyyyMMdd}.csv
    chain: {contract: Asset, event: Transfer}
    key:
      - {business: tx, chain: tx_hash, compare: hex}
      - {business: log_index, chain: log_index, compare: numeric}
    fields:
      - {business: amount, chain: amount, compare: numeric, scale: 2, tolerance: "0.01"}
      - {business: payer, chain: from, compare: address}
      - {business: payee, chain: to, compare: address}
      - {business: memo, chain: memo, compare: trimmed}
    amount: amount
    window: {wait: 30s}
    errors: {max_rows: 1}
`
	if err := os.WriteFile(e.jobs, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.start(nil)
	await.True(t, 60*time.Second, "reconcile consumed every transfer", func() bool {
		var n int
		err := r.svc.deps.Pool.QueryRow(t.Context(), `SELECT count(*) FROM reconcile.records WHERE contract_name = 'Asset' AND name = 'Transfer'`).Scan(&n)
		return err == nil && n == len(recs)
	})
	var buf bytes.Buffer
	exp, err := bizgen.Generate(&buf, e.job(), recs, bizgen.Plan{Changed: 2, WithinTolerance: 2, MissingInFile: 1, Extra: 2, Duplicate: 1, Malformed: 1, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "sim-transfers.csv")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	run := r.trigger(t, &reconcilev1.TriggerRunRequest{Job: "transfers", FileUri: "file://" + file})
	r.check(t, run, exp)
	t.Logf("%d transfers reconciled end to end", len(recs))
}

// transferRecord turns the i-th event of a sent transaction into a chain record.
func transferRecord(t *testing.T, r sent.Record, i int, ev sent.Event) bizgen.ChainRecord {
	t.Helper()
	rec := bizgen.ChainRecord{"tx_hash": strings.ToLower(r.TxHash.Hex()), "log_index": strconv.Itoa(i)}
	for _, a := range ev.Args {
		switch v := a.Value.(type) {
		case common.Address:
			rec[a.Name] = strings.ToLower(v.Hex())
		case *big.Int:
			rec[a.Name] = v.String()
		case string:
			rec[a.Name] = v
		default:
			t.Fatalf("Transfer argument %s of type %T", a.Name, a.Value)
		}
	}
	return rec
}

// startService runs a service until the test ends.
func startService(t *testing.T, name string, build func() (app.Service, error)) {
	t.Helper()
	svc, err := build()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s Run: %v", name, err)
		}
	})
}
