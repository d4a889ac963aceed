package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// ServerConfig says where a service listens and how long it may take to drain.
type ServerConfig struct {
	// Name is the service name reported by the gRPC health service (e.g. "bcosdata.stash.v1.StashService").
	Name string
	// GRPCAddr is the gRPC listen address; empty disables gRPC.
	GRPCAddr string
	// AdminAddr is the admin HTTP listen address; empty disables it.
	AdminAddr string
	// ShutdownTimeout bounds the graceful drain of in-flight RPCs and HTTP requests.
	ShutdownTimeout time.Duration
	// ProbeInterval is how often readiness checks are mirrored into the gRPC health status.
	ProbeInterval time.Duration
}

func (c ServerConfig) probeEvery() time.Duration {
	if c.ProbeInterval <= 0 {
		return 5 * time.Second
	}
	return c.ProbeInterval
}

// RegisterFlags adds -grpc.addr and -admin.addr with the given defaults.
func (c *ServerConfig) RegisterFlags(fs interface {
	StringVar(*string, string, string, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}, grpcAddr, adminAddr string) {
	fs.StringVar(&c.GRPCAddr, "grpc.addr", grpcAddr, "gRPC listen address (empty disables gRPC)")
	fs.StringVar(&c.AdminAddr, "admin.addr", adminAddr, "admin HTTP listen address for /metrics, /livez, /readyz and /debug/pprof (empty disables it)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long to drain in-flight requests on shutdown")
}

// Check is a readiness probe: nil means ready.
type Check func(ctx context.Context) error

// Server runs a gRPC server with health and reflection beside an admin HTTP server.
type Server struct {
	cfg      ServerConfig
	log      *zap.Logger
	grpc     *grpc.Server
	health   *health.Server
	registry *prometheus.Registry
	mux      *http.ServeMux

	mu       sync.Mutex
	checks   map[string]Check
	grpcLis  net.Listener
	adminLis net.Listener
	draining atomic.Bool
}

// NewServer builds a Server. Services register their gRPC APIs on GRPC(), their metrics on
// Registry() and their readiness checks with AddCheck before Run.
func NewServer(cfg ServerConfig, log *zap.Logger, opts ...grpc.ServerOption) *Server {
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Server{
		cfg:      cfg,
		log:      log,
		grpc:     grpc.NewServer(opts...),
		health:   health.NewServer(),
		registry: reg,
		mux:      http.NewServeMux(),
		checks:   map[string]Check{},
	}
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if cfg.Name != "" {
		s.health.SetServingStatus(cfg.Name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	s.routes()
	return s
}

// GRPC returns the gRPC server to register services on.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Registry returns the Prometheus registry served on /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Handle adds an extra handler to the admin HTTP mux.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// AddCheck registers a named readiness check consulted by /readyz and the gRPC health status.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

func (s *Server) routes() {
	s.mux.Handle("/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}))
	s.mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		failures := s.Ready(r.Context())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if len(failures) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			for _, f := range failures {
				fmt.Fprintln(w, f)
			}
			return
		}
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("/debug/pprof/", pprof.Index)
	s.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// Ready runs every readiness check and returns one line per failing check, sorted by name.
// A draining server is never ready.
func (s *Server) Ready(ctx context.Context) []string {
	if s.draining.Load() {
		return []string{"shutting down"}
	}
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	for n := range s.checks {
		names = append(names, n)
	}
	checks := make(map[string]Check, len(s.checks))
	for n, c := range s.checks {
		checks[n] = c
	}
	s.mu.Unlock()
	sort.Strings(names)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var out []string
	for _, n := range names {
		if err := checks[n](ctx); err != nil {
			out = append(out, n+": "+err.Error())
		}
	}
	return out
}

// Listen binds the configured addresses. Run calls it when it has not been called; calling it
// first lets a caller learn the bound addresses (port 0) before serving.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.GRPCAddr != "" && s.grpcLis == nil {
		l, err := net.Listen("tcp", s.cfg.GRPCAddr)
		if err != nil {
			return fmt.Errorf("listen grpc %s: %w", s.cfg.GRPCAddr, err)
		}
		s.grpcLis = l
	}
	if s.cfg.AdminAddr != "" && s.adminLis == nil {
		l, err := net.Listen("tcp", s.cfg.AdminAddr)
		if err != nil {
			return fmt.Errorf("listen admin %s: %w", s.cfg.AdminAddr, err)
		}
		s.adminLis = l
	}
	return nil
}

// GRPCAddr returns the bound gRPC address, or "" before Listen.
func (s *Server) GRPCAddr() string { return addrOf(&s.mu, &s.grpcLis) }

// AdminAddr returns the bound admin address, or "" before Listen.
func (s *Server) AdminAddr() string { return addrOf(&s.mu, &s.adminLis) }

func addrOf(mu *sync.Mutex, l *net.Listener) string {
	mu.Lock()
	defer mu.Unlock()
	if *l == nil {
		return ""
	}
	return (*l).Addr().String()
}

// Run serves until ctx is done, then drains: readiness turns false, in-flight RPCs and HTTP
// requests get ShutdownTimeout to finish, and whatever remains is cut.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	errc := make(chan error, 2)
	s.setServing(true)
	var admin *http.Server
	if s.adminLis != nil {
		admin = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- serveHTTP(admin, s.adminLis) }()
		s.log.Info("admin http listening", zap.String("addr", s.adminLis.Addr().String()))
	}
	if s.grpcLis != nil {
		go func() { errc <- s.grpc.Serve(s.grpcLis) }()
		s.log.Info("grpc listening", zap.String("addr", s.grpcLis.Addr().String()))
	}
	var runErr error
	tick := time.NewTicker(s.cfg.probeEvery())
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case runErr = <-errc:
			runErr = fmt.Errorf("serve: %w", runErr)
			break loop
		case <-tick.C:
			// Mirror the readiness checks into the gRPC health status so gRPC clients and
			// Kubernetes gRPC probes see the same answer as /readyz.
			s.setServing(len(s.Ready(ctx)) == 0)
		}
	}
	s.Drain()
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.log.Warn("grpc drain timed out, closing connections")
		s.grpc.Stop()
	}
	if admin != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
		defer cancel()
		if err := admin.Shutdown(sctx); err != nil && runErr == nil {
			runErr = fmt.Errorf("shut down admin http: %w", err)
		}
	}
	return runErr
}

// Drain turns readiness off (HTTP and gRPC health) so load balancers stop sending work.
func (s *Server) Drain() {
	s.draining.Store(true)
	s.setServing(false)
}

func (s *Server) setServing(on bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if on {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	if s.cfg.Name != "" {
		s.health.SetServingStatus(s.cfg.Name, st)
	}
}

func serveHTTP(srv *http.Server, l net.Listener) error {
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
