package export_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/benchcpu"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	"github.com/bcosdata/bcosdata/services/export"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/stash"
)

// benchExportTxsEnv overrides the size of the benchmark chain (default 1,000,000 transactions).
const benchExportTxsEnv = "BCOSDATA_BENCH_EXPORT_TXS"

// benchPartitions is the partition count of the blocks topic in the benchmark: one per core.
const benchPartitions = 2

// BenchmarkExport measures export consuming a bulk chain of the full mix (Asset, Evidence,
// Ledger and Registry calls and events, all four registered) that stash verified and
// published, and beside it, in the same run, the ceiling: the same rows written by plain
// COPY into copies of the same tables (same columns and indexes), the database's own write
// rate. export/copy is the ratio of the two row rates (target ≥ 0.5). The processor time of
// export (this process), of PostgreSQL and of the broker (a child process) per transaction is
// reported beside it.
func BenchmarkExport(b *testing.B) {
	txs := benchTxs(b)
	dir, blocks := benchExportChain(b, txs)
	broker := benchcpu.StartBroker(b, "broker")
	benchPublish(b, dir, broker.Addrs, blocks)
	file := writeContractsFile(b, false, allContracts...)
	for b.Loop() {
		dsn := pgtest.NewDB(b)
		pool, err := postgres.NewPool(dsn)
		if err != nil {
			b.Fatal(err)
		}
		run := benchConsume(b, pool, dsn, broker, file, blocks)
		var stored, failures, typed int
		if err := pool.QueryRow(b.Context(), `SELECT (SELECT count(*) FROM export.transactions), (SELECT count(*) FROM export.decode_failures),
			(SELECT count(*) FROM export.outbox)`).Scan(&stored, &failures, &typed); err != nil {
			b.Fatal(err)
		}
		if stored != txs || failures != 0 || typed == 0 {
			b.Fatalf("export stored %d of %d transactions, %d decode failures, %d decoded messages", stored, txs, failures, typed)
		}
		rows, copyTook := copyCeiling(b, pool)
		pool.Close()
		exportRows := float64(rows) / run.took.Seconds()
		copyRows := float64(rows) / copyTook.Seconds()
		b.ReportMetric(float64(txs)/run.took.Seconds(), "export-tx/s")
		b.ReportMetric(exportRows, "export-rows/s")
		b.ReportMetric(copyRows, "copy-rows/s")
		b.ReportMetric(exportRows/copyRows, "export/copy")
		b.ReportMetric(float64(rows), "rows")
		b.ReportMetric(run.first.Seconds(), "first-block-s")
		b.ReportMetric(float64(txs)/(run.took-run.first).Seconds(), "after-first-tx/s")
		if run.cpu.OK {
			perTx := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(txs) }
			b.ReportMetric(perTx(run.cpu.Self), "export-cpu-µs/tx")
			b.ReportMetric(perTx(run.cpu.Postgres), "pg-cpu-µs/tx")
			b.ReportMetric(perTx(run.cpu.Broker), "broker-cpu-µs/tx")
		}
	}
}

// benchTxs is the size of the benchmark chain: 1,000,000 transactions unless
// BCOSDATA_BENCH_EXPORT_TXS says otherwise.
func benchTxs(b *testing.B) int {
	b.Helper()
	v := os.Getenv(benchExportTxsEnv)
	if v == "" {
		return 1_000_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1000 {
		b.Fatalf("%s=%q: want a number of at least 1000", benchExportTxsEnv, v)
	}
	return n
}

// benchExportChain writes (once, cached in the temporary directory) a bulk chain of txs
// transactions of the full mix and returns its binlog directory and block count.
func benchExportChain(b *testing.B, txs int) (string, int) {
	b.Helper()
	root := filepath.Join(os.TempDir(), fmt.Sprintf("bcosdata-export-bench-%d", txs))
	cfg := fiscosim.DefaultConfig()
	cfg.Data = root
	cfg.RPCAddr, cfg.BinlogAddr = "", ""
	cfg.Bulk, cfg.Txs, cfg.MaxTxs, cfg.Accounts, cfg.Progress = true, txs, 1000, 100, false
	cfg.Mix = fiscosim.MixFull
	cfg.Clock = fiscosim.ClockSim
	done := filepath.Join(root, "complete")
	bin := filepath.Join(root, "group1", "BinaryLogs")
	if head, err := os.ReadFile(done); err == nil {
		n, err := strconv.Atoi(string(head))
		if err == nil {
			return bin, n + 1
		}
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
	if err := os.WriteFile(done, []byte(fmt.Sprint(sim.HeadNumber())), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote a %d-transaction full-mix chain of %d blocks to %s in %s", txs, sim.HeadNumber()+1, bin, time.Since(start).Round(time.Second))
	return bin, int(sim.HeadNumber()) + 1
}

// benchPublish runs stash on the chain until it published every block to the broker, and
// This is set-up: nothing of it is measured.
func benchPublish(b *testing.B, dir string, brokers []string, blocks int) {
	b.Helper()
	start := time.Now()
	scfg := stash.DefaultConfig()
	scfg.Sources = app.StringList{"file://" + dir}
	scfg.Partitions = benchPartitions
	scfg.Kafka = kafka.Flags{Brokers: brokers, MaxMessageBytes: kafka.MaxBlockMessageBytes}
	scfg.DB = postgres.Flags{URL: pgtest.NewDB(b)}
	scfg.CacheDir = b.TempDir()
	scfg.Poll = 50 * time.Millisecond
	svc, err := stash.New(scfg, app.Deps{Log: zap.NewNop(), Metrics: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("stash Run: %v", err)
		}
	}()
	await.For(b, 60*time.Minute, "stash published the chain", func() error {
		n := 0
		for p := range benchPartitions {
			n += partitionSize(brokers, blocksTopic, p)
		}
		if n < blocks {
			return fmt.Errorf("%d of %d blocks published", n, blocks)
		}
		return nil
	})
	b.Logf("stash published %d blocks in %s", blocks, time.Since(start).Round(time.Millisecond))
}

// partitionSize is the number of messages in partition p of topic, -1 when unknown.
func partitionSize(brokers []string, topic string, p int) int {
	conn, err := kafkago.DialLeader(context.Background(), "tcp", brokers[0], topic, p)
	if err != nil {
		return -1
	}
	defer conn.Close()
	last, err := conn.ReadLastOffset()
	if err != nil {
		return -1
	}
	return int(last)
}

// consumed is one export run: how long it took to apply and publish everything, and the
// processor time used meanwhile.
type consumed struct {
	// took runs from Run to the last message published; first to the first block stored
	// (start-up: migrations, contracts, joining the group).
	took, first time.Duration
	cpu         benchcpu.Times
	// groupID is the consumer group, whose offsets are stored: a service started again with
	// it resumes at the end of the topic.
	groupID string
}

// benchConsume runs export on the blocks topic from the start until every block is exported
// and every decoded message published.
func benchConsume(b *testing.B, pool *pgxpool.Pool, dsn string, broker benchcpu.Broker, file string, blocks int) consumed {
	b.Helper()
	var cfg export.Config
	cfg.RegisterFlags(newFlagSet())
	cfg.Kafka = kafka.Flags{Brokers: broker.Addrs, MaxMessageBytes: kafka.MaxBlockMessageBytes}
	cfg.DB = postgres.Flags{URL: dsn}
	cfg.Contracts = file
	cfg.GroupID = fmt.Sprintf("bench-%d", time.Now().UnixNano())
	cfg.HeartbeatInterval, cfg.SessionTimeout = kafkatest.HeartbeatInterval, kafkatest.SessionTimeout
	svc, err := export.New(cfg, app.Deps{Log: zap.NewNop(), Metrics: prometheus.NewRegistry(), Pool: pool})
	if err != nil {
		b.Fatal(err)
	}
	// Warm the pool so no backend that ends mid-run takes its processor time with it.
	conns := make([]*pgxpool.Conn, 0, 4)
	for range cap(conns) {
		c, err := pool.Acquire(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	g := grpc.NewServer()
	svc.Register(g)
	go g.Serve(lis)
	defer g.Stop()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	client := exportv1.NewExportServiceClient(cc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// The server's processes are the postmaster and its children, the backends among them.
	postmaster, err := benchcpu.Postmaster(b.Context(), pool)
	if err != nil {
		b.Fatal(err)
	}
	before := benchcpu.Read(broker.PID, postmaster)
	start := time.Now()
	go func() { done <- svc.Run(ctx) }()
	var took, first time.Duration
	await.For(b, 60*time.Minute, "export caught up", func() error {
		st, err := client.Status(b.Context(), &exportv1.StatusRequest{})
		if err != nil {
			return err
		}
		if first == 0 && st.GetBlocks() > 0 {
			first = time.Since(start)
		}
		if st.GetBlocks() != uint64(blocks) || st.GetOutboxBacklog() != 0 {
			return fmt.Errorf("%d of %d blocks, %d messages to publish", st.GetBlocks(), blocks, st.GetOutboxBacklog())
		}
		took = time.Since(start)
		return nil
	})
	used := benchcpu.Read(broker.PID, postmaster).Sub(before)
	cancel()
	if err := <-done; err != nil {
		b.Errorf("export Run: %v", err)
	}
	return consumed{took: took, first: first, cpu: used, groupID: cfg.GroupID}
}

// copyCeiling copies every row export wrote (base tables, typed tables, deployments and the
// outbox) into fresh tables made like export's (columns, identity, constraints, indexes,
// partitions: copyTableDDL) with COPY, in one transaction, and returns the row count and how
// long the COPY and commit took.
func copyCeiling(b *testing.B, pool *pgxpool.Pool) (int64, time.Duration) {
	b.Helper()
	ctx := b.Context()
	tables := []string{"blocks", "transactions", "logs", "deployments", "outbox"}
	rows, err := pool.Query(ctx, `SELECT unnest(tables) FROM export.contracts`)
	if err != nil {
		b.Fatal(err)
	}
	typed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	tables = append(tables, typed...)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	pg := conn.Conn().PgConn()
	if _, err := pg.Exec(ctx, `DROP SCHEMA IF EXISTS copybench CASCADE; CREATE SCHEMA copybench`).ReadAll(); err != nil {
		b.Fatal(err)
	}
	data := make([]bytes.Buffer, len(tables))
	for i, t := range tables {
		id := pgx.Identifier{t}.Sanitize()
		for _, ddl := range copyTableDDL(b, conn.Conn(), t) {
			if _, err := pg.Exec(ctx, ddl).ReadAll(); err != nil {
				b.Fatalf("%s: %v", ddl, err)
			}
		}
		if _, err := pg.CopyTo(ctx, &data[i], fmt.Sprintf(`COPY (SELECT * FROM export.%s) TO STDOUT (FORMAT binary)`, id)); err != nil {
			b.Fatalf("copy out %s: %v", t, err)
		}
	}
	var n int64
	start := time.Now()
	if _, err := pg.Exec(ctx, `BEGIN`).ReadAll(); err != nil {
		b.Fatal(err)
	}
	for i, t := range tables {
		tag, err := pg.CopyFrom(ctx, &data[i], fmt.Sprintf(`COPY copybench.%s FROM STDIN (FORMAT binary)`, pgx.Identifier{t}.Sanitize()))
		if err != nil {
			b.Fatalf("copy into %s: %v", t, err)
		}
		n += tag.RowsAffected()
	}
	if _, err := pg.Exec(ctx, `COMMIT`).ReadAll(); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	if _, err := pg.Exec(ctx, `DROP SCHEMA copybench CASCADE`).ReadAll(); err != nil {
		b.Fatal(err)
	}
	return n, took
}

// copyTableDDL returns the statements creating copybench.<table> as export.<table> is: the
// same columns, defaults, identity, constraints and indexes, and for a partitioned table the
// same partitioning and partitions, so that COPY does the work export's writes must do
// (tuple routing, every index of every partition).
func copyTableDDL(b *testing.B, conn *pgx.Conn, table string) []string {
	b.Helper()
	id := pgx.Identifier{table}.Sanitize()
	var key *string
	if err := conn.QueryRow(b.Context(), `SELECT pg_get_partkeydef(c.oid) FROM pg_class c WHERE c.oid = $1::regclass`,
		"export."+id).Scan(&key); err != nil {
		b.Fatalf("read partitioning of %s: %v", table, err)
	}
	if key == nil {
		return []string{fmt.Sprintf(`CREATE TABLE copybench.%s (LIKE export.%s INCLUDING ALL)`, id, id)}
	}
	ddl := []string{fmt.Sprintf(`CREATE TABLE copybench.%s (LIKE export.%s INCLUDING ALL) PARTITION BY %s`, id, id, *key)}
	rows, err := conn.Query(b.Context(), `SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::regclass ORDER BY 1`, "export."+id)
	if err != nil {
		b.Fatalf("read partitions of %s: %v", table, err)
	}
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var name, bound string
		err := r.Scan(&name, &bound)
		return fmt.Sprintf(`CREATE TABLE copybench.%s PARTITION OF copybench.%s %s`, pgx.Identifier{name}.Sanitize(), id, bound), err
	})
	if err != nil {
		b.Fatalf("read partitions of %s: %v", table, err)
	}
	return append(ddl, parts...)
}
