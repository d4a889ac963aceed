package app

import (
	"context"
	"errors"
	"slices"
	"sync"

	"google.golang.org/grpc"
)

// Service is what a bcosdata service exposes to the process hosting it, whether its own binary
// or the all-in-one bcosdata.
type Service interface {
	// Register adds the service's gRPC APIs.
	Register(*grpc.Server)
	// Run does the service's work until ctx is done; it finishes the in-flight unit of work
	// (message, block, file) and commits before returning. Serve cancels ctx only after the
	// server drained its RPCs, so RPC handlers may rely on the work Run keeps up.
	Run(ctx context.Context) error
}

// ResourceNamer is a Service that names the resource each of its RPCs acts on, for the
// policy's per-resource grants and the audit trail: "contract:<name or address>",
// "job:<name>", "run:<id>", "category:<name>"; "" when the request names none or the RPC is not
// the service's.
type ResourceNamer interface {
	Resource(fullMethod string, req any) string
}

// Serve registers every service on srv and runs them with srv until ctx is done or one of them
// (or the server) fails. Shutdown then goes in Temporal's order: readiness off, the server stops
// accepting and lets in-flight RPCs finish (within its ShutdownTimeout), and only then are the
// services' contexts cancelled and their Runs awaited, so an RPC never outlives the service
// work it reads and the caller can close the pool once Serve returned.
//
// A Run returning nil before shutdown is not a failure: the others keep running. Serve returns
// the failures joined, first the one that started the shutdown; a shutdown from ctx alone
// returns nil.
func Serve(ctx context.Context, srv *Server, svcs ...Service) error {
	for _, svc := range svcs {
		svc.Register(srv.GRPC())
		if r, ok := svc.(ResourceNamer); ok {
			srv.Guard().AddResources(r.Resource)
		}
	}
	// The audit trails the services added run like a service: they stop only after the server
	// drained, so the decisions of the last RPCs are written too.
	svcs = append(slices.Clone(svcs), auditService{hub: srv.audit, closeAnchor: srv.auditAnchorClose})
	// The server stops on ctx or on the first failure; the services only once it drained.
	srvCtx, stopServer := context.WithCancel(ctx)
	defer stopServer()
	svcCtx, stopServices := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServices()

	var (
		mu       sync.Mutex
		failures []error
		stopping bool // the services' context was cancelled by Serve
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if stopping && errors.Is(err, context.Canceled) {
			return // a Run reporting the shutdown Serve asked for
		}
		failures = append(failures, err)
		stopServer()
	}

	var wg sync.WaitGroup
	for _, svc := range svcs {
		wg.Go(func() {
			if err := svc.Run(svcCtx); err != nil {
				fail(err)
			}
		})
	}
	if err := srv.Run(srvCtx); err != nil {
		fail(err)
	}
	mu.Lock()
	stopping = true
	mu.Unlock()
	stopServices()
	wg.Wait()
	return errors.Join(failures...)
}
