// Package demo runs the whole pipeline in one process on embedded defaults: a local PostgreSQL
// cluster, an in-process Kafka-protocol broker, the fiscosim node simulator producing traffic,
// and every service (stash ingesting the simulator's binlog files, verifying every block and
// publishing to Kafka; export storing and decoding them with the sample contracts registered;
// reconcile consuming export's decoded events, with no jobs until some are created over its API)
// hosted
// on one gRPC server and one PostgreSQL pool, the way bcosdata hosts them. It is what
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
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/postgres/pglocal"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
	"github.com/bcosdata/bcosdata/services/export"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/reconcile"
	"github.com/bcosdata/bcosdata/services/stash"
)

// EnvPrefix backs every demo flag with DEMO_<FLAG>.
const EnvPrefix = "DEMO"

// Config is what the demo runs. The defaults use the architecture's ports.
type Config struct {
	Data       string
	Fresh      bool
	Duration   time.Duration
	Blocks     uint64
	TPS        float64
	KafkaAddr  string
	PGPort     int
	RPCAddr    string
	BinlogAddr string
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
	fs.Uint64Var(&c.Blocks, "blocks", 0, "stop once stash has published and export has stored this block (0: no limit)")
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

// Run starts every part, prints progress to out, and stops them all when ctx ends, Duration
// passes, Blocks are published or a part fails.
func (c Config) Run(ctx context.Context, out io.Writer) error {
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

	say("bcosdata demo: data in %s (delete it or pass -fresh to start over)", data)
	pg, err := pglocal.Start(ctx, pglocal.Options{Dir: pgDir(data, say), Port: c.PGPort,
		Logf: func(f string, a ...any) { say("  postgres: "+f, a...) }})
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
	sim, err := fiscosim.New(simCfg, log.Named("fiscosim"))
	if err != nil {
		return fmt.Errorf("start fiscosim: %w", err)
	}
	say("  fiscosim  JSON-RPC %s, binlog listing %s, %g tx/s", sim.RPCURL(), sim.BinlogURL(), c.TPS)

	srv := app.NewServer(c.Server, log.Named("server"))
	deps := func(name string) app.Deps {
		return app.Deps{Log: log.Named(name), Metrics: srv.Registry(), Pool: pool}
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
	say("  services  stash ingests, verifies and publishes; export stores and decodes (contracts %s); reconcile consumes the decoded events (no jobs: create them over its API)", exportCfg.Contracts)
	say("  topics    bcos.%[1]s.group%[2]d.blocks.v1, .state.v1 (stash), .events.v1, .calls.v1 (export), .reconcile.results.v1 (reconcile)", c.Chain, simCfg.Group)
	say("Ctrl-C stops the demo; progress every %s:", c.StatusEvery)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return sim.Run(gctx) })
	g.Go(func() error { return app.Serve(gctx, srv, stashSvc, exportSvc, reconcileSvc) })
	g.Go(func() error { return c.report(gctx, srv.GRPCAddr(), sim, say) })
	err = g.Wait()
	if errors.Is(err, errDone) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	if err == nil {
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
	say("  try       grpcurl -plaintext -d '{\"block_number\": 1}' %s bcosdata.stash.v1.StashService/GetBlock", srv.GRPCAddr())
	if stash != "" {
		say("            curl -s http://%s/v1/stash/status", stash)
		say("            curl -s http://%s/v1/stash/blocks/1", stash)
		say("            curl -s http://%s/v1/stash/blocks/1/state-changes", stash)
	}
	if export != "" {
		say("            curl -s http://%s/v1/export/status", export)
	}
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

// errDone ends the demo once the requested block is published.
var errDone = errors.New("requested blocks published")

// report prints the chain head, stash and export progress until ctx ends; with Blocks set
// it ends the demo once both stash and export got that far.
func (c Config) report(ctx context.Context, stashAddr string, sim *fiscosim.Sim, say func(string, ...any)) error {
	conn, err := grpc.NewClient(stashAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial stash %s: %w", stashAddr, err)
	}
	defer conn.Close()
	client := stashv1.NewStashServiceClient(conn)
	exp := exportv1.NewExportServiceClient(conn)
	tick := time.NewTicker(c.StatusEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		st, err := client.Status(ctx, &stashv1.StatusRequest{})
		if err != nil {
			say("  chain head %d | stash status: %v", sim.HeadNumber(), err)
			continue
		}
		line := fmt.Sprintf("  chain head %d | stash verified %d, published %d", sim.HeadNumber(), st.GetLastVerified(), st.GetLastPublished())
		if f := st.GetFailure(); f != nil {
			line += fmt.Sprintf(" | STOPPED at block %d: %s: %s", f.GetBlockNumber(), f.GetCheck(), f.GetMessage())
		}
		exported := false
		if es, err := exp.Status(ctx, &exportv1.StatusRequest{}); err != nil {
			line += fmt.Sprintf(" | export status: %v", err)
		} else if es.GetHasHeight() {
			exported = es.GetLastBlock() >= c.Blocks
			line += fmt.Sprintf(" | export exported %d, events %d, calls %d", es.GetLastBlock(), es.GetEvents(), es.GetCalls())
			for _, h := range es.GetHaltedPartitions() {
				line += fmt.Sprintf(" | export HALTED %s/%d at block %d: %s", h.GetTopic(), h.GetPartition(), h.GetBlockNumber(), h.GetError())
			}
		}
		say("%s", line)
		if c.Blocks > 0 && st.GetLastPublished() >= c.Blocks && exported {
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
