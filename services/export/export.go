// Package export is the export service: it consumes the verified blocks topic, stores blocks,
// transactions and logs in PostgreSQL (schema export), decodes the transactions and events of
// registered contracts into typed tables, and publishes the decoded events and calls to Kafka.
//
// The work happens in internal packages: contract (the registry and ABI decoder), store
// (PostgreSQL), ingest (the blocks topic handler and backfills), publish (the outbox to Kafka)
// and api (the gRPC ExportService). See README.md.
package export

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/audit"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/pgoffset"
	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/retry"
	chainv1 "github.com/bcosdata/bcosdata/proto/bcosdata/chain/v1"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	"github.com/bcosdata/bcosdata/services/export/internal/api"
	"github.com/bcosdata/bcosdata/services/export/internal/compat"
	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/ingest"
	"github.com/bcosdata/bcosdata/services/export/internal/publish"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// EnvPrefix prefixes the environment variables that back the flags (EXPORT_DB_URL).
const EnvPrefix = "EXPORT"

// ErrNotStarted is the readiness error before Run has opened the storage and joined the group.
var ErrNotStarted = errors.New("export not started yet")

// Config is the export service configuration.
type Config struct {
	Chain  string
	Group  uint
	Crypto string
	Kafka  kafka.Flags
	DB     postgres.Flags
	// GroupID is the consumer group; empty means bcosdata-export-<chain>-group<N>.
	GroupID string
	// Contracts is the -contracts file; empty registers no contract.
	Contracts string
	// Compat is "dataexport" for WeBank Data-Export's tables as views in CompatSchema; empty
	// for none.
	Compat       string
	CompatSchema string
	// ReaderRole is the read-only SQL role export grants SELECT on its schemas to (created
	// NOLOGIN when missing); empty grants nothing.
	ReaderRole string
	// StartBlock and StartTime choose where a new deployment begins.
	StartBlock uint64
	StartTime  string
	// Partitions is the partition count of the topics export creates.
	Partitions int
	// PartitionBlocks is the block range of one PostgreSQL partition of the large tables.
	PartitionBlocks uint64
	// RetryMin and RetryMax bound the backoff while the database or the broker is away.
	RetryMin, RetryMax time.Duration
	// HeartbeatInterval and SessionTimeout are the group membership timings (no flags; zero
	// keeps kafka-go's defaults). Tests lower them so rebalances take milliseconds.
	HeartbeatInterval, SessionTimeout time.Duration
	// SubscribePoll is how often a caught-up subscription looks at the outbox when no
	// notification woke it (no flag; zero: api.DefaultSubscribePoll). Tests raise it to show
	// the notifications wake subscriptions.
	SubscribePoll time.Duration
	Server        app.ServerConfig
	Log           app.LogFlags
}

// RegisterFlags adds every option to fs with its default.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Chain, "chain", "chain0", "chain name used in topic names bcos.<chain>.<group>.<kind>.v1")
	fs.UintVar(&c.Group, "group", 1, "group id")
	fs.StringVar(&c.Crypto, "crypto", "ecdsa", "the chain's crypto suite for selectors and event topics: ecdsa (keccak256) or sm (SM3)")
	c.Kafka.RegisterFlagsWithPrefix("kafka.", fs)
	c.DB.RegisterFlagsWithPrefix("db.", fs, "export")
	fs.StringVar(&c.GroupID, "group.id", "", "Kafka consumer group (default bcosdata-export-<chain>-group<N>)")
	fs.StringVar(&c.Contracts, "contracts", "", "contracts file (YAML: names, ABIs, bytecode, addresses, learn); empty exports base tables only")
	fs.StringVar(&c.Compat, "compat", "", "dataexport: create views with WeBank Data-Export's table and column names over export's tables (block_detail_info, tx_raw_data, <contract>_<event>_event, …); empty: none")
	fs.StringVar(&c.CompatSchema, "compat.schema", "dataexport", "schema of the -compat views (a schema of their own: in schema export a view name can clash with a typed table)")
	fs.StringVar(&c.ReaderRole, "db.reader-role", "", "read-only role (e.g. bcosdata_reader) given USAGE and SELECT on schema export and the -compat schema at every start, tables created later included; created NOLOGIN if missing (needs CREATEROLE then); grant it to login roles; empty: none")
	fs.Uint64Var(&c.StartBlock, "start-block", 0, "first block a new deployment exports; earlier blocks are skipped (recorded)")
	fs.StringVar(&c.StartTime, "start-time", "", "first block time a new deployment exports (RFC 3339 or 2006-01-02, UTC); earlier blocks are skipped")
	fs.IntVar(&c.Partitions, "partitions", 1, "partitions of the events and calls topics export creates")
	fs.Uint64Var(&c.PartitionBlocks, "partition.blocks", store.DefaultPartitionBlocks, "blocks per PostgreSQL partition of the transactions, logs and typed tables")
	fs.DurationVar(&c.RetryMin, "retry.min", 500*time.Millisecond, "first backoff while the database or the broker is away")
	fs.DurationVar(&c.RetryMax, "retry.max", 30*time.Second, "longest backoff while the database or the broker is away")
	c.Server.RegisterFlags(fs, "127.0.0.1:9102", "127.0.0.1:9202")
	c.Server.RegisterHTTPFlag(fs, "127.0.0.1:9302")
	c.Log.Register(fs)
}

// Validate reports unusable values, naming the flag.
func (c *Config) Validate() error {
	var errs []error
	if c.Chain == "" {
		errs = append(errs, errors.New("-chain: empty"))
	}
	if c.Group < 1 {
		errs = append(errs, fmt.Errorf("-group %d: want 1 or more", c.Group))
	}
	if c.Crypto != "ecdsa" && c.Crypto != "sm" {
		errs = append(errs, fmt.Errorf("-crypto %q: want ecdsa or sm", c.Crypto))
	}
	if _, err := c.startTime(); err != nil {
		errs = append(errs, err)
	}
	if c.Compat != "" && c.Compat != compat.Mode {
		errs = append(errs, fmt.Errorf("-compat %q: want %s or empty", c.Compat, compat.Mode))
	}
	if c.Compat != "" && !schemaName.MatchString(c.CompatSchema) {
		errs = append(errs, fmt.Errorf("-compat.schema %q: want lowercase letters, digits and underscores", c.CompatSchema))
	}
	if c.ReaderRole != "" && !schemaName.MatchString(c.ReaderRole) {
		errs = append(errs, fmt.Errorf("-db.reader-role %q: want lowercase letters, digits and underscores", c.ReaderRole))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("-partitions %d: want 1 or more", c.Partitions))
	}
	if c.PartitionBlocks < 1 {
		errs = append(errs, fmt.Errorf("-partition.blocks %d: want 1 or more", c.PartitionBlocks))
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		errs = append(errs, fmt.Errorf("-retry.min %s, -retry.max %s: want 0 < min <= max", c.RetryMin, c.RetryMax))
	}
	for _, err := range []error{c.Kafka.Validate("kafka."), c.DB.Validate("db."), c.Server.Validate()} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Config) startTime() (time.Time, error) {
	if c.StartTime == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, c.StartTime, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("-start-time %q: want RFC 3339 or 2006-01-02", c.StartTime)
}

func (c *Config) groupID() string {
	if c.GroupID != "" {
		return c.GroupID
	}
	return fmt.Sprintf("bcosdata-export-%s-group%d", c.Chain, c.Group)
}

func (c *Config) topic(kind string) string {
	return kafka.TopicName(c.Chain, fmt.Sprintf("group%d", c.Group), kind)
}

// schemaName is a schema name that needs no quoting.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// crypto is the suite -crypto names.
func (c *Config) crypto() chainv1.CryptoSuite {
	if c.Crypto == "sm" {
		return chainv1.CryptoSuite_CRYPTO_SUITE_SM
	}
	return chainv1.CryptoSuite_CRYPTO_SUITE_ECDSA
}

// Service is the export service.
type Service struct {
	cfg       Config
	deps      app.Deps
	log       *zap.Logger
	contracts *ingest.Contracts
	plan      *compat.Plan
	views     []store.View
	metrics   *ingest.Metrics
	api       *api.Server

	backend atomic.Pointer[api.Backend]
	running atomic.Pointer[running]

	mu      sync.Mutex
	lastErr error
	lag     kafka.LagMeter
}

// running is what Run started: the consumer and the publisher.
type running struct {
	consumer  *kafka.Consumer
	publisher *publish.Publisher
}

// New validates cfg, loads the contracts file and builds the service; nothing is connected
// until Run. An invalid cfg is an *app.UsageError; a bad contracts file is an error naming the
// file and the reason.
func New(cfg Config, deps app.Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, &app.UsageError{Err: err}
	}
	deps = deps.OrNop()
	var reg *contract.Registry
	if cfg.Contracts != "" {
		suite := contract.Keccak
		if cfg.Crypto == "sm" {
			suite = contract.SM3
		}
		r, err := contract.Load(cfg.Contracts, suite, contract.WithReservedTables(store.Tables...))
		if err != nil {
			return nil, fmt.Errorf("-contracts: %w", err) // the error names the file, line and entry
		}
		reg = r
	}
	var opts contract.Options
	if reg != nil {
		opts = reg.Options()
	}
	plan, err := compat.NewPlan(opts)
	if err != nil {
		return nil, fmt.Errorf("-contracts %s: %w", cfg.Contracts, err)
	}
	var views []store.View
	if cfg.Compat == compat.Mode {
		views, err = compat.Views(reg, plan, cfg.CompatSchema)
		if err != nil {
			return nil, fmt.Errorf("-compat %s: %w", cfg.Compat, err)
		}
	}
	s := &Service{cfg: cfg, deps: deps, log: deps.Log, contracts: ingest.NewContracts(reg), plan: plan, views: views, metrics: ingest.NewMetrics(deps.Metrics)}
	s.api = api.New(s.backend.Load, s.lastError)
	if err := deps.AddAuditTrail(audit.ForService("export", store.Schema, cfg.Chain, cfg.Group, cfg.Kafka, exportv1.ExportService_ServiceDesc.ServiceName)); err != nil {
		return nil, err
	}
	return s, nil
}

// Register adds ExportService to g.
func (s *Service) Register(g *grpc.Server) { exportv1.RegisterExportServiceServer(g, s.api) }

// HTTPAPI returns ExportService's HTTP/JSON API (routes under /v1/export/).
func (s *Service) HTTPAPI() app.API {
	return app.API{Name: "export", Register: exportv1.RegisterExportServiceHandler, OpenAPI: exportv1.OpenAPI}
}

// Ready reports whether the database answers and the consumer runs without an ongoing
// failure (fetching from the broker, applying, committing) and the publisher reaches the
// broker.
func (s *Service) Ready(ctx context.Context) error {
	var errs []error
	if s.deps.Pool != nil {
		if err := s.deps.Pool.Ping(ctx); err != nil {
			errs = append(errs, fmt.Errorf("ping database: %w", err))
		}
	}
	r := s.running.Load()
	if r == nil {
		err := ErrNotStarted
		if last := s.lastError(); last != nil {
			err = fmt.Errorf("%w: %w", ErrNotStarted, last)
		}
		return errors.Join(append([]error{err}, errs...)...)
	}
	if err := r.consumer.Ready(); err != nil {
		errs = append(errs, fmt.Errorf("consumer: %w", err))
	}
	if err := r.publisher.Err(); err != nil {
		errs = append(errs, fmt.Errorf("publisher: %w", err))
	}
	return errors.Join(errs...)
}

func (s *Service) setErr(err error) {
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
}

// lastError is the failure being retried: the consumer's, the publisher's, or one at start.
func (s *Service) lastError() error {
	if r := s.running.Load(); r != nil {
		if err := r.consumer.Ready(); err != nil {
			return err
		}
		if err := r.publisher.Err(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Run opens the storage (retrying while the database is away), brings the typed tables in
// line with the contracts file (backfilling what changed), creates the decoded topics, then
// consumes the blocks topic and publishes the outbox until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if s.deps.Pool == nil {
		return errors.New("export needs a PostgreSQL pool")
	}
	policy := retry.Policy{Min: s.cfg.RetryMin, Max: s.cfg.RetryMax}
	onFail := func(f retry.Failure) { s.setErr(f.Err) }
	start, _ := s.cfg.startTime()
	st, err := retry.Value(ctx, policy, func(ctx context.Context) (*store.Store, error) {
		return store.Open(ctx, s.deps.Pool, s.cfg.PartitionBlocks)
	}, onFail)
	if err != nil {
		return retry.UnlessStopped(ctx, err)
	}
	// The API stops answering from the store before its pool closes: a request then is
	// Unavailable, as before the store opened.
	defer func() {
		s.backend.Store(nil)
		st.Close()
	}()
	st.WriteNull(s.plan.Null)
	began, err := retry.Value(ctx, policy, func(ctx context.Context) (store.Start, error) {
		got, err := st.Init(ctx, s.cfg.Chain, s.cfg.Group, store.Start{Block: s.cfg.StartBlock, Time: start})
		if errors.Is(err, store.ErrIdentity) {
			return got, retry.Permanent(err)
		}
		return got, err
	}, onFail)
	if err != nil {
		return retry.UnlessStopped(ctx, err)
	}
	if began.Block != s.cfg.StartBlock || !began.Time.Equal(start) {
		s.log.Warn("start recorded by the first run kept", zap.Uint64("start_block", began.Block), zap.Time("start_time", began.Time))
	}
	offsets, err := pgoffset.New(s.deps.Pool, store.Schema)
	if err != nil {
		return err
	}
	events, calls, blocks := s.cfg.topic("events"), s.cfg.topic("calls"), s.cfg.topic("blocks")
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: s.cfg.Kafka.Brokers, Security: s.cfg.Kafka.Security(), MaxMessageBytes: s.cfg.Kafka.MaxMessageBytes, Logger: s.log})
	defer w.Close()
	pub := publish.New(st, w, s.metrics, s.log, policy)
	pipe := ingest.New(ingest.Config{Chain: s.cfg.Chain, Group: s.cfg.Group, GroupID: s.cfg.groupID(), EventsTopic: events, CallsTopic: calls, Start: began,
		Crypto: s.cfg.crypto(), NoEvents: s.plan.NoEvents, NoMethods: s.plan.NoMethods},
		st, offsets, s.contracts, s.metrics, s.log, pub.Wake)
	if p, err := st.Progress(ctx); err == nil && p.HasHeight {
		pipe.SeeHeight(p.Height)
	}
	type registry struct {
		regs    []contract.Registered
		version int64
	}
	got, err := retry.Value(ctx, policy, func(ctx context.Context) (registry, error) {
		regs, v, err := st.Registered(ctx)
		return registry{regs, v}, err
	}, onFail)
	if err != nil {
		return retry.UnlessStopped(ctx, err)
	}
	if err := pipe.UseRegistered(s.loadRegistry, got.regs, got.version); err != nil {
		return fmt.Errorf("contracts registered over the API: %w", err)
	}
	if err := retry.Forever(ctx, policy, pipe.Sync, onFail); err != nil {
		return retry.UnlessStopped(ctx, err)
	}
	if err := retry.Forever(ctx, policy, func(ctx context.Context) error { return s.replaceViews(ctx, st) }, onFail); err != nil {
		return retry.UnlessStopped(ctx, err)
	}
	if err := retry.Forever(ctx, policy, func(ctx context.Context) error { return s.grantReader(ctx, st) }, onFail); err != nil {
		return retry.UnlessStopped(ctx, err)
	}
	specs := []kafka.TopicSpec{
		{Name: events, Partitions: s.cfg.Partitions, ReplicationFactor: s.cfg.Kafka.ReplicationFactor},
		{Name: calls, Partitions: s.cfg.Partitions, ReplicationFactor: s.cfg.Kafka.ReplicationFactor},
	}
	if err := retry.Forever(ctx, policy, func(ctx context.Context) error {
		return kafka.EnsureTopicsWith(ctx, s.cfg.Kafka.Security(), s.cfg.Kafka.Brokers, specs...)
	}, onFail); err != nil {
		return retry.UnlessStopped(ctx, err)
	}
	consumer, err := kafka.NewConsumer(kafka.ConsumerConfig{Brokers: s.cfg.Kafka.Brokers, Security: s.cfg.Kafka.Security(), GroupID: s.cfg.groupID(), Topics: []string{blocks},
		MaxMessageBytes: s.cfg.Kafka.MaxMessageBytes, MaxBackoff: s.cfg.RetryMax, Offsets: offsets, Logger: s.log,
		Registerer: s.deps.Metrics, HeartbeatInterval: s.cfg.HeartbeatInterval, SessionTimeout: s.cfg.SessionTimeout,
		RebalanceTimeout: s.cfg.SessionTimeout, JoinGroupBackoff: s.cfg.HeartbeatInterval}, pipe)
	if err != nil {
		return err
	}
	s.setErr(nil)
	s.running.Store(&running{consumer: consumer, publisher: pub})
	g, gctx := errgroup.WithContext(ctx)
	rx := &reexporter{ctx: gctx, pipe: pipe, st: st, log: s.log, state: map[string]*api.Backfill{}}
	defer rx.wg.Wait()
	wake := api.NewWakeup()
	g.Go(func() error { st.Listen(gctx, wake.Wake); return nil })
	backend := api.Backend{Store: st, GroupID: s.cfg.groupID(), EventsTopic: events, CallsTopic: calls,
		Halts: consumer.Halts, Lag: s.lag.Value, ReExport: rx.start, Backfill: rx.progress,
		Register: rx.register, Wakeup: wake, SubscribePoll: s.cfg.SubscribePoll}
	s.backend.Store(backend.WithContracts(pipe.Contracts().List()))
	pipe.OnRegistry(func(c *ingest.Contracts) { s.backend.Store(backend.WithContracts(c.List())) })
	s.log.Info("export running", zap.String("topic", blocks), zap.String("group", s.cfg.groupID()), zap.Int("contracts", len(pipe.Contracts().List())))
	// Contracts registered through another instance show in this one's API within seconds;
	// batches check under the write lock anyway.
	g.Go(func() error {
		t := time.NewTicker(registryPoll)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
			}
			if err := pipe.RefreshStored(gctx); err != nil && gctx.Err() == nil {
				s.log.Warn("reload contracts registered over the API", zap.Error(err))
			}
		}
	})

	g.Go(func() error { return consumer.Run(gctx) })
	g.Go(func() error { return pub.Run(gctx) })
	g.Go(func() error {
		s.lag.Run(gctx, 2*time.Second, func(ctx context.Context) (uint64, error) {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return ingest.Lag(ctx, s.cfg.Kafka.Security(), s.cfg.Kafka.Brokers, blocks, s.cfg.groupID(), offsets)
		}, s.metrics.Lag)
		return nil
	})
	return g.Wait()
}

// registryPoll is how often an instance looks for contracts registered through another.
const registryPoll = 2 * time.Second

// loadRegistry builds the registry from the -contracts file and the contracts registered
// over the API after it.
func (s *Service) loadRegistry(regs []contract.Registered) (*ingest.Contracts, error) {
	suite := contract.Keccak
	if s.cfg.Crypto == "sm" {
		suite = contract.SM3
	}
	reserved := contract.WithReservedTables(store.Tables...)
	var (
		reg *contract.Registry
		err error
	)
	switch {
	case s.cfg.Contracts != "":
		reg, err = contract.Load(s.cfg.Contracts, suite, reserved, contract.WithRegistered(regs...))
	case len(regs) > 0:
		reg, err = contract.LoadRegistered(regs, suite, reserved)
	}
	if err != nil {
		return nil, err
	}
	return ingest.NewContracts(reg), nil
}

// replaceViews creates the -compat views over the tables Sync brought in line with the
// contracts file, dropping those of the previous start (all of them when -compat is off).
func (s *Service) replaceViews(ctx context.Context, st *store.Store) error {
	tx, err := st.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := tx.ReplaceViews(ctx, s.cfg.CompatSchema, s.views); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if len(s.views) > 0 {
		s.log.Info("compat views created", zap.String("schema", s.cfg.CompatSchema), zap.Int("views", len(s.views)))
	}
	return nil
}

// grantReader gives -db.reader-role read access to the export schema and the -compat views,
// after the views were created. A refusal for lack of privilege is permanent: retrying does
// not give the export role CREATEROLE or ownership.
func (s *Service) grantReader(ctx context.Context, st *store.Store) error {
	if s.cfg.ReaderRole == "" {
		return nil
	}
	var schemas []string
	if len(s.views) > 0 {
		schemas = append(schemas, s.cfg.CompatSchema)
	}
	if err := st.GrantReader(ctx, s.cfg.ReaderRole, schemas...); err != nil {
		if errors.Is(err, store.ErrReaderRole) {
			return retry.Permanent(fmt.Errorf("-db.reader-role %s: %w", s.cfg.ReaderRole, err))
		}
		return err
	}
	s.log.Info("reader role granted", zap.String("role", s.cfg.ReaderRole))
	return nil
}

// Command returns the export process description, used by cmd/export and `bcosdata export`.
func Command() app.Command {
	cfg := &Config{}
	return app.Command{
		Name: "export", EnvPrefix: EnvPrefix, HealthName: "bcosdata.export.v1.ExportService",
		Flags: cfg.RegisterFlags, Server: &cfg.Server, Log: &cfg.Log, DB: &cfg.DB,
		New: func(deps app.Deps, srv *app.Server) (app.Service, error) {
			svc, err := New(*cfg, deps)
			if err != nil {
				return nil, err
			}
			srv.AddCheck("export", svc.Ready)
			return svc, nil
		},
	}
}
