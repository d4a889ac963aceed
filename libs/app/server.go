package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/bcosdata/bcosdata/libs/app/auth"
	"github.com/bcosdata/bcosdata/libs/app/tlsfiles"
	"github.com/bcosdata/bcosdata/libs/audit"
	"github.com/bcosdata/bcosdata/libs/audit/evidenceanchor"
)

// ServerConfig says where a service listens and how long it may take to drain.
type ServerConfig struct {
	// Name is the service name reported by the gRPC health service (e.g. "bcosdata.stash.v1.StashService").
	Name string
	// GRPCAddr is the gRPC listen address; empty disables gRPC.
	GRPCAddr string
	// AdminAddr is the admin HTTP listen address; empty disables it.
	AdminAddr string
	// HTTPAddr is the listen address of the service's public HTTP/JSON API (grpc-gateway);
	// empty disables it. Command serves the API there when the service has one; a host of
	// several services (bcosdata demo) gives each its own with AddHTTP instead.
	HTTPAddr string
	// ShutdownTimeout bounds the graceful drain of in-flight RPCs and HTTP requests; 0 means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// ProbeInterval is how often the readiness checks run; 0 means DefaultProbeInterval.
	ProbeInterval time.Duration

	// TLS serves gRPC and the HTTP APIs over TLS (optionally mutual) from files re-read on
	// change; off when it names no certificate.
	TLS tlsfiles.Files
	// Auth authenticates and authorizes every RPC and HTTP API call, and limits each caller;
	// off (every call allowed, as an anonymous principal) unless it names a policy.
	Auth auth.Config
	// AuditAnchor anchors the head of every audit trail the server hosts through the
	// evidence service (-audit.anchor.*); off unless it names an address.
	AuditAnchor evidenceanchor.Flags
	// Insecure lets a server without TLS or auth listen on an address other than loopback.
	Insecure bool
	// MaxRequestBytes bounds one request message (gRPC) or body (HTTP API); 0 means
	// DefaultMaxRequestBytes.
	MaxRequestBytes int
}

// DefaultMaxRequestBytes is gRPC's own default bound of a received message.
const DefaultMaxRequestBytes = 4 << 20

// FlagSet is what the server's flags are registered on (a *flag.FlagSet).
type FlagSet interface {
	StringVar(p *string, name, value, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
	IntVar(p *int, name string, value int, usage string)
	Float64Var(p *float64, name string, value float64, usage string)
	DurationVar(p *time.Duration, name string, value time.Duration, usage string)
}

// Defaults for a ServerConfig built in code rather than from flags.
const (
	DefaultShutdownTimeout = 15 * time.Second
	// DefaultProbeInterval is short so that a lost dependency shows in /readyz and the gRPC
	// health status within seconds.
	DefaultProbeInterval = time.Second
)

// handlerGrace is how long Run still waits for RPC handlers after it cut the ones that did not
// finish within ShutdownTimeout: their contexts are cancelled, so they normally return at once,
// and the host must not close the pool under them.
const handlerGrace = 5 * time.Second

// RegisterFlags adds -grpc.addr, -admin.addr and -shutdown-timeout with the given defaults,
// and the security flags: -tls.*, -auth.*, -admin.auth, -limits.* and -insecure.
func (c *ServerConfig) RegisterFlags(fs FlagSet, grpcAddr, adminAddr string) {
	fs.StringVar(&c.GRPCAddr, "grpc.addr", grpcAddr, "gRPC listen address (empty disables gRPC)")
	fs.StringVar(&c.AdminAddr, "admin.addr", adminAddr, "admin HTTP listen address for /metrics, /livez, /readyz and /debug/pprof (empty disables it)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout, "how long to drain in-flight requests on shutdown")
	fs.StringVar(&c.TLS.Cert, "tls.cert", "", "PEM server certificate (chain) for gRPC and the HTTP API; with -tls.key turns TLS on; re-read on change")
	fs.StringVar(&c.TLS.Key, "tls.key", "", "PEM private key of -tls.cert; re-read on change")
	fs.StringVar(&c.TLS.ClientCA, "tls.client-ca", "", "PEM CA bundle client certificates are verified against (mutual TLS); a verified certificate's CN or SAN is the caller's identity; re-read on change")
	fs.StringVar(&c.TLS.ClientAuth, "tls.client-auth", "", "client certificates: none, request, verify-if-given or require-and-verify (default verify-if-given with -tls.client-ca, else none)")
	c.Auth.RegisterFlags(fs)
	c.AuditAnchor.RegisterFlags(fs)
	fs.IntVar(&c.MaxRequestBytes, "limits.request-bytes", DefaultMaxRequestBytes, "largest request message (gRPC) or body (HTTP API) in bytes; larger ones fail with ResourceExhausted")
	fs.BoolVar(&c.Insecure, "insecure", false, "allow listening on an address other than loopback without TLS and auth (-auth.policy); logged as a warning")
}

// RegisterHTTPFlag adds -http.addr with the given default.
func (c *ServerConfig) RegisterHTTPFlag(fs interface {
	StringVar(*string, string, string, string)
}, httpAddr string) {
	fs.StringVar(&c.HTTPAddr, "http.addr", httpAddr, "HTTP/JSON API listen address, with the OpenAPI document at "+OpenAPIPath+" (empty disables it; needs -grpc.addr, which it calls)")
}

// Validate reports unusable values, naming the flag.
func (c ServerConfig) Validate() error {
	var errs []error
	if c.HTTPAddr != "" && c.GRPCAddr == "" {
		errs = append(errs, fmt.Errorf("-http.addr %s: needs -grpc.addr, the API it serves over HTTP", c.HTTPAddr))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("-shutdown-timeout %s: want more than 0", c.ShutdownTimeout))
	}
	if c.ProbeInterval < 0 {
		errs = append(errs, fmt.Errorf("probe interval %s: want 0 (default) or more", c.ProbeInterval))
	}
	if c.MaxRequestBytes < 0 {
		errs = append(errs, fmt.Errorf("-limits.request-bytes %d: want 0 (default) or more", c.MaxRequestBytes))
	}
	errs = append(errs, c.TLS.Validate("tls."), c.Auth.Validate(), c.AuditAnchor.Validate())
	if _, err := c.exposure(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Check is a readiness probe: nil means ready.
type Check func(ctx context.Context) error

// checkTimeout bounds one round of readiness checks.
const checkTimeout = 2 * time.Second

// Server runs a gRPC server with health and reflection beside an admin HTTP server.
//
// Readiness has one source: Run probes the checks at start and every ProbeInterval, and
// publishes the result both to /readyz and to the gRPC health status, so the two always agree.
// The health status starts NOT_SERVING and turns SERVING only once a probe passes (Thanos'
// prober); Drain turns it NOT_SERVING for good.
type Server struct {
	cfg      ServerConfig
	log      *zap.Logger
	grpc     *grpc.Server
	health   *health.Server
	registry *prometheus.Registry
	mux      *http.ServeMux
	guard    *auth.Guard
	creds    *auth.ServerCredentials
	gwLis    *auth.GatewayListener // the HTTP gateways' in-process way to the gRPC server

	secureOnce sync.Once
	secureErr  error
	tls        *tlsfiles.Server // nil without TLS
	audit      *audit.Hub
	// auditAnchorClose closes the connection the trails' heads are anchored over.
	auditAnchorClose func() error

	mu       sync.Mutex
	checks   map[string]Check
	grpcLis  net.Listener
	adminLis net.Listener
	gateways []*gateway

	// statusMu orders publications of the readiness state, so /readyz and the gRPC health
	// status never show different probes.
	statusMu sync.Mutex
	failures []string // of the last probe; nil means ready
	probed   bool     // a probe has completed
	draining bool
	names    []string // gRPC health service names that follow readiness

	// drained is cancelled by Drain; it ends the health Watch streams, which would otherwise
	// hold GracefulStop for the whole ShutdownTimeout.
	drained     context.Context
	stopWatches context.CancelFunc
}

// NewServer builds a Server. Services register their gRPC APIs on GRPC(), their metrics on
// Registry() and their readiness checks with AddCheck before Run.
func NewServer(cfg ServerConfig, log *zap.Logger, opts ...grpc.ServerOption) *Server {
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if log == nil {
		log = zap.NewNop()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Server{
		cfg:      cfg,
		log:      log,
		health:   health.NewServer(),
		registry: reg,
		mux:      http.NewServeMux(),
		checks:   map[string]Check{},
		names:    []string{""},
	}
	s.drained, s.stopWatches = context.WithCancel(context.Background())
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
		s.cfg.MaxRequestBytes = cfg.MaxRequestBytes
	}
	s.guard = auth.NewGuard(cfg.Auth, log.Named("auth"))
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bcosdata_auth_decisions_total",
		Help: "Calls the auth guard decided, by result: allowed, denied (PermissionDenied) or unauthenticated.",
	}, []string{"result"})
	reg.MustRegister(decisions)
	s.guard.AddHook(func(_ context.Context, d auth.Decision) {
		switch {
		case d.Allowed:
			decisions.WithLabelValues("allowed").Inc()
		case d.Principal.Via == auth.ViaAnonymous:
			decisions.WithLabelValues("unauthenticated").Inc()
		default:
			decisions.WithLabelValues("denied").Inc()
		}
	})
	s.creds = &auth.ServerCredentials{}
	// Stop waits for method handlers too, so that once Run returned no handler still uses what
	// the host closes next (the pool). Every RPC, from gRPC clients and from the HTTP gateway
	// alike, passes the guard's one chain: no RPC is served without a decision. The flow-control
	// windows are fixed (window.go).
	s.grpc = grpc.NewServer(append(append(serverWindowOptions(),
		grpc.WaitForHandlers(true),
		grpc.Creds(s.creds),
		grpc.MaxRecvMsgSize(cfg.MaxRequestBytes),
		grpc.ChainUnaryInterceptor(s.guard.UnaryInterceptors()...),
		grpc.ChainStreamInterceptor(append([]grpc.StreamServerInterceptor{s.endWatchesOnDrain}, s.guard.StreamInterceptors()...)...),
	), opts...)...)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.registerAudit()
	if cfg.Name != "" {
		s.names = append(s.names, cfg.Name)
	}
	s.publishLocked()
	s.routes()
	return s
}

// Guard returns the server's authentication and authorization: services add their resource
// functions to it, the audit trail its decision hook.
func (s *Server) Guard() *auth.Guard { return s.guard }

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
	s.mux.Handle("/metrics", s.guard.AdminHandler(auth.AdminMetrics, promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry})))
	s.mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		failures := s.Readiness()
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
	for path, h := range map[string]http.HandlerFunc{"/debug/pprof/": pprof.Index, "/debug/pprof/cmdline": pprof.Cmdline,
		"/debug/pprof/profile": pprof.Profile, "/debug/pprof/symbol": pprof.Symbol, "/debug/pprof/trace": pprof.Trace} {
		s.mux.Handle(path, s.guard.AdminHandler(auth.AdminPprof, h))
	}
}

// Ready runs every readiness check now and returns one line per failing check, sorted by
// name. A draining server is never ready. It does not change the published readiness.
func (s *Server) Ready(ctx context.Context) []string {
	s.statusMu.Lock()
	draining := s.draining
	s.statusMu.Unlock()
	if draining {
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
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	var out []string
	for _, n := range names {
		if err := checks[n](ctx); err != nil {
			out = append(out, prefixOnce(n, err))
		}
	}
	return out
}

// Readiness returns the published readiness, the one /readyz and the gRPC health status show:
// nil when ready, else one line per reason ("not probed yet" before the first probe).
func (s *Server) Readiness() []string {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	switch {
	case s.draining:
		return []string{"shutting down"}
	case !s.probed:
		return []string{"not probed yet"}
	}
	return slices.Clone(s.failures)
}

// probe runs the checks once and publishes the result, logging changes.
func (s *Server) probe(ctx context.Context) {
	failures := s.Ready(ctx)
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	if s.draining {
		return
	}
	was, wasProbed := s.failures == nil, s.probed
	s.failures, s.probed = failures, true
	s.publishLocked()
	switch ready := failures == nil; {
	case ready && (!was || !wasProbed):
		s.log.Info("ready")
	case !ready && !wasProbed:
		s.log.Info("not ready yet", zap.Strings("failures", failures)) // expected while starting
	case !ready && was:
		s.log.Warn("not ready", zap.Strings("failures", failures))
	}
}

// publishLocked sets the gRPC health status of every followed name from the readiness state.
func (s *Server) publishLocked() {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if s.probed && !s.draining && s.failures == nil {
		st = healthpb.HealthCheckResponse_SERVING
	}
	for _, n := range s.names {
		s.health.SetServingStatus(n, st)
	}
}

// followServices makes every gRPC service registered so far report the server's readiness
// under its own name, so clients of a hosted service (several on one server in bcosdata) can
// ask for it by name.
func (s *Server) followServices() {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	for name := range s.grpc.GetServiceInfo() {
		if name == healthpb.Health_ServiceDesc.ServiceName || strings.HasPrefix(name, "grpc.reflection.") {
			continue
		}
		if !slices.Contains(s.names, name) {
			s.names = append(s.names, name)
		}
	}
	s.publishLocked()
}

// Listen binds the configured addresses. Run calls it when it has not been called; calling it
// first lets a caller learn the bound addresses (port 0) before serving.
func (s *Server) Listen() error {
	if err := s.secure(); err != nil {
		return err
	}
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
	return s.listenHTTPLocked()
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

// Run serves until ctx is done or a listener fails, probing readiness at start and every
// ProbeInterval. Then it drains: readiness turns false, the listeners stop accepting, in-flight
// RPCs and HTTP requests get ShutdownTimeout to finish, and whatever remains is cancelled. The
// HTTP APIs stop before the gRPC server, whose RPCs their requests are.
// When Run returns, no RPC handler is running any more (unless one ignored its cancelled
// context for a further few seconds, which is logged).
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.followServices()
	errc := make(chan error, 3+len(s.gateways))
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
	gwConn, err := s.startHTTP(errc)
	if err != nil {
		errc <- err
	}

	probeCtx, stopProbes := context.WithCancel(ctx)
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		tick := time.NewTicker(s.cfg.ProbeInterval)
		defer tick.Stop()
		for {
			s.probe(probeCtx)
			select {
			case <-probeCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		runErr = fmt.Errorf("serve: %w", runErr)
	}
	s.Drain()
	stopProbes()
	<-probed
	deadline := time.Now().Add(s.cfg.ShutdownTimeout)
	if err := s.stopHTTP(deadline); err != nil && runErr == nil {
		runErr = err
	}
	s.stopGRPC(time.Until(deadline))
	if gwConn != nil {
		_ = gwConn.Close()
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

// stopGRPC stops accepting, lets in-flight RPCs finish within timeout, then cancels the rest
// and waits a little for their handlers to return.
func (s *Server) stopGRPC(timeout time.Duration) {
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	timer := time.NewTimer(max(timeout, 0))
	defer timer.Stop()
	select {
	case <-stopped:
		return
	case <-timer.C:
	}
	s.log.Warn("grpc drain timed out, cancelling the remaining rpcs", zap.Duration("timeout", s.cfg.ShutdownTimeout))
	go s.grpc.Stop() // with WaitForHandlers, also unblocks GracefulStop once the handlers returned
	timer.Reset(handlerGrace)
	select {
	case <-stopped:
	case <-timer.C:
		s.log.Error("rpc handlers still running after cancel", zap.Duration("waited", handlerGrace))
	}
}

// Drain turns readiness off for good (/readyz and gRPC health) so load balancers stop sending
// work. Run calls it first thing on shutdown.
func (s *Server) Drain() {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	s.draining = true
	s.publishLocked()
	s.stopWatches()
}

// endWatchesOnDrain ends gRPC health Watch streams once the server drains: they last as long as
// the client keeps them, and GracefulStop would wait for them as for any in-flight RPC. The
// client has already been sent NOT_SERVING.
func (s *Server) endWatchesOnDrain(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if info.FullMethod != healthpb.Health_Watch_FullMethodName {
		return handler(srv, ss)
	}
	ctx, cancel := context.WithCancel(ss.Context())
	defer cancel()
	stop := context.AfterFunc(s.drained, cancel)
	defer stop()
	return handler(srv, ctxStream{ServerStream: ss, ctx: ctx})
}

// ctxStream is a ServerStream with another context.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (c ctxStream) Context() context.Context { return c.ctx }

func serveHTTP(srv *http.Server, l net.Listener) error {
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
