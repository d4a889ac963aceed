package export_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/benchcpu"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	chainv1 "github.com/bcosdata/bcosdata/proto/bcosdata/chain/v1"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	"github.com/bcosdata/bcosdata/services/export"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/fiscosim/simtest"
	"github.com/bcosdata/bcosdata/services/stash"
)

func TestMain(m *testing.M) {
	children.Run()
	pgtest.Main(m)
}

// children are the processes this test binary runs as (see benchcpu.Children): the export
// service the crash tests kill ("crash"); the broker of BenchmarkExport and
// BenchmarkQueryAPI, and BenchmarkQueryAPI's export service, load client and loopback echo.
var children = benchcpu.Children{
	"crash": runCrashChild,
	"broker": func() error {
		return benchcpu.ServeBroker(kafkatest.WithMaxMessageBytes(kafka.MaxBlockMessageBytes))
	},
	"api":  serveAPIChild,
	"load": runLoadChild,
	"echo": serveEcho,
}

// samples is the contracts file registering the simulator's Asset and Evidence (learn: true).
const samples = "internal/contract/testdata/samples.yaml"

// chainBlocks is the simulated chain's blocks topic, made once per test binary.
var chainBlocks struct {
	once sync.Once
	msgs []kafkago.Message
	// contracts are the simulator's deployments (name and address).
	contracts []fiscosim.ContractInfo
	// stashMetrics is what the stash that published the chain registered.
	stashMetrics *recorder
	err          error
}

// simBlocks is the number of blocks after genesis in the simulated chain.
const simBlocks = 40

// blockMessages returns the blocks topic of a simulated chain of simBlocks blocks (genesis
// included): fiscosim writes the chain with its sample contracts' traffic, stash verifies it
// and publishes it, exactly as in production.
func blockMessages(t *testing.T) []kafkago.Message {
	t.Helper()
	chainBlocks.once.Do(func() {
		cfg := simtest.Config(t)
		cfg.Blocks, cfg.Exit = simBlocks, true
		cfg.RPCAddr, cfg.BinlogAddr = "", ""
		sim, err := fiscosim.New(cfg, nil)
		if err != nil {
			chainBlocks.err = err
			return
		}
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		if err := sim.Run(ctx); err != nil {
			chainBlocks.err = fmt.Errorf("fiscosim: %w", err)
			return
		}
		chainBlocks.contracts = sim.Contracts()
		broker := kafkatest.NewBroker(t, kafkatest.WithMaxMessageBytes(kafka.MaxBlockMessageBytes))
		scfg := stash.DefaultConfig()
		scfg.Sources = app.StringList{"file://" + sim.BinlogDir()}
		scfg.Kafka = kafka.Flags{Brokers: broker.Addrs(), MaxMessageBytes: kafka.MaxBlockMessageBytes}
		scfg.DB = postgres.Flags{URL: pgtest.NewDB(t)}
		scfg.CacheDir = t.TempDir()
		scfg.Poll = 20 * time.Millisecond
		chainBlocks.stashMetrics = &recorder{Registry: prometheus.NewRegistry()}
		svc, err := stash.New(scfg, app.Deps{Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), Metrics: chainBlocks.stashMetrics})
		if err != nil {
			chainBlocks.err = err
			return
		}
		sctx, scancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- svc.Run(sctx) }()
		defer func() { scancel(); <-done }()
		chainBlocks.msgs = readTopic(t, broker.Addrs(), "bcos.chain0.group1.blocks.v1", 0, simBlocks+1)
	})
	if chainBlocks.err != nil {
		t.Fatal(chainBlocks.err)
	}
	return chainBlocks.msgs
}

// contractAddress returns the address the simulated chain deployed the named contract at
// first, as bytes.
func contractAddress(t *testing.T, name string) []byte {
	t.Helper()
	blockMessages(t)
	for _, c := range chainBlocks.contracts {
		if c.Name == name {
			return common.HexToAddress(c.Address).Bytes()
		}
	}
	t.Fatalf("the simulated chain has no %s", name)
	return nil
}

// readTopic reads partition p of topic from the start until n messages arrived.
func readTopic(t *testing.T, addrs []string, topic string, p, n int) []kafkago.Message {
	t.Helper()
	var out []kafkago.Message
	await.For(t, 60*time.Second, fmt.Sprintf("%d messages on %s", n, topic), func() error {
		conn, err := kafkago.DialLeader(t.Context(), "tcp", addrs[0], topic, p)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.Seek(int64(len(out)), kafkago.SeekAbsolute); err != nil {
			return err
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		batch := conn.ReadBatchWith(kafkago.ReadBatchConfig{MinBytes: 1, MaxBytes: 256 << 20, MaxWait: 100 * time.Millisecond})
		defer batch.Close()
		for len(out) < n {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			out = append(out, m)
		}
		if len(out) < n {
			return fmt.Errorf("%d of %d", len(out), n)
		}
		return nil
	})
	return out
}

// drainTopic reads every message of every partition of topic that is there now.
func drainTopic(t *testing.T, addrs []string, topic string, partitions int) []kafkago.Message {
	t.Helper()
	var out []kafkago.Message
	for p := range partitions {
		conn, err := kafkago.DialLeader(t.Context(), "tcp", addrs[0], topic, p)
		if err != nil {
			t.Fatalf("dial leader of %s/%d: %v", topic, p, err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatalf("read last offset of %s/%d: %v", topic, p, err)
		}
		if last > 0 {
			out = append(out, readTopic(t, addrs, topic, p, int(last))...)
		}
	}
	return out
}

// env is a broker and a database for one test.
type env struct {
	t      *testing.T
	broker *kafkatest.Broker
	dsn    string
	pool   *pgxpool.Pool
}

const blocksTopic = "bcos.chain0.group1.blocks.v1"

func newEnv(t *testing.T, partitions int32) *env {
	t.Helper()
	e := &env{t: t, broker: kafkatest.NewBroker(t, kafkatest.WithMaxMessageBytes(kafka.MaxBlockMessageBytes)), dsn: pgtest.NewDB(t)}
	e.broker.CreateTopic(t, blocksTopic, partitions, map[string]string{"max.message.bytes": fmt.Sprint(kafka.MaxBlockMessageBytes)})
	pool, err := postgres.NewPool(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e.pool = pool
	return e
}

// produce writes block messages to the blocks topic, keyed by block number as stash does.
func (e *env) produce(msgs []kafkago.Message) {
	e.t.Helper()
	if err := e.write(msgs); err != nil {
		e.t.Fatal(err)
	}
}

// write publishes msgs to the blocks topic; unlike produce it may run in another goroutine.
func (e *env) write(msgs []kafkago.Message) error {
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: e.broker.Addrs(), Topic: blocksTopic})
	defer w.Close()
	out := make([]kafkago.Message, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, kafkago.Message{Key: m.Key, Value: m.Value, Headers: m.Headers})
	}
	if err := w.WriteMessages(e.t.Context(), out...); err != nil {
		return fmt.Errorf("produce %d blocks: %w", len(msgs), err)
	}
	return nil
}

// config is an export configuration on the env with short timings.
func (e *env) config(contracts string) export.Config {
	var cfg export.Config
	cfg.RegisterFlags(newFlagSet())
	cfg.Kafka = kafka.Flags{Brokers: e.broker.Addrs(), MaxMessageBytes: kafka.MaxBlockMessageBytes}
	cfg.DB = postgres.Flags{URL: e.dsn}
	cfg.Contracts = contracts
	cfg.Partitions = 2
	cfg.PartitionBlocks = 16 // several partitions of each large table on a 41-block chain
	cfg.RetryMin, cfg.RetryMax = 50*time.Millisecond, 500*time.Millisecond
	cfg.HeartbeatInterval, cfg.SessionTimeout = kafkatest.HeartbeatInterval, kafkatest.SessionTimeout
	return cfg
}

// running is an export service running in the test process.
type running struct {
	svc *export.Service
	reg *prometheus.Registry
	// metrics records the collectors export registered on reg.
	metrics *recorder
	client  exportv1.ExportServiceClient
	stop    func()
}

func (e *env) start(cfg export.Config) *running {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	rec := &recorder{Registry: reg}
	svc, err := export.New(cfg, app.Deps{Log: zaptest.NewLogger(e.t, zaptest.Level(zap.WarnLevel)), Metrics: rec, Pool: e.pool})
	if err != nil {
		e.t.Fatalf("export.New: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	g := grpc.NewServer()
	svc.Register(g)
	go g.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				e.t.Error("export did not stop within 30 s")
			}
			conn.Close()
			g.Stop()
		})
	}
	e.t.Cleanup(stop)
	return &running{svc: svc, reg: reg, metrics: rec, client: exportv1.NewExportServiceClient(conn), stop: stop}
}

// waitStatus waits until Status satisfies cond.
func waitStatus(t *testing.T, c exportv1.ExportServiceClient, what string, cond func(*exportv1.StatusResponse) bool) *exportv1.StatusResponse {
	t.Helper()
	return await.Value(t, 60*time.Second, what, func() (*exportv1.StatusResponse, error) {
		s, err := c.Status(t.Context(), &exportv1.StatusRequest{})
		if err != nil {
			return nil, err
		}
		if !cond(s) {
			return nil, fmt.Errorf("not yet: %v", s)
		}
		return s, nil
	})
}

// expected is what the block messages hold.
type expected struct {
	blocks, txs, logs int
}

func count(t *testing.T, msgs []kafkago.Message) expected {
	t.Helper()
	var x expected
	for _, m := range msgs {
		b := &chainv1.Block{}
		if err := proto.Unmarshal(m.Value, b); err != nil {
			t.Fatal(err)
		}
		x.blocks++
		x.txs += len(b.GetTransactions())
		for _, r := range b.GetReceipts() {
			x.logs += len(r.GetLogs())
		}
	}
	return x
}

// recorder is a registry that remembers the collectors registered on it, so that tests can
// list every metric a service declares, labelled vectors never observed included (Gather
// leaves those out).
type recorder struct {
	*prometheus.Registry
	mu         sync.Mutex
	collectors []prometheus.Collector
}

// Register registers c and records it.
func (r *recorder) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.collectors = append(r.collectors, c)
	r.mu.Unlock()
	return nil
}

// MustRegister registers cs, panicking as prometheus.Registry does on a failure.
func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// fqName finds a metric's name in its Desc's text form (Desc keeps it unexported).
var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// Names returns the full names of every metric the registered collectors describe.
func (r *recorder) Names() map[string]bool {
	r.mu.Lock()
	cs := slices.Clone(r.collectors)
	r.mu.Unlock()
	out := map[string]bool{}
	for _, c := range cs {
		ch := make(chan *prometheus.Desc)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			if m := fqName.FindStringSubmatch(d.String()); m != nil {
				out[m[1]] = true
			}
		}
	}
	return out
}

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("export", flag.ContinueOnError) }
