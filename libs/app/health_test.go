package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/bcosdata/bcosdata/libs/await"
)

// healthStatus asks the gRPC health service for name.
func healthStatus(t *testing.T, hc healthpb.HealthClient, name string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{Service: name})
	if err != nil {
		t.Fatalf("health check %q: %v", name, err)
	}
	return resp.GetStatus()
}

// TestHealthFollowsReadiness proves that the gRPC health status starts NOT_SERVING, turns
// SERVING only once a readiness probe passes, turns NOT_SERVING again when a check fails, and
// that /readyz says the same at each step; the hosted service's own name follows too.
func TestHealthFollowsReadiness(t *testing.T) {
	srv := NewServer(ServerConfig{Name: "test.v1.Svc", GRPCAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		ProbeInterval: 10 * time.Millisecond}, zap.NewNop())
	var ok atomic.Bool
	var calls atomic.Int64
	srv.AddCheck("dep", func(context.Context) error {
		calls.Add(1)
		if !ok.Load() {
			return errors.New("down")
		}
		return nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, &blockingService{name: "test.v1.Blocking", log: &eventLog{}}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	await.True(t, 5*time.Second, "the server to listen", func() bool { return srv.GRPCAddr() != "" && srv.AdminAddr() != "" })
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	admin := "http://" + srv.AdminAddr()

	// Agreement: both endpoints show the same published probe.
	agree := func(want healthpb.HealthCheckResponse_ServingStatus) error {
		for _, name := range []string{"", "test.v1.Svc", "test.v1.Blocking"} {
			if got := healthStatus(t, hc, name); got != want {
				return fmt.Errorf("health %q = %v, want %v", name, got, want)
			}
		}
		code, body := get(t, admin+"/readyz")
		if (code == 200) != (want == healthpb.HealthCheckResponse_SERVING) {
			return fmt.Errorf("/readyz = %d %q while health is %v", code, body, want)
		}
		return nil
	}

	// Two check calls mean the first probe (a failure) was published.
	await.True(t, 5*time.Second, "two readiness probes", func() bool { return calls.Load() >= 2 })
	if err := agree(healthpb.HealthCheckResponse_NOT_SERVING); err != nil {
		t.Fatalf("before the first passing probe: %v", err)
	}
	ok.Store(true)
	await.For(t, 5*time.Second, "SERVING once readiness passes", func() error { return agree(healthpb.HealthCheckResponse_SERVING) })
	ok.Store(false)
	await.For(t, 5*time.Second, "NOT_SERVING once the check fails", func() error { return agree(healthpb.HealthCheckResponse_NOT_SERVING) })
	if _, body := get(t, admin+"/readyz"); !strings.Contains(body, "dep: down") {
		t.Fatalf("/readyz does not name the failing check: %q", body)
	}
}

// TestDrainEndsHealthWatches proves that a client watching the health status neither holds
// the shutdown for the whole ShutdownTimeout (a minute here) nor misses the NOT_SERVING.
func TestDrainEndsHealthWatches(t *testing.T) {
	srv := NewServer(ServerConfig{GRPCAddr: "127.0.0.1:0", ShutdownTimeout: time.Minute, ProbeInterval: 10 * time.Millisecond}, zap.NewNop())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	conn, done := serveForTest(t, ctx, srv, &blockingService{name: "test.v1.Blocking", log: &eventLog{}})
	watch, err := healthpb.NewHealthClient(conn).Watch(t.Context(), &healthpb.HealthCheckRequest{Service: "test.v1.Blocking"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := watch.Recv()
		if err != nil {
			t.Fatalf("watch before shutdown: %v", err)
		}
		if resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
	}
	sawNotServing := make(chan bool, 1)
	go func() {
		saw := false
		for {
			resp, err := watch.Recv()
			if err != nil {
				sawNotServing <- saw
				return
			}
			saw = saw || resp.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING
		}
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve still draining 20s after shutdown began: the health watch holds it")
	}
	if !<-sawNotServing {
		t.Error("the watch ended without NOT_SERVING")
	}
}
