package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
)

// eventLog records what happened, in order, across services and RPC handlers.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(e string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) before(t *testing.T, first, then string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	i, j := slices.Index(l.events, first), slices.Index(l.events, then)
	if i < 0 || j < 0 || i > j {
		t.Fatalf("want %q before %q, events %q", first, then, l.events)
	}
}

// blockingService has one unary RPC, /<name>/Wait, that blocks until release is closed and then
// answers only if the service's Run is still running (and, given a pool, a query succeeds).
// Its Run runs until its context ends or fail is closed, then returns failErr.
type blockingService struct {
	name    string
	log     *eventLog
	pool    *pgxpool.Pool
	release chan struct{}
	fail    chan struct{}
	failErr error

	entered atomic.Bool
	running atomic.Bool
}

func (s *blockingService) Register(g *grpc.Server) {
	g.RegisterService(&grpc.ServiceDesc{
		ServiceName: s.name,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Wait", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(new(emptypb.Empty)); err != nil {
				return nil, err
			}
			return s.wait(ctx)
		}}},
	}, s)
}

func (s *blockingService) wait(ctx context.Context) (*emptypb.Empty, error) {
	s.entered.Store(true)
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer s.log.add(s.name + " rpc returned")
	if !s.running.Load() {
		return nil, errors.New("service Run already stopped under the rpc")
	}
	if s.pool != nil {
		var n int
		if err := s.pool.QueryRow(ctx, "select 1").Scan(&n); err != nil {
			return nil, fmt.Errorf("query during shutdown: %w", err)
		}
	}
	return &emptypb.Empty{}, nil
}

func (s *blockingService) Run(ctx context.Context) error {
	s.running.Store(true)
	s.log.add(s.name + " run started")
	var err error
	select {
	case <-ctx.Done():
	case <-s.fail:
		err = s.failErr
	}
	s.running.Store(false)
	s.log.add(s.name + " run stopped")
	return err
}

// serveForTest runs Serve in the background and returns a client connection and Serve's result.
func serveForTest(t *testing.T, ctx context.Context, srv *Server, svcs ...Service) (*grpc.ClientConn, <-chan error) {
	t.Helper()
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, svcs...) }()
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, done
}

func invoke(ctx context.Context, conn *grpc.ClientConn, svc string) <-chan error {
	res := make(chan error, 1)
	go func() { res <- conn.Invoke(ctx, "/"+svc+"/Wait", &emptypb.Empty{}, &emptypb.Empty{}) }()
	return res
}

// awaitDraining waits until the server reports it is shutting down.
func awaitDraining(t *testing.T, srv *Server) {
	t.Helper()
	await.True(t, 10*time.Second, "/readyz to say shutting down", func() bool {
		code, body := get(t, "http://"+srv.AdminAddr()+"/readyz")
		return code == 503 && strings.Contains(body, "shutting down")
	})
}

// TestServeDrainsRPCsBeforeStoppingServices proves the shutdown order: an RPC in flight when
// shutdown begins completes, sees the service still running and queries a real PostgreSQL pool
// successfully; the service's Run is stopped only after the RPC returned.
func TestServeDrainsRPCsBeforeStoppingServices(t *testing.T) {
	pool := pgtest.NewPool(t)
	events := &eventLog{}
	svc := &blockingService{name: "test.v1.Blocking", log: events, pool: pool, release: make(chan struct{})}
	srv := NewServer(ServerConfig{GRPCAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", ShutdownTimeout: 30 * time.Second}, zap.NewNop())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	conn, done := serveForTest(t, ctx, srv, svc)

	rpc := invoke(t.Context(), conn, svc.name)
	await.True(t, 10*time.Second, "the rpc to reach its handler", svc.entered.Load)
	cancel() // shutdown begins with the RPC in flight
	awaitDraining(t, srv)
	if !svc.running.Load() {
		t.Fatal("service Run stopped while an rpc was still in flight")
	}
	close(svc.release)
	if err := <-rpc; err != nil {
		t.Fatalf("in-flight rpc during shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	events.before(t, "test.v1.Blocking rpc returned", "test.v1.Blocking run stopped")
	if svc.running.Load() {
		t.Fatal("Serve returned before the service's Run")
	}
}

// TestServeDrainsBeforeReturningServiceFailure proves that when one service's Run fails, the
// server still drains the in-flight RPC of another before the other service stops and Serve
// returns the failure.
func TestServeDrainsBeforeReturningServiceFailure(t *testing.T) {
	events := &eventLog{}
	errBoom := errors.New("boom")
	failing := &blockingService{name: "test.v1.Failing", log: events, fail: make(chan struct{}), failErr: errBoom}
	other := &blockingService{name: "test.v1.Other", log: events, release: make(chan struct{})}
	srv := NewServer(ServerConfig{GRPCAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", ShutdownTimeout: 30 * time.Second}, zap.NewNop())
	conn, done := serveForTest(t, t.Context(), srv, failing, other)

	rpc := invoke(t.Context(), conn, other.name)
	await.True(t, 10*time.Second, "the rpc to reach its handler", other.entered.Load)
	close(failing.fail)
	awaitDraining(t, srv)
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v with an rpc still in flight", err)
	default:
	}
	close(other.release)
	if err := <-rpc; err != nil {
		t.Fatalf("in-flight rpc while a service failed: %v", err)
	}
	if err := <-done; !errors.Is(err, errBoom) {
		t.Fatalf("Serve = %v, want the service's failure", err)
	}
	events.before(t, "test.v1.Failing run stopped", "test.v1.Other rpc returned")
	events.before(t, "test.v1.Other rpc returned", "test.v1.Other run stopped")
}
