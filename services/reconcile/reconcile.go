// Package reconcile is the reconcile service: it compares business files (CSV, TXT, JSON,
// Excel) with the on-chain records it consumes from Kafka, stores three-way results and serves
// them over gRPC.
//
// Only the process scaffolding exists so far: the service can be hosted (alone or inside
// bcosdata) with its flags, health, readiness (its database answers) and metrics, its gRPC
// methods answer Unimplemented, and Run logs once that the reconcile processing is not in this build
// and then waits for shutdown.
package reconcile

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"google.golang.org/grpc"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/postgres"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
)

// EnvPrefix prefixes the environment variables that back the flags (RECONCILE_DB_URL).
const EnvPrefix = "RECONCILE"

// Config is the reconcile service configuration.
type Config struct {
	Chain    string
	Group    uint
	Kafka    kafka.Flags
	DB       postgres.Flags
	InboxDir string
	Server   app.ServerConfig
	Log      app.LogFlags
}

// RegisterFlags adds every option to fs with its default.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Chain, "chain", "chain0", "chain name used in topic names bcos.<chain>.<group>.<kind>.v1")
	fs.UintVar(&c.Group, "group", 1, "group id")
	c.Kafka.RegisterFlagsWithPrefix("kafka.", fs)
	c.DB.RegisterFlagsWithPrefix("db.", fs, "reconcile")
	fs.StringVar(&c.InboxDir, "inbox", "", "directory watched for business files")
	c.Server.RegisterFlags(fs, "127.0.0.1:9103", "127.0.0.1:9203")
	c.Server.RegisterHTTPFlag(fs, "127.0.0.1:9303")
	c.Log.Register(fs)
}

// Service is the reconcile service.
type Service struct {
	reconcilev1.UnimplementedReconcileServiceServer
	cfg  Config
	deps app.Deps
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
	for _, err := range []error{c.Kafka.Validate("kafka."), c.DB.Validate("db."), c.Server.Validate()} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// New validates cfg and builds the service; an invalid cfg is an *app.UsageError.
func New(cfg Config, deps app.Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, &app.UsageError{Err: err}
	}
	return &Service{cfg: cfg, deps: deps.OrNop()}, nil
}

// Ready reports whether the service's database answers; a service given no pool has nothing
// to wait for yet.
func (s *Service) Ready(ctx context.Context) error {
	if s.deps.Pool == nil {
		return nil
	}
	if err := s.deps.Pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Register adds ReconcileService to g.
func (s *Service) Register(g *grpc.Server) { reconcilev1.RegisterReconcileServiceServer(g, s) }

// HTTPAPI returns ReconcileService's HTTP/JSON API (routes under /v1/reconcile/).
func (s *Service) HTTPAPI() app.API {
	return app.API{Name: "reconcile", Register: reconcilev1.RegisterReconcileServiceHandler, OpenAPI: reconcilev1.OpenAPI}
}

// Run waits for ctx to be done: the reconcile processing is not in this build, which Run says once
// at Warn, so that the service can be hosted beside the others without stopping them.
func (s *Service) Run(ctx context.Context) error {
	s.deps.Log.Warn("matching not in this build; serving health and an unimplemented ReconcileService only")
	<-ctx.Done()
	return nil
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
