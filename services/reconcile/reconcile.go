// Package reconcile is the reconcile service: it compares business files (CSV, TXT, JSON,
// Excel) with the on-chain records it consumes from Kafka, stores three-way results and serves
// them over gRPC.
//
// Only the process scaffolding exists so far; Run reports ErrNotImplemented.
package reconcile

import (
	"context"
	"errors"
	"flag"

	"google.golang.org/grpc"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/postgres"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
)

// EnvPrefix prefixes the environment variables that back the flags (RECONCILE_DB_URL).
const EnvPrefix = "RECONCILE"

// ErrNotImplemented is returned by Run until matching lands.
var ErrNotImplemented = errors.New("reconcile: matching is not implemented in this build")

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
	c.Log.Register(fs)
}

// Service is the reconcile service.
type Service struct {
	reconcilev1.UnimplementedReconcileServiceServer
	cfg  Config
	deps app.Deps
}

// New builds the service.
func New(cfg Config, deps app.Deps) (*Service, error) {
	return &Service{cfg: cfg, deps: deps.OrNop()}, nil
}

// Register adds ReconcileService to g.
func (s *Service) Register(g *grpc.Server) { reconcilev1.RegisterReconcileServiceServer(g, s) }

// Run reconciles until ctx is done.
func (s *Service) Run(context.Context) error { return ErrNotImplemented }

// Command returns the reconcile process description, used by cmd/reconcile and `bcosdata reconcile`.
func Command() app.Command {
	cfg := &Config{}
	return app.Command{
		Name: "reconcile", EnvPrefix: EnvPrefix, HealthName: "bcosdata.reconcile.v1.ReconcileService",
		Flags: cfg.RegisterFlags, Server: &cfg.Server, Log: &cfg.Log, DB: &cfg.DB,
		New: func(deps app.Deps, _ *app.Server) (app.Service, error) {
			return New(*cfg, deps)
		},
	}
}
