// Package stash is the stash service: it reads a FISCO BCOS node's binlog files (or blocks over
// JSON-RPC), verifies every block, backs up the node's storage tables in PostgreSQL and streams
// verified blocks and state change-sets to Kafka.
//
// The work happens in internal packages: source (file, HTTP and JSON-RPC sources), verify (the
// checks and the checkpoint chain), store (PostgreSQL), publish (Kafka messages), ingest (the
// pipeline tying them together) and api (the gRPC StashService). See README.md.
package stash

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/audit"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/retry"
	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
	"github.com/bcosdata/bcosdata/services/stash/internal/api"
	"github.com/bcosdata/bcosdata/services/stash/internal/health"
	"github.com/bcosdata/bcosdata/services/stash/internal/ingest"
	"github.com/bcosdata/bcosdata/services/stash/internal/publish"
	"github.com/bcosdata/bcosdata/services/stash/internal/source"
	"github.com/bcosdata/bcosdata/services/stash/internal/store"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// ErrNotStarted is the readiness error before Run has opened the storage; the dependencies'
// states follow it ("storage not open yet: database: dial tcp …: connection refused").
var ErrNotStarted = errors.New("storage not open yet")

// Service is the stash service.
type Service struct {
	cfg      Config
	deps     app.Deps
	log      *zap.Logger
	chain    publish.Chain
	verifier *verify.Verifier
	sources  []source.Source
	metrics  *ingest.Metrics
	api      *api.Server
	// health has the database, the broker and each source, from New on: readiness and
	// Status say why the stash is not ready even before the storage is open.
	health     *health.Tracker
	db, broker *health.Dep

	backend atomic.Pointer[api.Backend]
}

// New validates cfg and builds the service; nothing is connected until Run.
func New(cfg Config, deps app.Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	deps = deps.OrNop()
	suite, err := cryptosuite.New(cfg.Crypto)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, deps: deps, log: deps.Log, verifier: verify.NewVerifier(suite),
		chain: publish.Chain{Name: cfg.Chain, Group: cfg.Group, Suite: suite}}
	s.health = health.New(deps.Log, 0)
	s.db, s.broker = s.health.Add(health.Database, true), s.health.Add(health.Broker, true)
	opts := source.Options{Suite: suite, Group: cfg.Group, Poll: cfg.Poll, TruncatedGrace: cfg.TruncatedGrace,
		CacheDir: cfg.CacheDir, CacheMaxBytes: cfg.CacheMaxBytes}
	seen := map[string]bool{}
	for _, raw := range cfg.Sources {
		if seen[raw] {
			return nil, fmt.Errorf("-source %s: given twice", raw)
		}
		seen[raw] = true
		src, err := source.Parse(raw, opts)
		if err != nil {
			return nil, err
		}
		s.sources = append(s.sources, src)
		s.health.Add(health.SourceName(src.Name()), false)
	}
	if s.metrics, err = ingest.NewMetrics(deps.Metrics); err != nil {
		return nil, fmt.Errorf("register stash metrics: %w", err)
	}
	s.api = api.New(s.chain, s.verifier, func() api.Backend {
		if b := s.backend.Load(); b != nil {
			return *b
		}
		return api.Backend{Health: s.health, Sources: s.sources}
	})
	if err := deps.AddAuditTrail(audit.ForService("stash", store.Schema, cfg.Chain, cfg.Group, cfg.Kafka, stashv1.StashService_ServiceDesc.ServiceName)); err != nil {
		return nil, err
	}
	return s, nil
}

// Register adds StashService to g.
func (s *Service) Register(g *grpc.Server) { stashv1.RegisterStashServiceServer(g, s.api) }

// HTTPAPI returns StashService's HTTP/JSON API (routes under /v1/stash/).
func (s *Service) HTTPAPI() app.API {
	return app.API{Name: "stash", Register: stashv1.RegisterStashServiceHandler, OpenAPI: stashv1.OpenAPI}
}

// Ready reports whether the service has its storage open and its database, broker and sources
// answer; the error names each dependency that does not and why.
func (s *Service) Ready(context.Context) error {
	err := s.health.Ready()
	if b := s.backend.Load(); b == nil || b.Pipeline == nil {
		if err == nil {
			return ErrNotStarted
		}
		return fmt.Errorf("%w: %w", ErrNotStarted, err)
	}
	return err
}

// Run ingests until ctx is done: it opens the storage (migrating the schema), creates the
// topics if missing, republishes what was stored but not published, then follows the sources.
// The database and the broker are waited for without limit (readiness says why meanwhile).
func (s *Service) Run(ctx context.Context) error {
	pool := s.deps.Pool
	if pool == nil {
		var err error
		// No connection attempt: the storage is opened below, retried while unreachable.
		if pool, err = postgres.NewPool(s.cfg.DB.URL, s.cfg.DB.Options("bcosdata-stash")...); err != nil {
			return err
		}
		defer pool.Close()
	}
	// Waiting for the database and the broker at start: the probe does not run yet, so the
	// backoff itself bounds how late a dependency that came back is noticed.
	policy := retry.Policy{Min: s.cfg.RetryMin, Max: min(s.cfg.RetryMax, 2*probeEvery)}
	st, err := retry.Value(ctx, policy, func(ctx context.Context) (*store.Store, error) {
		st, err := store.Open(ctx, pool)
		if errors.Is(err, postgres.ErrSchemaTooNew) {
			return nil, retry.Permanent(err) // an older binary refuses a newer schema
		}
		if err != nil {
			return nil, err
		}
		if err := st.Init(ctx, s.cfg.Chain, s.cfg.Group); err != nil {
			return nil, err
		}
		return st, nil
	}, s.db.Retrying("open storage"))
	if err != nil {
		return retry.UnlessStopped(ctx, err)
	}
	s.db.OK()
	pub := publish.New(publish.Config{Brokers: s.cfg.Kafka.Brokers, Security: s.cfg.Kafka.Security(), Chain: s.chain, Partitions: s.cfg.Partitions,
		ReplicationFactor: s.cfg.Kafka.ReplicationFactor, MaxMessageBytes: s.cfg.Kafka.MaxMessageBytes})
	defer pub.Close()
	p, err := ingest.New(ingest.Config{
		Chain: s.chain, Sources: s.sources, StartBlock: s.cfg.StartBlock, Workers: s.cfg.Workers,
		SourceWait: s.cfg.SourceWait, RetryMin: s.cfg.RetryMin, RetryMax: s.cfg.RetryMax, MaxBatchBlocks: s.cfg.BatchBlocks,
		Log: s.log, Metrics: s.metrics, Health: s.health,
	}, s.verifier, st, pub)
	if err != nil {
		return err
	}
	s.backend.Store(&api.Backend{Pipeline: p, Store: st, Health: s.health, Sources: s.sources})
	if err := retry.Forever(ctx, policy, pub.EnsureTopics, s.broker.Retrying("create topics")); err != nil {
		return retry.UnlessStopped(ctx, err)
	}
	s.broker.OK()
	s.log.Info("stash started", zap.Strings("sources", s.cfg.Sources), zap.String("blocks_topic", s.chain.BlocksTopic()))
	var probes sync.WaitGroup
	probeCtx, stopProbes := context.WithCancel(ctx)
	defer probes.Wait()
	defer stopProbes()
	probes.Go(func() { s.probe(probeCtx, pool, pub) })
	return p.Run(ctx)
}

// probeEvery is how often an idle dependency is checked: a ping and a topic check on loopback
// or a LAN cost little, and an operator should see an outage, or its end, within seconds.
const probeEvery = 2 * time.Second

// probe checks the database and the broker when the pipeline has not used them lately (it is
// caught up and waits for blocks, or sleeps in a retry's backoff): a dependency that went away,
// or came back, shows in readiness within about probeEvery even when nothing is written, not
// only at the pipeline's next retry, up to -retry.max later. The broker check creates the
// topics when they are missing (a broker that came back empty).
func (s *Service) probe(ctx context.Context, pool *pgxpool.Pool, pub *publish.Publisher) {
	every := probeEvery
	t := time.NewTicker(every)
	defer t.Stop()
	check := func(d *health.Dep, what string, fn func(context.Context) error) {
		if !d.Idle(every) {
			return // the pipeline used it just now and reported how that went
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := fn(cctx); err != nil {
			if ctx.Err() == nil {
				d.Fail(fmt.Errorf("%s: %w", what, err))
			}
			return
		}
		d.OK()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		check(s.db, "ping", pool.Ping)
		check(s.broker, "check topics", pub.EnsureTopics)
	}
}
