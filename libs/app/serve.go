package app

import (
	"context"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
)

// Service is what a bcosdata service exposes to the process hosting it, whether its own binary
// or the all-in-one bcosdata.
type Service interface {
	// Register adds the service's gRPC APIs.
	Register(*grpc.Server)
	// Run does the service's work until ctx is done; it finishes the in-flight unit of work
	// (message, block, file) and commits before returning.
	Run(ctx context.Context) error
}

// Serve registers svc on srv and runs both until ctx is done or either fails; the first error
// stops the other.
func Serve(ctx context.Context, srv *Server, svc Service) error {
	svc.Register(srv.GRPC())
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(ctx) })
	g.Go(func() error { return svc.Run(ctx) })
	return g.Wait()
}
