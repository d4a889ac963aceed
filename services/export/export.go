// Package export is the export service: it consumes the verified block topics, decodes
// transactions and events by contract ABI, writes typed tables to PostgreSQL, serves them over
// gRPC and publishes decoded events back to Kafka.
//
// Only the process scaffolding exists so far; Run reports ErrNotImplemented.
package export

import (
	"context"
	"errors"
	"flag"

	"google.golang.org/grpc"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/postgres"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
)

// EnvPrefix prefixes the environment variables that back the flags (EXPORT_DB_URL).
const EnvPrefix = "EXPORT"

// ErrNotImplemented is returned by Run until decoding lands.
var ErrNotImplemented = errors.New("export: decoding is not implemented in this build")

// Config is the export service configuration.
type Config struct {
	Chain  string
	Group  uint
	Kafka  kafka.Flags
	DB     postgres.Flags
	ABIDir string
	Server app.ServerConfig
	Log    app.LogFlags
}

// RegisterFlags adds every option to fs with its default.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Chain, "chain", "chain0", "chain name used in topic names bcos.<chain>.<group>.<kind>.v1")
	fs.UintVar(&c.Group, "group", 1, "group id")
	c.Kafka.RegisterFlagsWithPrefix("kafka.", fs)
	c.DB.RegisterFlagsWithPrefix("db.", fs, "export")
	fs.StringVar(&c.ABIDir, "abi.dir", "", "directory of contract ABI JSON files")
	c.Server.RegisterFlags(fs, "127.0.0.1:9102", "127.0.0.1:9202")
	c.Log.Register(fs)
}

// Service is the export service.
type Service struct {
	exportv1.UnimplementedExportServiceServer
	cfg  Config
	deps app.Deps
}

// New builds the service.
func New(cfg Config, deps app.Deps) (*Service, error) {
	return &Service{cfg: cfg, deps: deps.OrNop()}, nil
}

// Register adds ExportService to g.
func (s *Service) Register(g *grpc.Server) { exportv1.RegisterExportServiceServer(g, s) }

// Run consumes until ctx is done.
func (s *Service) Run(context.Context) error { return ErrNotImplemented }

// Command returns the export process description, used by cmd/export and `bcosdata export`.
func Command() app.Command {
	cfg := &Config{}
	return app.Command{
		Name: "export", EnvPrefix: EnvPrefix, HealthName: "bcosdata.export.v1.ExportService",
		Flags: cfg.RegisterFlags, Server: &cfg.Server, Log: &cfg.Log, DB: &cfg.DB,
		New: func(deps app.Deps, _ *app.Server) (app.Service, error) {
			return New(*cfg, deps)
		},
	}
}
