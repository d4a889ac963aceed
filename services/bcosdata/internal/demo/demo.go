// Package demo runs the whole pipeline in one process on embedded defaults: a local PostgreSQL
// cluster, an in-process Kafka-protocol broker, the fiscosim node simulator producing traffic,
// and the stash service ingesting its binlog files, verifying every block and publishing to
// Kafka. It is what `make demo` runs: nothing has to be installed or running beforehand except
// Go and the PostgreSQL server binaries.
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
	"github.com/bcosdata/bcosdata/libs/postgres/pglocal"
	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/stash"
)

// EnvPrefix backs every demo flag with DEMO_<FLAG>.
const EnvPrefix = "DEMO"

// Config is what the demo runs. The defaults use the architecture's ports.
type Config struct {
	Data        string
	Fresh       bool
	Duration    time.Duration
	Blocks      uint64
	TPS         float64
	KafkaAddr   string
	PGPort      int
	RPCAddr     string
	BinlogAddr  string
	StashGRPC   string
	StashAdmin  string
	Chain       string
	StatusEvery time.Duration
	MaxTxs      int
	BlockEvery  time.Duration
	Log         app.LogFlags
}

// RegisterFlags adds the demo's options to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Data, "data", ".data/demo", "directory for the demo's chain, PostgreSQL cluster and Kafka log; kept between runs")
	fs.BoolVar(&c.Fresh, "fresh", false, "delete the data directory first and start a new chain")
	fs.DurationVar(&c.Duration, "duration", 0, "stop after this long (0: run until interrupted)")
	fs.Uint64Var(&c.Blocks, "blocks", 0, "stop once stash has published this block (0: no limit)")
	fs.Float64Var(&c.TPS, "tps", 20, "transactions per second the simulator sends")
	fs.DurationVar(&c.BlockEvery, "block-interval", time.Second, "time between simulated blocks")
	fs.IntVar(&c.MaxTxs, "max-txs", 1000, "most transactions per simulated block")
	fs.StringVar(&c.KafkaAddr, "kafka.addr", "127.0.0.1:9092", "listen address of the embedded Kafka broker")
	fs.IntVar(&c.PGPort, "pg.port", 0, "port of the embedded PostgreSQL server (0: a free one)")
	fs.StringVar(&c.RPCAddr, "rpc.addr", "127.0.0.1:8545", "fiscosim JSON-RPC listen address")
	fs.StringVar(&c.BinlogAddr, "binlog.addr", "127.0.0.1:8546", "fiscosim binlog HTTP listen address")
	fs.StringVar(&c.StashGRPC, "stash.grpc.addr", "127.0.0.1:9101", "stash gRPC listen address")
	fs.StringVar(&c.StashAdmin, "stash.admin.addr", "127.0.0.1:9201", "stash admin HTTP listen address")
	fs.StringVar(&c.Chain, "chain", "chain0", "chain name used in topic names")
	fs.DurationVar(&c.StatusEvery, "status-every", 5*time.Second, "how often to print progress")
	c.Log.Register(fs)
}

// Run parses args and runs the demo until ctx ends, Duration passes or Blocks are published.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("bcosdata demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.RegisterFlags(fs)
	if err := app.ParseFlags(fs, EnvPrefix, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &app.UsageError{Err: err}
	}
	levelSet := false
	fs.Visit(func(f *flag.Flag) { levelSet = levelSet || f.Name == "log.level" })
	if !levelSet {
		cfg.Log.Level = "warn" // The progress lines are the demo's output; logs only when something is wrong.
		cfg.Log.Dev = true
	}
	return cfg.Run(ctx, stdout)
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

	var stashCfg stash.Config
	fs := flag.NewFlagSet("stash", flag.ContinueOnError)
	stashCfg.RegisterFlags(fs) // the service's own defaults, then the demo's wiring
	stashCfg.Sources = app.StringList{"file://" + sim.BinlogDir()}
	stashCfg.Chain = c.Chain
	stashCfg.Group = uint(simCfg.Group)
	stashCfg.Kafka.Brokers = []string{kafkaAddr}
	stashCfg.DB.URL = dbURL
	stashCfg.Server.GRPCAddr, stashCfg.Server.AdminAddr = c.StashGRPC, c.StashAdmin
	stashCfg.Server.Name = "bcosdata.stash.v1.StashService"
	srv := app.NewServer(stashCfg.Server, log.Named("stash"))
	svc, err := stash.New(stashCfg, app.Deps{Log: log.Named("stash"), Metrics: srv.Registry()})
	if err != nil {
		return fmt.Errorf("build stash: %w", err)
	}
	srv.AddCheck("stash", svc.Ready)
	if err := srv.Listen(); err != nil {
		return err
	}
	say("  stash     gRPC %s (StashService, health, reflection), metrics http://%s/metrics", srv.GRPCAddr(), srv.AdminAddr())
	say("  topics    bcos.%s.group%d.blocks.v1, bcos.%s.group%d.state.v1", c.Chain, simCfg.Group, c.Chain, simCfg.Group)
	say("  export and reconcile are not in this build yet; they will consume these topics")
	say("Ctrl-C stops the demo; progress every %s:", c.StatusEvery)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return sim.Run(gctx) })
	g.Go(func() error { return app.Serve(gctx, srv, svc) })
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

// report prints the chain head and stash progress until ctx ends.
func (c Config) report(ctx context.Context, stashAddr string, sim *fiscosim.Sim, say func(string, ...any)) error {
	conn, err := grpc.NewClient(stashAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial stash %s: %w", stashAddr, err)
	}
	defer conn.Close()
	client := stashv1.NewStashServiceClient(conn)
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
		say("%s", line)
		if c.Blocks > 0 && st.GetLastPublished() >= c.Blocks {
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
