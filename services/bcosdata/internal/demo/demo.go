// Package demo runs the whole pipeline in one process on embedded defaults: a local PostgreSQL
// cluster, an in-process Kafka-protocol broker, the fiscosim node simulator producing traffic,
// and every service (stash ingesting the simulator's binlog files, verifying every block and
// publishing to Kafka; export storing and decoding them with the sample contracts registered;
// reconcile consuming export's decoded events) hosted on one gRPC server and one PostgreSQL
// pool, the way bcosdata hosts them. As soon as reconcile's evidence service and the
// simulator's Evidence contract answer it publishes a few signed records (evidence.go), early
// enough for their batch root to be anchored before a chain stopping at -blocks stops. Once
// synced it reconciles a sample business file with planted differences, waits for the records'
// anchor and prints a summary (summary.go). It is what
// `make demo` runs: nothing has to be installed or running beforehand except Go and the
// PostgreSQL server binaries.
package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/postgres/pglocal"
	"github.com/bcosdata/bcosdata/services/export"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/reconcile"
	"github.com/bcosdata/bcosdata/services/stash"
)

// EnvPrefix backs every demo flag with DEMO_<FLAG>.
const EnvPrefix = "DEMO"

// Config is what the demo runs. The defaults use the architecture's ports.
type Config struct {
	Data     string
	Fresh    bool
	Duration time.Duration
	Blocks   uint64
	// ExitWhenDone ends the demo, with the summary, once every service caught up with block
	// Blocks; JSON prints that summary as one JSON object.
	ExitWhenDone, JSON bool
	TPS                float64
	KafkaAddr          string
	PGPort             int
	RPCAddr            string
	BinlogAddr         string
	// Server is the one gRPC and admin HTTP server that hosts every service.
	Server app.ServerConfig
	// StashHTTP, ExportHTTP and ReconcileHTTP are the services' HTTP/JSON APIs, each on its own
	// port as when they run apart (empty disables one).
	StashHTTP, ExportHTTP, ReconcileHTTP string
	Chain                                string
	StatusEvery                          time.Duration
	MaxTxs                               int
	BlockEvery                           time.Duration
	Log                                  app.LogFlags

	// The stash.* address flags of the demo that hosted stash alone; kept as aliases.
	stashGRPC, stashAdmin string
}

// RegisterFlags adds the demo's options to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Data, "data", ".data/demo", "directory for the demo's chain, PostgreSQL cluster and Kafka log; kept between runs")
	fs.BoolVar(&c.Fresh, "fresh", false, "delete the data directory first and start a new chain")
	fs.DurationVar(&c.Duration, "duration", 0, "stop after this long (0: run until interrupted)")
	fs.Uint64Var(&c.Blocks, "blocks", 0, "stop the chain at this block; once stash, export and reconcile caught up, reconcile a sample business file and print the summary (0: no limit)")
	fs.BoolVar(&c.ExitWhenDone, "exit-when-done", false, "exit once the summary is printed (needs -blocks); exit status 1 when counts disagree across services, the reconciliation differs from the planted differences or an evidence record is not anchored")
	fs.BoolVar(&c.JSON, "json", false, "print the summary as one JSON object on stdout (progress goes to stderr)")
	fs.Float64Var(&c.TPS, "tps", 20, "transactions per second the simulator sends")
	fs.DurationVar(&c.BlockEvery, "block-interval", time.Second, "time between simulated blocks")
	fs.IntVar(&c.MaxTxs, "max-txs", 1000, "most transactions per simulated block")
	fs.StringVar(&c.KafkaAddr, "kafka.addr", "127.0.0.1:9092", "listen address of the embedded Kafka broker")
	fs.IntVar(&c.PGPort, "pg.port", 0, "port of the embedded PostgreSQL server (0: a free one)")
	fs.StringVar(&c.RPCAddr, "rpc.addr", "127.0.0.1:8545", "fiscosim JSON-RPC listen address")
	fs.StringVar(&c.BinlogAddr, "binlog.addr", "127.0.0.1:8546", "fiscosim binlog HTTP listen address")
	c.Server.RegisterFlags(fs, "127.0.0.1:9101", "127.0.0.1:9201")
	fs.StringVar(&c.StashHTTP, "stash.http.addr", "127.0.0.1:9301", "stash's HTTP/JSON API listen address (empty disables it)")
	fs.StringVar(&c.ExportHTTP, "export.http.addr", "127.0.0.1:9302", "export's HTTP/JSON API listen address (empty disables it)")
	fs.StringVar(&c.ReconcileHTTP, "reconcile.http.addr", "127.0.0.1:9303", "reconcile's HTTP/JSON API listen address (empty disables it)")
	fs.StringVar(&c.stashGRPC, "stash.grpc.addr", "", "old name of -grpc.addr")
	fs.StringVar(&c.stashAdmin, "stash.admin.addr", "", "old name of -admin.addr")
	fs.StringVar(&c.Chain, "chain", "chain0", "chain name used in topic names")
	fs.DurationVar(&c.StatusEvery, "status-every", 5*time.Second, "how often to print progress")
	c.Log.Register(fs)
}

// Validate reports unusable values, naming the flag.
func (c *Config) Validate() error {
	var errs []error
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("-duration %s: want 0 (no limit) or more", c.Duration))
	}
	if c.TPS <= 0 {
		errs = append(errs, fmt.Errorf("-tps %g: want more than 0", c.TPS))
	}
	if c.BlockEvery <= 0 {
		errs = append(errs, fmt.Errorf("-block-interval %s: want more than 0", c.BlockEvery))
	}
	if c.MaxTxs < 1 {
		errs = append(errs, fmt.Errorf("-max-txs %d: want 1 or more", c.MaxTxs))
	}
	if c.PGPort < 0 || c.PGPort > 65535 {
		errs = append(errs, fmt.Errorf("-pg.port %d: want 0 (a free port) to 65535", c.PGPort))
	}
	if c.StatusEvery <= 0 {
		errs = append(errs, fmt.Errorf("-status-every %s: want more than 0", c.StatusEvery))
	}
	if c.ExitWhenDone && c.Blocks == 0 {
		errs = append(errs, errors.New("-exit-when-done: needs -blocks, the block to stop at"))
	}
	if err := c.Server.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Server.GRPCAddr == "" {
		for flag, addr := range map[string]string{"stash.http.addr": c.StashHTTP, "export.http.addr": c.ExportHTTP, "reconcile.http.addr": c.ReconcileHTTP} {
			if addr != "" {
				errs = append(errs, fmt.Errorf("-%s %s: needs -grpc.addr, the API it serves over HTTP", flag, addr))
			}
		}
	}
	return errors.Join(errs...)
}

// Run parses args and runs the demo until ctx ends, Duration passes or Blocks are published.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if cfg.JSON {
		return cfg.run(ctx, stderr, stdout)
	}
	return cfg.Run(ctx, stdout)
}

// parse returns the configuration args and the DEMO_* environment describe.
func parse(args []string, stderr io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("bcosdata demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.RegisterFlags(fs)
	if err := app.ParseFlags(fs, EnvPrefix, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, &app.UsageError{Err: err}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.stashGRPC != "" && !set["grpc.addr"] {
		cfg.Server.GRPCAddr = cfg.stashGRPC
	}
	if cfg.stashAdmin != "" && !set["admin.addr"] {
		cfg.Server.AdminAddr = cfg.stashAdmin
	}
	if !set["log.level"] {
		cfg.Log.Level = "warn" // The progress lines are the demo's output; logs only when something is wrong.
		cfg.Log.Dev = true
	}
	if err := cfg.Validate(); err != nil {
		return cfg, &app.UsageError{Err: err}
	}
	return cfg, nil
}

// Run starts every part, prints progress and the summary to out, and stops them all when ctx
// ends, Duration passes, a part fails or, with ExitWhenDone, the summary is printed.
func (c Config) Run(ctx context.Context, out io.Writer) error { return c.run(ctx, out, out) }

// run is Run with progress and the summary on their own writers.
func (c Config) run(ctx context.Context, out, summaryOut io.Writer) error {
	log, err := c.Log.Build()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if c.Fresh {
		if err := os.RemoveAll(c.Data); err != nil {
			return fmt.Errorf("remove demo data %s: %w", c.Data, err)
		}
	}
	data, err := filepath.Abs(c.Data)
	if err != nil {
		return fmt.Errorf("resolve demo data %s: %w", c.Data, err)
	}
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fmt.Errorf("create demo data %s: %w", data, err)
	}
	if c.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Duration)
		defer cancel()
	}
	say := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }

	if err := c.checkPorts(); err != nil {
		return err
	}
	say("bcosdata demo: data in %s (delete it or pass -fresh to start over)", data)
	pg, err := pglocal.Start(ctx, pglocal.Options{Dir: pgDir(data, say), Port: c.PGPort,
		Logf: func(f string, a ...any) { say("  postgres: "+f, a...) }})
	if errors.Is(err, pglocal.ErrPortInUse) {
		return &PortInUseError{Port: c.PGPort, Flag: "pg.port"}
	}
	if err != nil {
		return fmt.Errorf("start embedded PostgreSQL: %w", err)
	}
	defer func() { _ = pg.Stop() }()
	if err := pg.CreateDatabase(ctx, "bcosdata"); err != nil {
		return err
	}
	dbURL := pg.URL("bcosdata")
	// One pool for every service, made without connecting; closed by the deferred call only
	// after Serve returned, that is after the RPCs drained and every service's Run stopped.
	pool, err := postgres.NewPool(dbURL, postgres.WithApplicationName("bcosdata-demo"))
	if err != nil {
		return fmt.Errorf("open pool for %s: %w", dbURL, err)
	}
	defer pool.Close()
	say("  postgres  %s", dbURL)

	broker, err := startKafka(c.KafkaAddr, filepath.Join(data, "kafka"))
	if err != nil {
		return err
	}
	defer broker.Close()
	kafkaAddr := broker.ListenAddrs()[0]
	say("  kafka     %s (in-process, log in %s)", kafkaAddr, filepath.Join(data, "kafka"))

	simCfg := fiscosim.DefaultConfig()
	simCfg.Data = filepath.Join(data, "chain")
	simCfg.RPCAddr, simCfg.BinlogAddr = c.RPCAddr, c.BinlogAddr
	simCfg.TPS, simCfg.MaxTxs, simCfg.BlockInterval = c.TPS, c.MaxTxs, c.BlockEvery
	simCfg.Blocks = c.Blocks // the chain stops there and keeps serving
	sim, err := fiscosim.New(simCfg, log.Named("fiscosim"))
	if err != nil {
		return fmt.Errorf("start fiscosim: %w", err)
	}
	say("  fiscosim  JSON-RPC %s, binlog listing %s, %g tx/s", sim.RPCURL(), sim.BinlogURL(), c.TPS)

	srv := app.NewServer(c.Server, log.Named("server"))
	deps := func(name string) app.Deps {
		return app.Deps{Log: log.Named(name), Metrics: srv.Registry(), Pool: pool, Audit: srv.Audit()}
	}
	group := uint(simCfg.Group)
	stashSvc, err := c.stash(deps("stash"), sim.BinlogDir(), kafkaAddr, dbURL, group)
	if err != nil {
		return err
	}
	srv.AddCheck("stash", stashSvc.Ready)
	exportCfg := serviceDefaults[export.Config]()
	exportCfg.Chain, exportCfg.Group, exportCfg.Kafka.Brokers, exportCfg.DB.URL = c.Chain, group, []string{kafkaAddr}, dbURL
	if exportCfg.Contracts, err = writeContracts(filepath.Join(data, "contracts"), sim.Contracts()); err != nil {
		return err
	}
	exportSvc, err := export.New(exportCfg, deps("export"))
	if err != nil {
		return fmt.Errorf("build export: %w", err)
	}
	srv.AddCheck("export", exportSvc.Ready)
	reconcileCfg := serviceDefaults[reconcile.Config]()
	reconcileCfg.Chain, reconcileCfg.Group, reconcileCfg.Kafka.Brokers, reconcileCfg.DB.URL = c.Chain, group, []string{kafkaAddr}, dbURL
	// Evidence needs blocks to anchor in: a chain kept at or past -blocks has none left.
	var ev *evidenceEnv
	evidenceSkipped := ""
	if head := sim.HeadNumber(); c.Blocks > 0 && head >= c.Blocks {
		evidenceSkipped = fmt.Sprintf("the chain in %s is at block %d already, at or past -blocks %d: no block is left to anchor records in (-fresh starts a new chain, a higher -blocks goes on)", simCfg.Data, head, c.Blocks)
	} else {
		contract, err := evidenceFlags(data, sim, func(archive, key, rpc, contract string) {
			ev := &reconcileCfg.Evidence
			ev.Archive, ev.Key, ev.RPC, ev.Contract, ev.BatchAge = archive, key, rpc, contract, demoBatchAge
		})
		if err != nil {
			return err
		}
		ev = &evidenceEnv{data: data, rpcURL: sim.RPCURL(), contract: common.HexToAddress(contract), group: int(simCfg.Group),
			suite: cryptosuite.ECDSA(), blocks: c.Blocks, head: sim.HeadNumber}
	}
	reconcileSvc, err := reconcile.New(reconcileCfg, deps("reconcile"))
	if err != nil {
		return fmt.Errorf("build reconcile: %w", err)
	}
	srv.AddCheck("reconcile", reconcileSvc.Ready)
	for _, h := range []struct {
		addr string
		svc  app.HTTPService
	}{{c.StashHTTP, stashSvc}, {c.ExportHTTP, exportSvc}, {c.ReconcileHTTP, reconcileSvc}} {
		if h.addr != "" {
			srv.AddHTTP(h.addr, h.svc.HTTPAPI())
		}
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	say("  grpc      %s: StashService, ExportService, ReconcileService, health, reflection", srv.GRPCAddr())
	say("  admin     http://%s: /metrics, /readyz (all three services)", srv.AdminAddr())
	c.sayHTTP(srv, say)
	say("  services  stash ingests, verifies and publishes; export stores and decodes (contracts %s); reconcile consumes the decoded events and reconciles a sample business file once synced", exportCfg.Contracts)
	say("  topics    bcos.%[1]s.group%[2]d.blocks.v1, .state.v1 (stash), .events.v1, .calls.v1 (export), .reconcile.results.v1, .records.v1 (reconcile)", c.Chain, simCfg.Group)
	if ev != nil {
		say("  evidence  %d signed records published once the Evidence contract answers; segments in %s, roots anchored through %s", demoRecords, filepath.Join(evidenceDir(data), "archive"), sim.RPCURL())
	} else {
		say("  evidence  skipped: %s", evidenceSkipped)
	}
	say("Ctrl-C stops the demo; progress every %s:", c.StatusEvery)

	env := runEnv{pool: pool, sim: sim, srv: srv, reconcile: reconcileSvc, dbURL: dbURL, kafka: kafkaAddr,
		topic: fmt.Sprintf("bcos.%s.group%d.events.v1", c.Chain, simCfg.Group), data: data, say: say, summary: summaryOut,
		evidence: ev, evidenceSkipped: evidenceSkipped}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return sim.Run(gctx) })
	g.Go(func() error { return app.Serve(gctx, srv, stashSvc, exportSvc, reconcileSvc) })
	g.Go(func() error { return c.drive(gctx, env) })
	err = g.Wait()
	if errors.Is(err, errDone) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	if err == nil && !c.ExitWhenDone {
		say("demo stopped; run it again to resume from where it left off")
	}
	return err
}

// sayHTTP prints where the HTTP/JSON APIs listen and a few requests to try, over HTTP and gRPC.
func (c Config) sayHTTP(srv *app.Server, say func(string, ...any)) {
	stash, export, reconcile := srv.HTTPAddr("stash"), srv.HTTPAddr("export"), srv.HTTPAddr("reconcile")
	for _, h := range []struct{ name, addr string }{{"stash", stash}, {"export", export}, {"reconcile", reconcile}} {
		if h.addr != "" {
			say("  http      %-9s http://%s/v1/%s/ (JSON), OpenAPI http://%s%s", h.name, h.addr, h.name, h.addr, app.OpenAPIPath)
		}
	}
}

// sayTry prints commands to try, each working as printed: grpcurl (the server has
// reflection), curl against the HTTP/JSON APIs, psql, bcosdata evidence verify on the proof
// and a Kafka console consumer.
func (c Config) sayTry(env runEnv, s *Summary) {
	say, srv := env.say, env.srv
	stash, export, reconcile := srv.HTTPAddr("stash"), srv.HTTPAddr("export"), srv.HTTPAddr("reconcile")
	grpcurl := grpcurlCommand()
	say("  try       %s -plaintext -d '{\"block_number\": 1}' %s bcosdata.stash.v1.StashService/GetBlock", grpcurl, srv.GRPCAddr())
	say("            %s -plaintext %s list", grpcurl, srv.GRPCAddr())
	if stash != "" {
		say("            curl -s http://%s/v1/stash/status", stash)
		say("            curl -s http://%s/v1/stash/blocks/1", stash)
		say("            curl -s http://%s/v1/stash/blocks/1/state-changes", stash)
	}
	if export != "" {
		say("            curl -s http://%s/v1/export/status", export)
		if s.SampleTransaction != "" {
			say("            curl -s http://%s/v1/export/transactions/%s", export, s.SampleTransaction)
		}
		say("            curl -s 'http://%s/v1/export/events?contract=Asset&event=Transfer&page_size=5'", export)
	}
	if reconcile != "" {
		say("            curl -s http://%s/v1/reconcile/status", reconcile)
		say("            curl -s http://%s/v1/reconcile/jobs/%s", reconcile, sampleJob)
		if r := s.Reconciliation; r != nil {
			say("            curl -s http://%s/v1/reconcile/runs/%s", reconcile, r.RunID)
			say("            curl -s 'http://%s/v1/reconcile/runs/%s/results?outcome=OUTCOME_MISMATCHED'", reconcile, r.RunID)
		}
	}
	say("            psql '%s' -c 'SELECT count(*) FROM export.transactions'", env.dbURL)
	if e := s.Evidence; e != nil && e.Verify != "" {
		say("            %s", e.Verify)
	}
	say("            kafka-console-consumer.sh --bootstrap-server %s --topic %s --from-beginning --max-messages 5", env.kafka, env.topic)
}

// grpcurlCommand returns how the printed commands call grpcurl: by name when it is on PATH,
// else by the absolute path of the one `make tools` installed beside this binary (bin/), else
// by name (make tools installs it).
func grpcurlCommand() string {
	if _, err := exec.LookPath("grpcurl"); err == nil {
		return "grpcurl"
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "grpcurl")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && !strings.ContainsAny(p, " '\"\\$`") {
			return p
		}
	}
	return "grpcurl"
}

// stash builds the stash service on the simulator's binlog directory.
func (c Config) stash(deps app.Deps, binlogDir, kafkaAddr, dbURL string, group uint) (*stash.Service, error) {
	cfg := serviceDefaults[stash.Config]()
	cfg.Sources = app.StringList{"file://" + binlogDir}
	cfg.Chain, cfg.Group, cfg.Kafka.Brokers, cfg.DB.URL = c.Chain, group, []string{kafkaAddr}, dbURL
	svc, err := stash.New(cfg, deps)
	if err != nil {
		return nil, fmt.Errorf("build stash: %w", err)
	}
	return svc, nil
}

// serviceDefaults returns a service's configuration holding its own flag defaults (registering
// a flag sets its default), which the demo then wires to its parts.
func serviceDefaults[C any, P interface {
	*C
	RegisterFlags(*flag.FlagSet)
}]() C {
	var cfg C
	P(&cfg).RegisterFlags(flag.NewFlagSet("defaults", flag.ContinueOnError))
	return cfg
}

// pgDir returns where the demo keeps its PostgreSQL cluster: inside the data directory, unless
// running as root with a data directory the postgres OS user (which PostgreSQL must run as)
// cannot reach, as under /root; then in a directory of its own under the system temp dir,
// named after the data directory so that a rerun finds it again.
func pgDir(data string, say func(string, ...any)) string {
	dir := filepath.Join(data, "postgres")
	if os.Geteuid() != 0 || traversable(data) {
		return dir
	}
	sum := sha256.Sum256([]byte(data))
	alt := filepath.Join(os.TempDir(), "bcosdata-demo-"+hex.EncodeToString(sum[:6]), "postgres")
	say("  postgres: %s is not reachable by the postgres OS user; keeping the cluster in %s", data, alt)
	return alt
}

// traversable reports whether every directory on the way to path lets other users through.
func traversable(path string) bool {
	for p := path; ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if filepath.Dir(p) == p {
			return true
		}
	}
}

// errDone ends the demo once the summary is printed, with -exit-when-done.
var errDone = errors.New("summary printed")

// runEnv is what the demo's driver works with.
type runEnv struct {
	pool         *pgxpool.Pool
	sim          *fiscosim.Sim
	srv          *app.Server
	reconcile    *reconcile.Service
	dbURL, kafka string
	topic, data  string
	say          func(string, ...any)
	summary      io.Writer
	// evidence is nil when this run publishes no records, for the reason evidenceSkipped.
	evidence        *evidenceEnv
	evidenceSkipped string
}

// sampleMinRecords is how many Transfer records the sample reconciliation wants before it
// runs without -blocks: enough to plant every difference and keep some matched.
const sampleMinRecords = 20

// drive publishes the evidence records early (publishEarly) and prints progress every
// StatusEvery. Once stash, export and reconcile caught up with the target block (Blocks, or
// without it the first exported height with enough transfers), it runs the sample
// reconciliation, waits for the records' anchor and prints the summary and the commands to
// try; with ExitWhenDone it then ends the demo (errDone, or an error when counts disagree),
// else it goes on printing progress.
func (c Config) drive(ctx context.Context, env runEnv) error {
	conn, err := grpc.NewClient(env.srv.GRPCAddr(), append(app.ClientWindowOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		return fmt.Errorf("dial the demo's gRPC server %s: %w", env.srv.GRPCAddr(), err)
	}
	defer conn.Close()
	cl := newClients(conn)
	// The evidence records are published as soon as they can be, for their batch to be
	// anchored long before a chain stopping at -blocks stops.
	var pubc chan published
	if env.evidence != nil {
		pubc = make(chan published, 1)
		pctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			pubc <- publishEarly(pctx, conn, env.evidence, env.say)
		}()
		defer func() { cancel(); wg.Wait() }()
	}
	tick := time.NewTicker(c.StatusEvery)
	defer tick.Stop()
	target := c.Blocks
	if target > 0 && env.sim.HeadNumber() > target {
		target = env.sim.HeadNumber() // a chain kept from an earlier run is past -blocks already
		env.say("  the chain in %s is at block %d already, past -blocks %d: syncing to it", env.data, target, c.Blocks)
	}
	done := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		p, err := look(ctx, cl, env.pool, env.sim, env.say)
		if err != nil || done {
			continue
		}
		height := target
		if height == 0 {
			height = p.export.GetLastBlock()
		}
		if target > 0 && !p.syncedTo(target) {
			continue
		}
		ok, n, err := transfersSynced(ctx, cl, env.pool, height)
		if err != nil {
			env.say("  %v", err)
			continue
		}
		if !ok || (target == 0 && n < sampleMinRecords) {
			continue
		}
		done = true
		s, err := summarize(ctx, c.Chain, cl, p)
		if err != nil {
			return err
		}
		if target == 0 {
			s.Inconsistencies = nil // the chain moves on: counts are of different moments
		}
		env.say("synced to block %d; reconciling a sample business file of Asset's transfers", height)
		if s.Reconciliation, err = sampleReconciliation(ctx, filepath.Join(env.data, "reconcile"), height, cl, env.reconcile); err != nil {
			return fmt.Errorf("sample reconciliation (a few blocks may carry too few transfers: raise -blocks or -tps): %w", err)
		}
		s.Evidence = &Evidence{Skipped: env.evidenceSkipped}
		if env.evidence != nil {
			var pub published
			select {
			case <-ctx.Done():
				return ctx.Err()
			case pub = <-pubc:
			}
			within := anchorAfterSyncLive
			if c.Blocks > 0 {
				within = anchorAfterSyncBlocks
			}
			env.say("waiting for the evidence records' anchor to come back through stash and export")
			s.Evidence = awaitAnchor(ctx, conn, env.evidence, pub, within)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		if err := s.print(env.summary, c.JSON); err != nil {
			return err
		}
		c.sayTry(env, s)
		if c.ExitWhenDone {
			if err := s.check(); err != nil {
				return fmt.Errorf("the demo's counts disagree: %w", err)
			}
			return errDone
		}
	}
}

// startKafka runs an in-process Kafka-protocol broker with a persistent log.
func startKafka(addr, dir string) (*kfake.Cluster, error) {
	_, port, err := splitPort(addr)
	if err != nil {
		return nil, err
	}
	cl, err := kfake.NewCluster(
		kfake.Ports(port),
		kfake.DataDir(dir),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": "67108864"}),
	)
	if err != nil {
		return nil, fmt.Errorf("start embedded Kafka on %s: %w", addr, err)
	}
	return cl, nil
}
