package export_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/benchcpu"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/postgres"
	chainv1 "github.com/bcosdata/bcosdata/proto/bcosdata/chain/v1"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	"github.com/bcosdata/bcosdata/services/export"
)

// snapshot is every export table's content as text, by table; what a run produced, free of
// insertion times and sequence numbers (which depend on timing, not on the chain).
func snapshot(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	queries := map[string]string{
		"blocks":          `SELECT number, hash, parent_hash, time, timestamp_ms, sealer, sealer_index, tx_count, gas_used FROM export.blocks ORDER BY number`,
		"transactions":    `SELECT * FROM export.transactions ORDER BY block_number, hash`,
		"logs":            `SELECT * FROM export.logs ORDER BY block_number, transaction_hash, log_index`,
		"deployments":     `SELECT address, contract, block_number, transaction_hash, learned FROM export.deployments ORDER BY address`,
		"decode_failures": `SELECT block_number, transaction_hash, log_index, contract, address, error FROM export.decode_failures ORDER BY 1, 2, 3, 4`,
		"outbox":          `SELECT topic, key, value, schema, block_number, transaction_hash, log_index FROM export.outbox ORDER BY topic, transaction_hash, log_index`,
		"contracts":       `SELECT name, fingerprint, learn, addresses, tables FROM export.contracts ORDER BY name`,
		"progress":        `SELECT exported_height, blocks, skipped_blocks, start_block FROM export.progress`,
	}
	rows, err := pool.Query(t.Context(), `SELECT unnest(tables) FROM export.contracts`)
	if err != nil {
		t.Fatal(err)
	}
	var typed []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		typed = append(typed, name)
	}
	for _, name := range typed {
		queries[name] = fmt.Sprintf(`SELECT * FROM export.%q ORDER BY 1, 3, 5`, name)
	}
	out := map[string]string{}
	for table, q := range queries {
		var text *string
		if err := pool.QueryRow(t.Context(), `SELECT string_agg(r::text, E'\n') FROM (`+q+`) r`).Scan(&text); err != nil {
			t.Fatalf("snapshot %s: %v", table, err)
		}
		if text != nil {
			out[table] = *text
		} else {
			out[table] = ""
		}
	}
	return out
}

func countRows(t *testing.T, pool *pgxpool.Pool, q string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// caughtUp waits until every block is applied and every decoded message published.
func caughtUp(t *testing.T, c exportv1.ExportServiceClient, blocks uint64) *exportv1.StatusResponse {
	t.Helper()
	return waitStatus(t, c, fmt.Sprintf("%d blocks exported and published", blocks), func(s *exportv1.StatusResponse) bool {
		return s.GetBlocks() == blocks && s.GetOutboxBacklog() == 0 && s.GetLastBlock() == blocks-1
	})
}

// TestExportsEveryRowOnceWhateverTheInstances exports a simulated chain's blocks topic (three
// partitions) with the sample contracts registered: every block, transaction and log appears
// exactly once, the typed tables and the decoded topics hold the registered contracts' calls
// and events; consuming the whole topic again under another group changes no row; and two
// instances sharing the partitions produce exactly the rows one produces.
func TestExportsEveryRowOnceWhateverTheInstances(t *testing.T) {
	msgs := blockMessages(t)
	want := count(t, msgs)
	began := time.Now()

	one := newEnv(t, 3)
	one.produce(msgs)
	r := one.start(one.config(samples))
	st := caughtUp(t, r.client, uint64(want.blocks))
	for q, n := range map[string]int{
		`SELECT count(*) FROM export.blocks`:                                         want.blocks,
		`SELECT count(*) FROM export.transactions`:                                   want.txs,
		`SELECT count(DISTINCT hash) FROM export.transactions`:                       want.txs,
		`SELECT count(*) FROM export.logs`:                                           want.logs,
		`SELECT count(DISTINCT (transaction_hash, log_index)) FROM export.logs`:      want.logs,
		`SELECT count(*) FROM export.outbox WHERE topic LIKE '%.events.v1'`:          int(st.GetEvents()),
		`SELECT count(*) FROM pg_inherits WHERE inhparent = 'export.logs'::regclass`: (want.blocks + 15) / 16,
	} {
		if got := countRows(t, one.pool, q); got != n {
			t.Errorf("%s = %d, want %d", q, got, n)
		}
	}
	if st.GetEvents() == 0 || st.GetCalls() == 0 {
		t.Fatalf("no decoded events (%d) or calls (%d): the sample contracts' traffic was not decoded", st.GetEvents(), st.GetCalls())
	}
	if n := countRows(t, one.pool, `SELECT count(*) FROM export.deployments WHERE learned`); n == 0 {
		t.Error("no deployment learned from the sample contracts' bytecode")
	}
	if n := countRows(t, one.pool, `SELECT count(*) FROM export.asset_transfer`); n == 0 {
		t.Error("typed table asset_transfer is empty")
	}
	if st.GetDecodeFailures() != 0 {
		t.Errorf("%d decode failures on the sample contracts", st.GetDecodeFailures())
	}
	events := decodedOnce(t, drainTopic(t, one.broker.Addrs(), "bcos.chain0.group1.events.v1", 2))
	if len(events) != int(st.GetEvents()) {
		t.Errorf("events topic holds %d events, want the %d queued", len(events), st.GetEvents())
	}
	base := snapshot(t, one.pool)
	t.Logf("one instance: %d blocks, %d transactions, %d logs, %d events, %d calls in %s", want.blocks, want.txs, want.logs, st.GetEvents(), st.GetCalls(), time.Since(began))

	t.Run("replay changes nothing", func(t *testing.T) {
		cfg := one.config(samples)
		cfg.GroupID = "replay"
		r2 := one.start(cfg)
		await.For(t, 60*time.Second, "the replay group applied every block", func() error {
			if n := countRows(t, one.pool, `SELECT coalesce(sum(next_offset), 0) FROM export.kafka_offsets WHERE group_id = 'replay'`); n != want.blocks {
				return fmt.Errorf("%d of %d", n, want.blocks)
			}
			return nil
		})
		caughtUp(t, r2.client, uint64(want.blocks))
		if diff := cmp.Diff(base, snapshot(t, one.pool)); diff != "" {
			t.Errorf("replaying every batch changed rows (-before +after):\n%s", diff)
		}
	})

	t.Run("blocks in reverse order equal", func(t *testing.T) {
		// Every call and event arrives before the deployment that registers its address: the
		// deployment's batch decodes the stored history of the address (backfill).
		rev := newEnv(t, 1)
		reversed := slices.Clone(msgs)
		slices.Reverse(reversed)
		rev.produce(reversed)
		r := rev.start(rev.config(samples))
		caughtUp(t, r.client, uint64(want.blocks))
		if diff := cmp.Diff(base, snapshot(t, rev.pool)); diff != "" {
			t.Errorf("blocks in reverse order stored other rows (-in order +reversed):\n%s", diff)
		}
	})

	t.Run("contracts registered later are backfilled", func(t *testing.T) {
		late := newEnv(t, 3)
		late.produce(msgs)
		r := late.start(late.config(""))
		caughtUp(t, r.client, uint64(want.blocks))
		r.stop()
		r = late.start(late.config(samples)) // Run backfills before it consumes
		caughtUp(t, r.client, uint64(want.blocks))
		if diff := cmp.Diff(base, snapshot(t, late.pool)); diff != "" {
			t.Errorf("backfilled rows differ from rows decoded as they came (-live +backfilled):\n%s", diff)
		}
	})

	t.Run("start block", func(t *testing.T) {
		from := newEnv(t, 3)
		from.produce(msgs)
		cfg := from.config(samples)
		cfg.StartBlock = 20
		r := from.start(cfg)
		st := waitStatus(t, r.client, "blocks from 20 exported", func(s *exportv1.StatusResponse) bool {
			return s.GetBlocks() == uint64(want.blocks-20) && s.GetSkippedBlocks() == 20
		})
		if st.GetStartBlock() != 20 || st.GetLastBlock() != uint64(want.blocks-1) {
			t.Errorf("status %v, want start 20 and height %d", st, want.blocks-1)
		}
		if n := countRows(t, from.pool, `SELECT count(*) FROM export.blocks WHERE number < 20`); n != 0 {
			t.Errorf("%d blocks before the start stored", n)
		}
	})

	t.Run("start time", func(t *testing.T) {
		b := &chainv1.Block{}
		if err := proto.Unmarshal(msgs[20].Value, b); err != nil {
			t.Fatal(err)
		}
		from := newEnv(t, 3)
		from.produce(msgs)
		cfg := from.config("")
		cfg.StartTime = time.UnixMilli(int64(b.GetHeader().GetTimestampMs())).UTC().Format(time.RFC3339Nano)
		r := from.start(cfg)
		waitStatus(t, r.client, "blocks from the start time exported", func(s *exportv1.StatusResponse) bool {
			return s.GetBlocks() == uint64(want.blocks-20) && s.GetSkippedBlocks() == 20
		})
		if n := countRows(t, from.pool, `SELECT min(number) FROM export.blocks`); n != 20 {
			t.Errorf("first block stored %d, want 20 (the first at or after %s)", n, cfg.StartTime)
		}
	})

	t.Run("changed contracts file rebuilds the tables", func(t *testing.T) {
		changed := newEnv(t, 3)
		changed.produce(msgs)
		r := changed.start(changed.config(samples))
		caughtUp(t, r.client, uint64(want.blocks))
		before := countRows(t, changed.pool, `SELECT count(*) FROM export.asset_transfer`)
		r.stop()
		abs, err := filepath.Abs(filepath.Dir(samples))
		if err != nil {
			t.Fatal(err)
		}
		body, err := os.ReadFile(samples)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "contracts.yaml")
		text := strings.ReplaceAll(string(body), "../../../../", abs+"/../../../../")
		text = "skipParams:\n  Asset: {Transfer: [memo]}\n" + text
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		r = changed.start(changed.config(file))
		caughtUp(t, r.client, uint64(want.blocks))
		if n := countRows(t, changed.pool, `SELECT count(*) FROM information_schema.columns WHERE table_schema = 'export' AND table_name = 'asset_transfer' AND column_name = 'memo'`); n != 0 {
			t.Error("asset_transfer still has the memo column the changed file skips")
		}
		if after := countRows(t, changed.pool, `SELECT count(*) FROM export.asset_transfer`); after != before || after == 0 {
			t.Errorf("asset_transfer holds %d rows after the rebuild, %d before", after, before)
		}
	})

	t.Run("two instances equal one", func(t *testing.T) {
		two := newEnv(t, 3)
		a, b := two.start(two.config(samples)), two.start(two.config(samples))
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		if _, err := two.broker.Cluster().WaitGroupStable(ctx, "bcosdata-export-chain0-group1", 2); err != nil {
			t.Fatalf("wait for both instances in the group: %v", err)
		}
		two.produce(msgs)
		caughtUp(t, a.client, uint64(want.blocks))
		caughtUp(t, b.client, uint64(want.blocks))
		na, nb := applied(t, a), applied(t, b)
		if na == 0 || nb == 0 || na+nb < float64(want.blocks) {
			t.Errorf("instances applied %v and %v blocks of %d; want both a share", na, nb, want.blocks)
		}
		t.Logf("instances applied %v and %v blocks", na, nb)
		if diff := cmp.Diff(base, snapshot(t, two.pool)); diff != "" {
			t.Errorf("two instances stored other rows than one (-one +two):\n%s", diff)
		}
	})
}

// decodedOnce checks that every (transaction, log index) is on the events topic once, or
// several times with identical bytes (republished), and returns them.
func decodedOnce(t *testing.T, msgs []kafkago.Message) map[string][]byte {
	t.Helper()
	seen := map[string][]byte{}
	for _, m := range msgs {
		ev, err := kafka.Decode[chainv1.DecodedEvent](m)
		if err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprintf("%x/%d", ev.GetTransactionHash(), ev.GetLogIndex())
		if prev, ok := seen[k]; ok && string(prev) != string(m.Value) {
			t.Errorf("event %s published twice with different bytes", k)
		}
		seen[k] = m.Value
		if string(m.Key) != string(ev.GetContractAddress()) {
			t.Errorf("event %s keyed %x, want its contract address %x", k, m.Key, ev.GetContractAddress())
		}
	}
	return seen
}

// TestPoisonHaltsItsPartition puts a message that is not a block among the blocks: its
// partition halts there, visibly in Status, and nothing after it is applied.
func TestPoisonHaltsItsPartition(t *testing.T) {
	t.Parallel()
	msgs := blockMessages(t)
	e := newEnv(t, 1)
	e.produce(msgs[:10])
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: e.broker.Addrs(), Topic: blocksTopic})
	defer w.Close()
	poison := kafkago.Message{Key: kafka.BlockKey(10), Value: []byte("not a block"),
		Headers: kafka.Headers(kafka.ContentTypeProtobuf, "bcosdata.chain.v1.Block", 10)}
	if err := w.WriteMessages(t.Context(), poison); err != nil {
		t.Fatal(err)
	}
	e.produce(msgs[10:])
	r := e.start(e.config(""))
	st := waitStatus(t, r.client, "the partition halted", func(s *exportv1.StatusResponse) bool { return len(s.GetHaltedPartitions()) > 0 })
	h := st.GetHaltedPartitions()[0]
	if h.GetTopic() != blocksTopic || h.GetPartition() != 0 || h.GetOffset() != 10 || h.GetBlockNumber() != 10 || !strings.Contains(h.GetError(), "undecodable") {
		t.Errorf("halt = %v, want %s/0 at offset 10, block 10, undecodable payload", h, blocksTopic)
	}
	if st.GetBlocks() != 10 || st.GetLastBlock() != 9 {
		t.Errorf("exported %d blocks up to %d, want the 10 before the poison (0-9)", st.GetBlocks(), st.GetLastBlock())
	}
}

// TestBadContractsFileRejectedAtStart: New names the file and the reason.
func TestBadContractsFileRejectedAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "contracts.yaml")
	if err := os.WriteFile(bad, []byte("contracts:\n  - name: Asset\n    abi: missing.abi.json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var cfg export.Config
	cfg.RegisterFlags(newFlagSet())
	cfg.Contracts = bad
	_, err := export.New(cfg, app.Deps{})
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "missing.abi.json") {
		t.Fatalf("New with a contracts file naming a missing ABI = %v, want an error naming %s and missing.abi.json", err, bad)
	}
}

// The crash child ("crash" of children) is this test binary run again to run the export
// service until it is killed; these carry its database, brokers and contracts file.
const (
	childDSNEnv       = "BCOSDATA_EXPORT_CHILD_DSN"
	childBrokersEnv   = "BCOSDATA_EXPORT_CHILD_BROKERS"
	childContractsEnv = "BCOSDATA_EXPORT_CHILD_CONTRACTS"
)

// crashChild is the command that runs the crash child on e with the contracts file.
func crashChild(e *env, contracts string) *exec.Cmd {
	return benchcpu.ChildCommand("crash", childDSNEnv+"="+e.dsn, childBrokersEnv+"="+strings.Join(e.broker.Addrs(), ","), childContractsEnv+"="+contracts)
}

func runCrashChild() error {
	var cfg export.Config
	cfg.RegisterFlags(newFlagSet())
	cfg.Kafka = kafka.Flags{Brokers: strings.Split(os.Getenv(childBrokersEnv), ","), MaxMessageBytes: kafka.MaxBlockMessageBytes}
	cfg.DB = postgres.Flags{URL: os.Getenv(childDSNEnv)}
	cfg.Contracts = os.Getenv(childContractsEnv)
	cfg.Partitions, cfg.PartitionBlocks = 2, 16
	cfg.RetryMin, cfg.RetryMax = 50*time.Millisecond, 500*time.Millisecond
	cfg.HeartbeatInterval, cfg.SessionTimeout = 100*time.Millisecond, 2*time.Second
	pool, err := postgres.NewPool(cfg.DB.URL)
	if err != nil {
		return err
	}
	svc, err := export.New(cfg, app.Deps{Log: zap.NewNop(), Pool: pool})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return fmt.Errorf("export child ended without being killed: %w", svc.Run(ctx))
}

// TestKilledMidStreamLosesAndDuplicatesNothing kills an export process (SIGKILL) while it
// consumes, then starts another: every block, transaction and log is stored once, and the
// events topic holds every decoded event once per (transaction, log index), any republished
// message byte-identical to the first.
func TestKilledMidStreamLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	msgs := blockMessages(t)
	want := count(t, msgs)
	e := newEnv(t, 2)
	abs, err := filepath.Abs(samples)
	if err != nil {
		t.Fatal(err)
	}
	cmd := crashChild(e, abs)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Half the chain first, the rest while the child consumes.
	e.produce(msgs[:len(msgs)/2])
	await.For(t, 60*time.Second, "the child stored some blocks", func() error {
		var n int
		if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM export.blocks`).Scan(&n); err != nil || n == 0 {
			return errors.Join(err, errors.New("no block yet"))
		}
		return nil
	})
	produced := make(chan error, 1)
	go func() { produced <- e.write(msgs[len(msgs)/2:]) }()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	killedAt := countRows(t, e.pool, `SELECT count(*) FROM export.blocks`)
	t.Logf("killed with %d of %d blocks stored; child stderr: %q", killedAt, want.blocks, stderr.String())

	r := e.start(e.config(samples))
	st := caughtUp(t, r.client, uint64(want.blocks))
	for q, n := range map[string]int{
		`SELECT count(*) FROM export.blocks`:       want.blocks,
		`SELECT count(*) FROM export.transactions`: want.txs,
		`SELECT count(*) FROM export.logs`:         want.logs,
	} {
		if got := countRows(t, e.pool, q); got != n {
			t.Errorf("%s = %d, want %d", q, got, n)
		}
	}
	events := decodedOnce(t, drainTopic(t, e.broker.Addrs(), "bcos.chain0.group1.events.v1", 2))
	if len(events) != int(st.GetEvents()) || len(events) == 0 {
		t.Errorf("events topic holds %d distinct events, want the %d queued", len(events), st.GetEvents())
	}
	var typed int
	for _, table := range []string{"asset_issue", "asset_transfer", "evidence_evidence_stored"} {
		typed += countRows(t, e.pool, `SELECT count(*) FROM export.`+table)
	}
	if typed != len(events) {
		t.Errorf("typed event tables hold %d rows, events topic %d events", typed, len(events))
	}
}

// applied returns the blocks an instance applied (bcosdata_export_blocks_total).
func applied(t *testing.T, r *running) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "bcosdata_export_blocks_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// TestUndecodableLogIsRecordedNotPoison corrupts the data of one log of a registered contract:
// the stream goes on, the failure is stored and counted for the contract.
func TestUndecodableLogIsRecordedNotPoison(t *testing.T) {
	t.Parallel()
	msgs := slices.Clone(blockMessages(t))
	want := count(t, msgs)
	asset := contractAddress(t, "Asset")
	var corrupted []byte
	for i, m := range msgs {
		b := &chainv1.Block{}
		if err := proto.Unmarshal(m.Value, b); err != nil {
			t.Fatal(err)
		}
		for _, r := range b.GetReceipts() {
			for _, l := range r.GetLogs() {
				if corrupted == nil && bytes.Equal(l.GetAddress(), asset) && len(l.GetTopics()) == 3 && len(l.GetData()) > 64 { // Asset Transfer
					l.Data = l.GetData()[:7]
					corrupted = r.GetTransactionHash()
				}
			}
		}
		if corrupted != nil {
			v, err := proto.MarshalOptions{Deterministic: true}.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			msgs[i].Value = v
			break
		}
	}
	if corrupted == nil {
		t.Fatal("no Transfer log in the simulated chain")
	}
	e := newEnv(t, 1)
	e.produce(msgs)
	r := e.start(e.config(samples))
	st := caughtUp(t, r.client, uint64(want.blocks))
	if st.GetDecodeFailures() != 1 || len(st.GetHaltedPartitions()) != 0 {
		t.Errorf("status %v, want one decode failure and no halt", st)
	}
	var contract, msg string
	if err := e.pool.QueryRow(t.Context(), `SELECT contract, error FROM export.decode_failures WHERE transaction_hash = $1`, corrupted).Scan(&contract, &msg); err != nil {
		t.Fatalf("read the recorded failure: %v", err)
	}
	if contract != "Asset" {
		t.Errorf("failure recorded for %s, want Asset: %s", contract, msg)
	}
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "bcosdata_export_decode_failures_total" {
			for _, m := range mf.GetMetric() {
				found = found || (m.GetLabel()[0].GetValue() == "Asset" && m.GetCounter().GetValue() == 1)
			}
		}
	}
	if !found {
		t.Error("bcosdata_export_decode_failures_total{contract=\"Asset\"} is not 1")
	}
}
