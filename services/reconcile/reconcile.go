// Package reconcile is the reconcile service: it consumes the decoded events and calls export
// publishes, reads business files (CSV, TXT, JSON, Excel) from file, SFTP, FTP, S3 or HTTP,
// matches both sides in PostgreSQL (schema reconcile) and serves three-way results over gRPC.
//
// The work happens in internal packages: job (the -jobs file), source and format (reading
// business files), compare (comparators), ingest (the decoded topics' consumer), store
// (PostgreSQL), run (runs and matching), schedule (cron) and api (the gRPC ReconcileService).
// See README.md.
package reconcile

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/audit"
	"github.com/bcosdata/bcosdata/libs/crypto/fieldcrypt"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/pgoffset"
	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/retry"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/api"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/evidence"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/ingest"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/publish"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/run"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/schedule"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/source"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// EnvPrefix prefixes the environment variables that back the flags (RECONCILE_DB_URL).
const EnvPrefix = "RECONCILE"

// ErrNotStarted is the readiness error before Run has opened the storage and joined the group.
var ErrNotStarted = errors.New("reconcile not started yet")

// Config is the reconcile service configuration.
type Config struct {
	Chain string
	Group uint
	Kafka kafka.Flags
	DB    postgres.Flags
	// Jobs is the -jobs file; empty: jobs are created over the API only.
	Jobs string
	// GroupID is the consumer group; empty means bcosdata-reconcile-<chain>-group<N>.
	GroupID string
	// Partitions is the partition count of the topics reconcile creates when missing.
	Partitions int
	// RetryMin and RetryMax bound the backoff while the database or the broker is away.
	RetryMin, RetryMax time.Duration
	// Poll is how often a run waiting for the chain looks again, and how long the run loop
	// sleeps at most (no flag; tests lower it).
	Poll time.Duration
	// Clock is the runner's and the scheduler's clock (no flag; tests give a fake one).
	Clock run.Clock
	// Source overrides the connection settings of a job's source (no flag; tests use it for
	// the loopback servers of sourcetest).
	Source func(*job.Job) source.Config
	// HeartbeatInterval and SessionTimeout are the group membership timings (no flags; zero
	// keeps kafka-go's defaults).
	HeartbeatInterval, SessionTimeout time.Duration
	// MaxRows bounds the rows a one-to-one run holds in memory, both sides together (0:
	// run.DefaultMaxRows).
	MaxRows int
	// CryptoKeys is the key ring of the fields jobs mark sensitive (a file, or env:VAR).
	CryptoKeys string
	// Evidence is the evidence service's configuration (-evidence.*; off without an archive).
	Evidence evidence.Flags
	// EvidenceNow is the evidence service's clock (no flag; tests move it).
	EvidenceNow func() time.Time
	Server      app.ServerConfig
	Log         app.LogFlags
}

// RegisterFlags adds every option to fs with its default.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Chain, "chain", "chain0", "chain name used in topic names bcos.<chain>.<group>.<kind>.v1")
	fs.UintVar(&c.Group, "group", 1, "group id")
	c.Kafka.RegisterFlagsWithPrefix("kafka.", fs)
	c.DB.RegisterFlagsWithPrefix("db.", fs, "reconcile")
	fs.StringVar(&c.Jobs, "jobs", "", "jobs file (YAML: sources, patterns, formats, keys, fields, schedules); empty: jobs created over the API only")
	fs.StringVar(&c.GroupID, "group.id", "", "Kafka consumer group of the decoded topics (default bcosdata-reconcile-<chain>-group<N>)")
	fs.IntVar(&c.Partitions, "partitions", 1, "partitions of the topics reconcile creates when missing (the decoded topics, if export has not created them yet, and reconcile.results)")
	fs.DurationVar(&c.RetryMin, "retry.min", 500*time.Millisecond, "first backoff while the database or the broker is away")
	fs.DurationVar(&c.RetryMax, "retry.max", 30*time.Second, "longest backoff while the database or the broker is away")
	fs.IntVar(&c.MaxRows, "run.max-rows", run.DefaultMaxRows, "business rows and chain records a one-to-one run may hold in memory together (about 600 bytes each); a run over it fails, not the process: raise it with the memory")
	fs.StringVar(&c.CryptoKeys, "crypto.keys", "", "key ring sealing the fields jobs mark sensitive: a file of lines \"<id> <base64 32-byte key>\" (the last encrypts, all decrypt) and \"hmac <base64 32-byte key>\" (matching), or env:VAR to read that text from an environment variable; needed by jobs with sensitive fields")
	c.Evidence.RegisterFlags(fs)
	c.Server.RegisterFlags(fs, "127.0.0.1:9103", "127.0.0.1:9203")
	c.Server.RegisterHTTPFlag(fs, "127.0.0.1:9303")
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
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("-partitions %d: want 1 or more", c.Partitions))
	}
	if c.MaxRows != 0 && c.MaxRows < 1000 {
		errs = append(errs, fmt.Errorf("-run.max-rows %d: want 1000 or more", c.MaxRows))
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		errs = append(errs, fmt.Errorf("-retry.min %s, -retry.max %s: want 0 < min <= max", c.RetryMin, c.RetryMax))
	}
	for _, err := range []error{c.Kafka.Validate("kafka."), c.DB.Validate("db."), c.Server.Validate(), c.Evidence.Validate()} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Config) groupID() string {
	if c.GroupID != "" {
		return c.GroupID
	}
	return fmt.Sprintf("bcosdata-reconcile-%s-group%d", c.Chain, c.Group)
}

func (c *Config) topic(kind string) string {
	return kafka.TopicName(c.Chain, fmt.Sprintf("group%d", c.Group), kind)
}

// Service is the reconcile service.
type Service struct {
	cfg      Config
	deps     app.Deps
	log      *zap.Logger
	fileJobs []job.Job
	metrics  *run.Metrics
	api      *api.Server

	backend  atomic.Pointer[api.Backend]
	consumer atomic.Pointer[kafka.Consumer]

	evAPI      *evidence.API
	evMetrics  *evidence.Metrics
	ev         atomic.Pointer[evidence.Service]
	evConsumer atomic.Pointer[kafka.Consumer]

	mu      sync.Mutex
	lastErr error
	lag     kafka.LagMeter
	crypto  *fieldcrypt.Keyring // nil without -crypto.keys
}

// New validates cfg, loads the jobs file and builds the service; nothing is connected until
// Run. An invalid cfg is an *app.UsageError; a bad jobs file is an error naming the file, line,
// job and field.
func New(cfg Config, deps app.Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, &app.UsageError{Err: err}
	}
	deps = deps.OrNop()
	var jobs []job.Job
	if cfg.Jobs != "" {
		j, err := job.Load(cfg.Jobs)
		if err != nil {
			return nil, fmt.Errorf("-jobs: %w", err)
		}
		jobs = j
	}
	s := &Service{cfg: cfg, deps: deps, log: deps.Log, fileJobs: jobs, metrics: run.NewMetrics(deps.Metrics)}
	if cfg.CryptoKeys != "" {
		kr, err := fieldcrypt.Load(cfg.CryptoKeys)
		if err != nil {
			return nil, &app.UsageError{Err: fmt.Errorf("-crypto.keys: %w", err)}
		}
		s.crypto = kr
	}
	if len(cfg.Evidence.Sensitive) > 0 && s.crypto == nil {
		return nil, &app.UsageError{Err: fmt.Errorf("-evidence.sensitive-categories %s: their payloads are sealed, and no key ring is configured (-crypto.keys)", cfg.Evidence.Sensitive.String())}
	}
	for _, j := range jobs {
		if j.Sensitive() && s.crypto == nil {
			return nil, &app.UsageError{Err: fmt.Errorf("-jobs: job %s: %w", j.Name, run.ErrNoKeys)}
		}
	}
	s.api = api.New(s.backend.Load, s.lastError)
	if err := deps.AddAuditTrail(audit.ForService("reconcile", store.Schema, cfg.Chain, cfg.Group, cfg.Kafka,
		reconcilev1.ReconcileService_ServiceDesc.ServiceName, reconcilev1.EvidenceService_ServiceDesc.ServiceName)); err != nil {
		return nil, err
	}
	s.evAPI = evidence.NewAPI(s.ev.Load, cfg.Evidence.Enabled())
	s.evMetrics = evidence.NewMetrics(deps.Metrics)
	return s, nil
}

// Register adds ReconcileService and EvidenceService to g.
func (s *Service) Register(g *grpc.Server) {
	reconcilev1.RegisterReconcileServiceServer(g, s.api)
	reconcilev1.RegisterEvidenceServiceServer(g, s.evAPI)
}

// Evidence returns the evidence service once Run started it (nil before, or when off).
func (s *Service) Evidence() *evidence.Service { return s.ev.Load() }

// HTTPAPI returns the HTTP/JSON API of ReconcileService (routes under /v1/reconcile/) and
// EvidenceService (/v1/evidence/), with one OpenAPI document.
func (s *Service) HTTPAPI() app.API {
	return app.API{Name: "reconcile", OpenAPI: mergeOpenAPI(reconcilev1.OpenAPI, reconcilev1.EvidenceOpenAPI),
		Register: func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
			if err := reconcilev1.RegisterReconcileServiceHandler(ctx, mux, conn); err != nil {
				return err
			}
			return reconcilev1.RegisterEvidenceServiceHandler(ctx, mux, conn)
		}}
}

// Ready reports whether the database answers and the consumer runs without an ongoing failure.
func (s *Service) Ready(ctx context.Context) error {
	var errs []error
	if s.deps.Pool != nil {
		if err := s.deps.Pool.Ping(ctx); err != nil {
			errs = append(errs, fmt.Errorf("ping database: %w", err))
		}
	}
	c := s.consumer.Load()
	if c == nil {
		err := ErrNotStarted
		if last := s.lastError(); last != nil {
			err = fmt.Errorf("%w: %w", ErrNotStarted, last)
		}
		return errors.Join(append([]error{err}, errs...)...)
	}
	if err := c.Ready(); err != nil {
		errs = append(errs, fmt.Errorf("consumer: %w", err))
	}
	if ec := s.evConsumer.Load(); ec != nil {
		if err := ec.Ready(); err != nil {
			errs = append(errs, fmt.Errorf("evidence consumer: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) setErr(err error) {
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
}

func (s *Service) lastError() error {
	if c := s.consumer.Load(); c != nil {
		if err := c.Ready(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Run opens the storage (retrying while the database is away), creates missing topics, then
// consumes the decoded topics, works through runs and fires schedules until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if s.deps.Pool == nil {
		return errors.New("reconcile needs a PostgreSQL pool")
	}
	policy := retry.Policy{Min: s.cfg.RetryMin, Max: s.cfg.RetryMax}
	onFail := func(f retry.Failure) { s.setErr(f.Err) }
	st, err := retry.Value(ctx, policy, func(ctx context.Context) (*store.Store, error) {
		return store.Open(ctx, s.deps.Pool)
	}, onFail)
	if err != nil {
		return retry.UnlessStopped(ctx, err)
	}
	offsets, err := pgoffset.New(s.deps.Pool, store.Schema)
	if err != nil {
		return err
	}
	events, calls, results := s.cfg.topic("events"), s.cfg.topic("calls"), s.cfg.topic("reconcile.results")
	recordsIn, records := s.cfg.topic("records.in"), s.cfg.topic("records")
	specs := []kafka.TopicSpec{
		{Name: events, Partitions: s.cfg.Partitions, ReplicationFactor: s.cfg.Kafka.ReplicationFactor},
		{Name: calls, Partitions: s.cfg.Partitions, ReplicationFactor: s.cfg.Kafka.ReplicationFactor},
		{Name: results, Partitions: s.cfg.Partitions, ReplicationFactor: s.cfg.Kafka.ReplicationFactor},
	}
	if s.cfg.Evidence.Enabled() {
		specs = append(specs, kafka.TopicSpec{Name: recordsIn, Partitions: s.cfg.Partitions, ReplicationFactor: s.cfg.Kafka.ReplicationFactor},
			kafka.TopicSpec{Name: records, Partitions: s.cfg.Partitions, ReplicationFactor: s.cfg.Kafka.ReplicationFactor})
	}
	if err := retry.Forever(ctx, policy, func(ctx context.Context) error {
		return kafka.EnsureTopicsWith(ctx, s.cfg.Kafka.Security(), s.cfg.Kafka.Brokers, specs...)
	}, onFail); err != nil {
		return retry.UnlessStopped(ctx, err)
	}
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: s.cfg.Kafka.Brokers, Security: s.cfg.Kafka.Security(), MaxMessageBytes: s.cfg.Kafka.MaxMessageBytes, Logger: s.log})
	defer w.Close()

	var sched *schedule.Scheduler
	var sealer *paramSealer
	jobs := api.NewJobs(s.fileJobs, st, func() {
		if sched != nil {
			sched.Reload()
		}
		if sealer != nil {
			sealer.invalidate()
		}
	})
	var ev *evidence.Service
	var evConsumer *kafka.Consumer
	ingestCfg := ingest.Config{Chain: s.cfg.Chain, Group: s.cfg.Group, GroupID: s.cfg.groupID(), EventsTopic: events, CallsTopic: calls}
	if s.cfg.Evidence.Enabled() {
		type built struct {
			ev    *evidence.Service
			close func()
		}
		b, err := retry.Value(ctx, policy, func(ctx context.Context) (built, error) {
			ev, closeFn, err := s.newEvidence(ctx, w, records)
			return built{ev, closeFn}, err
		}, onFail)
		if err != nil {
			return retry.UnlessStopped(ctx, err)
		}
		defer b.close()
		ev = b.ev
		ingestCfg.Events = ev.ConfirmEvents
		if evConsumer, err = s.evidenceConsumer(ev, offsets, recordsIn); err != nil {
			return err
		}
	}
	if s.crypto != nil {
		sealer = &paramSealer{kr: s.crypto, jobs: func(ctx context.Context) ([]*job.Job, error) {
			all, err := jobs.List(ctx)
			out := make([]*job.Job, len(all))
			for i, j := range all {
				out[i] = j.Job
			}
			return out, err
		}}
		ingestCfg.Seal = sealer.Seal
	}
	handler := ingest.New(ingestCfg,
		st, offsets, func(block, timeMs uint64, n int) {
			s.metrics.Records.Add(float64(n))
			s.metrics.Height.Set(float64(block))
			s.metrics.Time.Set(float64(timeMs) / 1000)
		})
	lag := func(ctx context.Context) (uint64, error) {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return ingest.Lag(lctx, s.cfg.Kafka.Security(), s.cfg.Kafka.Brokers, s.cfg.groupID(), offsets, events, calls)
	}
	pub := publish.New(publish.Config{Store: st, Topic: results, Writer: w, Policy: policy, Log: s.log,
		Published: s.metrics.Published, Backlog: s.metrics.OutboxBacklog})
	runner := run.New(run.Config{Store: st, Job: jobs.Job, Source: s.cfg.Source, Clock: s.cfg.Clock, Poll: s.cfg.Poll, Log: s.log, Metrics: s.metrics, Crypto: s.crypto, MaxRows: s.cfg.MaxRows,
		CaughtUp: func(ctx context.Context) (bool, error) {
			n, err := lag(ctx)
			return err == nil && n == 0, err
		},
		Message: func(r *store.Run) (store.Message, error) {
			v, err := proto.MarshalOptions{Deterministic: true}.Marshal(api.RunToProto(r, s.cfg.Chain, s.cfg.Group))
			return store.Message{RunID: r.ID, Key: []byte(r.Job), Value: v, ID: r.MessageID()}, err
		},
		Queued: pub.Wake})
	sched = schedule.New(schedule.Config{Clock: s.cfg.Clock, Log: s.log,
		Jobs: func(ctx context.Context) ([]*job.Job, error) {
			all, err := jobs.List(ctx)
			out := make([]*job.Job, len(all))
			for i, j := range all {
				out[i] = j.Job
			}
			return out, err
		},
		Trigger: func(ctx context.Context, name, date string) error {
			s.metrics.Triggers.WithLabelValues("schedule").Inc()
			_, err := runner.Trigger(ctx, name, date, "")
			return err
		}})
	consumer, err := kafka.NewConsumer(kafka.ConsumerConfig{Brokers: s.cfg.Kafka.Brokers, Security: s.cfg.Kafka.Security(), GroupID: s.cfg.groupID(), Topics: []string{events, calls},
		MaxMessageBytes: s.cfg.Kafka.MaxMessageBytes, MaxBackoff: s.cfg.RetryMax, Offsets: offsets, Logger: s.log,
		Registerer: s.deps.Metrics, HeartbeatInterval: s.cfg.HeartbeatInterval, SessionTimeout: s.cfg.SessionTimeout,
		RebalanceTimeout: s.cfg.SessionTimeout, JoinGroupBackoff: s.cfg.HeartbeatInterval}, handler)
	if err != nil {
		return err
	}
	s.setErr(nil)
	if ev != nil {
		s.ev.Store(ev)
		s.evConsumer.Store(evConsumer)
	}
	s.consumer.Store(consumer)
	s.backend.Store(&api.Backend{Store: st, Jobs: jobs, Runner: runner, Chain: s.cfg.Chain, Group: s.cfg.Group, GroupID: s.cfg.groupID(),
		Halts: consumer.Halts, Lag: s.lag.Value, Metrics: s.metrics})
	s.log.Info("reconcile running", zap.Strings("topics", []string{events, calls}), zap.String("group", s.cfg.groupID()), zap.Int("file_jobs", len(s.fileJobs)))

	if all, err := jobs.List(ctx); err == nil {
		for _, j := range all {
			s.metrics.Job(j.Job.Name)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return consumer.Run(gctx) })
	g.Go(func() error { return runner.Run(gctx) })
	g.Go(func() error { return pub.Run(gctx) })
	g.Go(func() error { return sched.Run(gctx) })
	g.Go(func() error { s.lag.Run(gctx, 2*time.Second, lag, s.metrics.Lag); return nil })
	if ev != nil {
		g.Go(func() error { return ev.Run(gctx) })
		g.Go(func() error { return evConsumer.Run(gctx) })
	}
	return g.Wait()
}

// Command returns the reconcile process description, used by cmd/reconcile and `bcosdata reconcile`.
func Command() app.Command {
	cfg := &Config{}
	return app.Command{
		Name: "reconcile", EnvPrefix: EnvPrefix, HealthName: "bcosdata.reconcile.v1.ReconcileService",
		Flags: cfg.RegisterFlags, Server: &cfg.Server, Log: &cfg.Log, DB: &cfg.DB,
		New: func(deps app.Deps, srv *app.Server) (app.Service, error) {
			svc, err := New(*cfg, deps)
			if err != nil {
				return nil, err
			}
			srv.AddCheck("reconcile", svc.Ready)
			return svc, nil
		},
	}
}
