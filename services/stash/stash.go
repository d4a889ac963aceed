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
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/postgres"
	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
	"github.com/bcosdata/bcosdata/services/stash/internal/api"
	"github.com/bcosdata/bcosdata/services/stash/internal/ingest"
	"github.com/bcosdata/bcosdata/services/stash/internal/publish"
	"github.com/bcosdata/bcosdata/services/stash/internal/source"
	"github.com/bcosdata/bcosdata/services/stash/internal/store"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// ErrNotStarted is the readiness error before Run has opened the storage.
var ErrNotStarted = errors.New("stash: storage not open yet")

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
	}
	if s.metrics, err = ingest.NewMetrics(deps.Metrics); err != nil {
		return nil, fmt.Errorf("register stash metrics: %w", err)
	}
	s.api = api.New(s.chain, s.verifier, func() api.Backend {
		if b := s.backend.Load(); b != nil {
			return *b
		}
		return api.Backend{}
	})
	return s, nil
}

// Register adds StashService to g.
func (s *Service) Register(g *grpc.Server) { stashv1.RegisterStashServiceServer(g, s.api) }

// Ready reports whether the service has its storage open and its database and broker answer.
func (s *Service) Ready(ctx context.Context) error {
	b := s.backend.Load()
	if b == nil || b.Pipeline == nil {
		return ErrNotStarted
	}
	return b.Pipeline.Ready(ctx)
}

// Run ingests until ctx is done: it opens the storage (migrating the schema), creates the
// topics if missing, republishes what was stored but not published, then follows the sources.
func (s *Service) Run(ctx context.Context) error {
	pool := s.deps.Pool
	if pool == nil {
		var err error
		if pool, err = postgres.Connect(ctx, s.cfg.DB.URL, s.cfg.DB.Options("bcosdata-stash")...); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		defer pool.Close()
	}
	st, err := store.Open(ctx, pool)
	if err != nil {
		return fmt.Errorf("open stash storage: %w", err)
	}
	if err := st.Init(ctx, s.cfg.Chain, s.cfg.Group); err != nil {
		return err
	}
	pub := publish.New(publish.Config{Brokers: s.cfg.Kafka.Brokers, Chain: s.chain, Partitions: s.cfg.Partitions,
		ReplicationFactor: s.cfg.Kafka.ReplicationFactor, MaxMessageBytes: s.cfg.Kafka.MaxMessageBytes, Logger: s.log})
	defer pub.Close()
	p, err := ingest.New(ingest.Config{
		Chain: s.chain, Sources: s.sources, StartBlock: s.cfg.StartBlock, Workers: s.cfg.Workers,
		SourceWait: s.cfg.SourceWait, RetryMin: s.cfg.RetryMin, RetryMax: s.cfg.RetryMax, MaxBatchBlocks: s.cfg.BatchBlocks,
		Log: s.log, Metrics: s.metrics,
	}, s.verifier, st, pub)
	if err != nil {
		return err
	}
	s.backend.Store(&api.Backend{Pipeline: p, Store: st})
	if err := s.ensureTopics(ctx, pub); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	s.log.Info("stash started", zap.Strings("sources", s.cfg.Sources), zap.String("blocks_topic", s.chain.BlocksTopic()))
	return p.Run(ctx)
}

// ensureTopics creates the topics, retrying while the broker is unreachable.
func (s *Service) ensureTopics(ctx context.Context, pub *publish.Publisher) error {
	backoff := s.cfg.RetryMin
	if backoff <= 0 {
		backoff = 500 * time.Millisecond
	}
	for attempt := 1; ; attempt++ {
		err := pub.EnsureTopics(ctx)
		if err == nil {
			return nil
		}
		s.log.Warn("retry topic creation", zap.Int("attempt", attempt), zap.Error(err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, max(s.cfg.RetryMax, backoff))
	}
}
