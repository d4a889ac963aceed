package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/ratelimit"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// jwtLeeway tolerates clock skew on exp, nbf and iat.
const jwtLeeway = 30 * time.Second

// ResourceFunc names the resource an RPC's request acts on ("contract:Token", "job:payments",
// "category:invoices"), or "" when it names none or the RPC is not the function's. A service
// gives one for its RPCs; the policy's resource patterns are matched against it.
type ResourceFunc func(fullMethod string, req any) string

// Guard authenticates, authorizes and limits every call of one gRPC server (and, through the
// gateway, of its HTTP APIs), in one interceptor chain.
type Guard struct {
	cfg Config
	log *zap.Logger

	loadOnce sync.Once
	loadErr  error
	policy   *watched[*Policy]
	authn    authenticator

	mu        sync.Mutex
	hooks     []DecisionHook
	resources []ResourceFunc

	rates   *rateLimiter
	streams *streamLimiter
}

// NewGuard makes a guard for cfg; Load reads its files.
func NewGuard(cfg Config, log *zap.Logger) *Guard {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.JWTRolesClaim == "" {
		cfg.JWTRolesClaim = DefaultJWTRolesClaim
	}
	g := &Guard{cfg: cfg, log: log, streams: &streamLimiter{max: cfg.MaxStreams, open: map[string]int{}}}
	if cfg.RateLimit > 0 {
		g.rates = &rateLimiter{limit: rate.Limit(cfg.RateLimit), burst: max(cfg.RateBurst, 1), m: map[string]*rateEntry{}}
	}
	return g
}

// Enabled reports whether auth is on.
func (g *Guard) Enabled() bool { return g.cfg.Enabled() }

// Load validates the configuration and reads the policy, JWKS and tokens files once (they are
// re-read on change afterwards). It is idempotent; the server calls it before it listens.
func (g *Guard) Load() error {
	g.loadOnce.Do(func() { g.loadErr = g.load() })
	return g.loadErr
}

func (g *Guard) load() error {
	if err := g.cfg.Validate(); err != nil {
		return err
	}
	if !g.cfg.Enabled() {
		return nil
	}
	onNew := func(path string) { g.log.Info("auth file reloaded", zap.String("file", path)) }
	onErr := func(path string, err error) {
		g.log.Error("auth file changed but cannot be used; keeping the previous version", zap.String("file", path), zap.Error(err))
	}
	var err error
	if g.policy, err = watch(g.cfg.Policy, ParsePolicy, onNew, onErr); err != nil {
		return fmt.Errorf("-auth.policy: %w", err)
	}
	g.authn = authenticator{issuer: g.cfg.JWTIssuer, audience: g.cfg.JWTAudience, rolesClaim: g.cfg.JWTRolesClaim}
	if g.cfg.JWKS != "" {
		if g.authn.jwks, err = watch(g.cfg.JWKS, parseJWKS, onNew, onErr); err != nil {
			return fmt.Errorf("-auth.jwks: %w", err)
		}
	}
	if g.cfg.Tokens != "" {
		if g.authn.tokens, err = watch(g.cfg.Tokens, ParseTokens, onNew, onErr); err != nil {
			return fmt.Errorf("-auth.tokens: %w", err)
		}
	}
	return nil
}

// AddHook adds a function told of every decision.
func (g *Guard) AddHook(h DecisionHook) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hooks = append(g.hooks, h)
}

// AddResources adds a service's resource function.
func (g *Guard) AddResources(f ResourceFunc) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.resources = append(g.resources, f)
}

func (g *Guard) resource(fullMethod string, req any) string {
	g.mu.Lock()
	fs := g.resources
	g.mu.Unlock()
	for _, f := range fs {
		if r := f(fullMethod, req); r != "" {
			return r
		}
	}
	return ""
}

func (g *Guard) decided(ctx context.Context, d Decision) {
	g.mu.Lock()
	hooks := g.hooks
	g.mu.Unlock()
	for _, h := range hooks {
		h(ctx, d)
	}
	if !d.Allowed {
		// Refusals of unauthenticated callers, who are not rate-limited, at debug level only,
		// so they cannot flood the log.
		level := zap.InfoLevel
		if d.Principal.Via == ViaAnonymous {
			level = zap.DebugLevel
		}
		g.log.Log(level, "call denied", zap.String("rpc", d.RPC), zap.String("subject", d.Principal.Subject), zap.String("via", d.Principal.Via),
			zap.String("peer", d.Principal.Peer), zap.String("resource", d.Resource), zap.String("reason", d.Reason), zap.String("request_id", d.RequestID))
	}
}

// alwaysPublic are RPCs any caller may make: health checks, which probes make without
// credentials.
func alwaysPublic(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/"+healthpb.Health_ServiceDesc.ServiceName+"/")
}

func (g *Guard) isPublic(fullMethod string) bool {
	if alwaysPublic(fullMethod) {
		return true
	}
	return g.cfg.Enabled() && g.policy.get().IsPublic(fullMethod)
}

// UnaryInterceptors are the server's unary chain: authentication, rate limit, authorization.
func (g *Guard) UnaryInterceptors() []grpc.UnaryServerInterceptor {
	return []grpc.UnaryServerInterceptor{
		g.authenticateUnary,
		ratelimit.UnaryServerInterceptor(g),
		g.authorizeUnary,
	}
}

// StreamInterceptors are the server's stream chain: authentication, rate limit, stream
// count, authorization.
func (g *Guard) StreamInterceptors() []grpc.StreamServerInterceptor {
	return []grpc.StreamServerInterceptor{
		g.authenticateStream,
		ratelimit.StreamServerInterceptor(g),
		g.limitStreams,
		g.authorizeStream,
	}
}

type callKey struct{}

// call is what the chain keeps about one call.
type call struct {
	method    string
	public    bool
	requestID string
}

func callOf(ctx context.Context) (call, bool) {
	c, ok := ctx.Value(callKey{}).(call)
	return c, ok
}

func (g *Guard) authenticateUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := g.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (g *Guard) authenticateStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := g.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	w := middleware.WrapServerStream(ss)
	w.WrappedContext = ctx
	return handler(srv, w)
}

// authenticate is the chain's first step: it finds the caller's credentials and turns them
// into a principal, or fails with Unauthenticated.
func (g *Guard) authenticate(ctx context.Context, fullMethod string) (context.Context, error) {
	if err := g.Load(); err != nil {
		// Fail closed: a server serving without having loaded its policy (the server loads it
		// in Listen, before it accepts anything) allows nothing.
		return nil, status.Errorf(codes.Unavailable, "%s: auth configuration: %v", fullMethod, err)
	}
	c := call{method: fullMethod, public: g.isPublic(fullMethod), requestID: requestID(ctx)}
	ctx = context.WithValue(ctx, callKey{}, c)
	creds, err := credentialsFrom(ctx)
	if !g.cfg.Enabled() || c.public {
		// Credentials, even malformed ones, are not looked at.
		return NewContext(ctx, Principal{Via: ViaAnonymous, Peer: creds.Peer}), nil
	}
	p := Principal{Via: ViaAnonymous, Peer: creds.Peer}
	if err == nil {
		p, err = g.authn.authenticate(creds, g.policy.get())
	}
	if err != nil {
		g.decided(ctx, Decision{Principal: p, RPC: fullMethod, Reason: "unauthenticated: " + err.Error(), RequestID: c.requestID})
		return nil, status.Errorf(codes.Unauthenticated, "%s: %v", fullMethod, err)
	}
	return NewContext(ctx, p), nil
}

// Authenticate checks the credentials of an HTTP request to the admin server (bearer token
// only) and returns the principal.
func (g *Guard) authenticateHTTP(r *http.Request) (Principal, error) {
	creds := Credentials{Peer: r.RemoteAddr}
	if h := r.Header.Get("Authorization"); h != "" {
		tok, err := bearerToken(h)
		if err != nil {
			return Principal{Via: ViaAnonymous, Peer: r.RemoteAddr}, err
		}
		creds.Bearer = tok
	}
	return g.authn.authenticate(creds, g.policy.get())
}

// AdminHandler guards an admin HTTP endpoint named name (AdminMetrics, AdminPprof) when
// -admin.auth is on: 401 without valid credentials, 403 without the permission.
func (g *Guard) AdminHandler(name string, next http.Handler) http.Handler {
	if !g.cfg.AdminAuth {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := g.Load(); err != nil {
			http.Error(w, name+": auth configuration: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		id := r.Header.Get("X-Request-Id")
		if id == "" {
			id = newRequestID()
		}
		p, err := g.authenticateHTTP(r)
		if err != nil {
			g.decided(r.Context(), Decision{Principal: p, RPC: name, Reason: "unauthenticated: " + err.Error(), RequestID: id})
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, name+": "+err.Error(), http.StatusUnauthorized)
			return
		}
		ok, reason := g.policy.get().Authorize(p, name, "")
		g.decided(r.Context(), Decision{Principal: p, RPC: name, Allowed: ok, Reason: reason, RequestID: id})
		if !ok {
			http.Error(w, name+": "+reason, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

func bearerToken(h string) (string, error) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) == "" {
		return "", errors.New("authorization: want \"Bearer <token>\"")
	}
	return strings.TrimSpace(tok), nil
}

// credentialsFrom reads the call's credentials: the bearer token, the verified client
// certificate and the peer; for calls from the in-process HTTP gateway, the HTTP caller's.
func credentialsFrom(ctx context.Context) (Credentials, error) {
	var c Credentials
	md, _ := metadata.FromIncomingContext(ctx)
	if pr, ok := peer.FromContext(ctx); ok {
		if pr.Addr != nil {
			c.Peer = pr.Addr.String()
		}
		switch info := pr.AuthInfo.(type) {
		case GatewayAuthInfo:
			var err error
			if c, err = gatewayCredentials(c, md); err != nil {
				return c, err
			}
		case credentials.TLSInfo:
			if len(info.State.VerifiedChains) > 0 && len(info.State.PeerCertificates) > 0 {
				c.Cert = info.State.PeerCertificates[0]
			}
		}
	}
	switch v := md.Get("authorization"); len(v) {
	case 0:
	case 1:
		tok, err := bearerToken(v[0])
		if err != nil {
			return c, err
		}
		c.Bearer = tok
	default:
		return c, errors.New("authorization: given more than once")
	}
	return c, nil
}

// gatewayCredentials takes the HTTP caller's identity from the metadata the gateway set.
func gatewayCredentials(c Credentials, md metadata.MD) (Credentials, error) {
	peers := md.Get(MDGatewayPeer)
	if len(peers) != 1 {
		return c, fmt.Errorf("gateway call with %d %s values, want 1", len(peers), MDGatewayPeer)
	}
	c.Peer = peers[0]
	switch certs := md.Get(MDGatewayClientCert); len(certs) {
	case 0:
	case 1:
		der, err := base64.StdEncoding.DecodeString(certs[0])
		if err != nil {
			return c, fmt.Errorf("gateway client certificate: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return c, fmt.Errorf("gateway client certificate: %w", err)
		}
		c.Cert = cert
	default:
		return c, fmt.Errorf("gateway call with %d client certificates", len(certs))
	}
	return c, nil
}

func requestID(ctx context.Context) string {
	if v := metadata.ValueFromIncomingContext(ctx, MDRequestID); len(v) > 0 && v[0] != "" {
		return v[0]
	}
	return newRequestID()
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// decide authorizes a call whose resource is known (or "" when it names none).
func (g *Guard) decide(ctx context.Context, fullMethod, resource string) error {
	p, ok := FromContext(ctx)
	c, _ := callOf(ctx)
	if !ok {
		// Only if an interceptor before ours let a call through without authenticating it.
		return status.Errorf(codes.Unauthenticated, "%s: no authenticated caller", fullMethod)
	}
	if c.public {
		return nil
	}
	d := Decision{Principal: p, RPC: fullMethod, Resource: resource, RequestID: c.requestID}
	if !g.cfg.Enabled() {
		d.Allowed, d.Reason = true, "auth off"
	} else {
		d.Allowed, d.Reason = g.policy.get().Authorize(p, fullMethod, resource)
	}
	g.decided(ctx, d)
	if !d.Allowed {
		return status.Errorf(codes.PermissionDenied, "%s: %s", fullMethod, d.Reason)
	}
	return nil
}

func (g *Guard) authorizeUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := g.decide(ctx, info.FullMethod, g.resource(info.FullMethod, req)); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// authorizeStream decides a streaming RPC at once when the policy allows or denies it whatever
// the resource; when only resource-limited grants match, it decides on the first request
// message, and nothing is sent before.
func (g *Guard) authorizeStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx := ss.Context()
	p, ok := FromContext(ctx)
	c, _ := callOf(ctx)
	if ok && g.cfg.Enabled() && !c.public {
		v, reason := g.policy.get().check(p, info.FullMethod)
		switch v {
		case denied:
			g.decided(ctx, Decision{Principal: p, RPC: info.FullMethod, Reason: reason, RequestID: c.requestID})
			return status.Errorf(codes.PermissionDenied, "%s: %s", info.FullMethod, reason)
		case needsResource:
			return handler(srv, &decidingStream{ServerStream: ss, g: g, method: info.FullMethod})
		}
	}
	if err := g.decide(ctx, info.FullMethod, ""); err != nil {
		return err
	}
	return handler(srv, ss)
}

// decidingStream authorizes on the first received message.
type decidingStream struct {
	grpc.ServerStream
	g      *Guard
	method string
	err    error
	done   bool
}

func (s *decidingStream) RecvMsg(m any) error {
	if s.done {
		if s.err != nil {
			return s.err
		}
		return s.ServerStream.RecvMsg(m)
	}
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	s.done = true
	s.err = s.g.decide(s.Context(), s.method, s.g.resource(s.method, m))
	return s.err
}

func (s *decidingStream) SendMsg(m any) error {
	if !s.done || s.err != nil {
		return status.Errorf(codes.PermissionDenied, "%s: not authorized before the request was read", s.method)
	}
	return s.ServerStream.SendMsg(m)
}

func (s *decidingStream) SendHeader(md metadata.MD) error {
	if !s.done || s.err != nil {
		return status.Errorf(codes.PermissionDenied, "%s: not authorized before the request was read", s.method)
	}
	return s.ServerStream.SendHeader(md)
}

// principalKey names a principal for the limits: its subject, or its address's host when
// anonymous.
func principalKey(p Principal) string {
	if p.Via != ViaAnonymous && p.Subject != "" {
		return p.Via + ":" + p.Subject
	}
	host, _, err := net.SplitHostPort(p.Peer)
	if err != nil {
		host = p.Peer
	}
	return "peer:" + host
}

// Limit implements ratelimit.Limiter: each principal has its own token bucket.
func (g *Guard) Limit(ctx context.Context) error {
	if g.rates == nil {
		return nil
	}
	if c, _ := callOf(ctx); c.public {
		return nil
	}
	p, _ := FromContext(ctx)
	return g.rates.allow(principalKey(p))
}

type rateEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

type rateLimiter struct {
	limit rate.Limit
	burst int

	mu    sync.Mutex
	m     map[string]*rateEntry
	swept time.Time
}

// rateIdle is how long an unused bucket is kept; a full bucket is the same as a new one.
const rateIdle = 10 * time.Minute

func (r *rateLimiter) allow(key string) error {
	now := time.Now()
	r.mu.Lock()
	if now.Sub(r.swept) > rateIdle {
		for k, e := range r.m {
			if now.Sub(e.seen) > rateIdle {
				delete(r.m, k)
			}
		}
		r.swept = now
	}
	e, ok := r.m[key]
	if !ok {
		e = &rateEntry{lim: rate.NewLimiter(r.limit, r.burst)}
		r.m[key] = e
	}
	e.seen = now
	r.mu.Unlock()
	if !e.lim.AllowN(now, 1) {
		return fmt.Errorf("rate limit of %g calls/s (burst %d) exceeded for %s (-limits.rate)", float64(r.limit), r.burst, key)
	}
	return nil
}

type streamLimiter struct {
	max  int
	mu   sync.Mutex
	open map[string]int
}

func (g *Guard) limitStreams(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	l := g.streams
	if c, _ := callOf(ss.Context()); l.max <= 0 || c.public {
		return handler(srv, ss)
	}
	p, _ := FromContext(ss.Context())
	key := principalKey(p)
	l.mu.Lock()
	if l.open[key] >= l.max {
		l.mu.Unlock()
		return status.Errorf(codes.ResourceExhausted, "%s: %s already has %d streams open, the most allowed (-limits.streams)", info.FullMethod, key, l.max)
	}
	l.open[key]++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		if l.open[key]--; l.open[key] <= 0 {
			delete(l.open, key)
		}
		l.mu.Unlock()
	}()
	return handler(srv, ss)
}

// TokenHash returns the tokens file's form of a token's hash, "sha256:<hex>".
func TokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(h[:])
}
