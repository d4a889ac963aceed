// Package stash is the stash service: it reads a FISCO BCOS node's binlog files (or blocks over
// JSON-RPC), verifies every block, backs up the node's storage tables in PostgreSQL and streams
// verified blocks and state change-sets to Kafka.
//
// The ingestion pipeline is not in this build yet: Run reports ErrNotImplemented so that nobody
// mistakes a running process for a working backup.
package stash

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
)

// ErrNotImplemented is returned by Run until the ingestion pipeline lands.
var ErrNotImplemented = errors.New("stash: ingestion is not implemented in this build")

// Deps are the shared resources a host process hands the service.
type Deps struct {
	Log     *zap.Logger
	Metrics prometheus.Registerer
}

// Service is the stash service.
type Service struct {
	stashv1.UnimplementedStashServiceServer
	cfg  Config
	deps Deps
}

// New validates cfg and builds the service.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, deps: deps}, nil
}

// Register adds StashService to g.
func (s *Service) Register(g *grpc.Server) { stashv1.RegisterStashServiceServer(g, s) }

// Run ingests until ctx is done.
func (s *Service) Run(context.Context) error { return ErrNotImplemented }
