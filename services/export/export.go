// Package export is the export service: it consumes the verified block topics, decodes
// transactions and events by contract ABI, writes typed tables to PostgreSQL, serves them over
// gRPC and publishes decoded events back to Kafka.
//
// Only the process scaffolding exists so far: the service can be hosted (alone or inside
// bcosdata) with its flags, health, readiness (its database answers) and metrics, its gRPC
// methods answer Unimplemented, and Run logs once that the export processing is not in this build
// and then waits for shutdown.
package export

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"google.golang.org/grpc"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/postgres"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
)

// EnvPrefix prefixes the environment variables that back the flags (EXPORT_DB_URL).
const EnvPrefix = "EXPORT"

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

// Register adds ExportService to g.
func (s *Service) Register(g *grpc.Server) { exportv1.RegisterExportServiceServer(g, s) }

// Run waits for ctx to be done: the export processing is not in this build, which Run says once
// at Warn, so that the service can be hosted beside the others without stopping them.
func (s *Service) Run(ctx context.Context) error {
	s.deps.Log.Warn("decoding not in this build; serving health and an unimplemented ExportService only")
	<-ctx.Done()
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
