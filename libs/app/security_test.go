package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/bcosdata/bcosdata/libs/app/auth"
	"github.com/bcosdata/bcosdata/libs/app/auth/authtest"
	"github.com/bcosdata/bcosdata/libs/app/tlsfiles"
	"github.com/bcosdata/bcosdata/libs/await"
)

// whoService answers /test.v1.Who/Who with the caller as the guard authenticated it, and
// streams it from /test.v1.Who/Stream until the client goes away.
type whoService struct{}

func principalStruct(ctx context.Context) (*structpb.Struct, error) {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no principal in the handler's context")
	}
	roles := make([]any, len(p.Roles))
	for i, r := range p.Roles {
		roles[i] = r
	}
	return structpb.NewStruct(map[string]any{"subject": p.Subject, "via": p.Via, "peer": p.Peer, "roles": roles})
}

func (whoService) Register(g *grpc.Server) {
	g.RegisterService(&grpc.ServiceDesc{
		ServiceName: "test.v1.Who",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Who", Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(structpb.Struct)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, _ any) (any, error) { return principalStruct(ctx) }
			if ic == nil {
				return h(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/test.v1.Who/Who"}, h)
		}}},
		Streams: []grpc.StreamDesc{{StreamName: "Stream", ServerStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
			in := new(structpb.Struct)
			if err := ss.RecvMsg(in); err != nil {
				return err
			}
			out, err := principalStruct(ss.Context())
			if err != nil {
				return err
			}
			if err := ss.SendMsg(out); err != nil {
				return err
			}
			<-ss.Context().Done()
			return nil
		}}},
	}, whoService{})
}

func (whoService) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Resource names the "resource" field of the request, for per-resource grants.
func (whoService) Resource(_ string, req any) string {
	if s, ok := req.(*structpb.Struct); ok {
		return s.GetFields()["resource"].GetStringValue()
	}
	return ""
}

func whoAPI() API {
	return API{Name: "who", OpenAPI: []byte(`{}`), Register: func(_ context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
		return route(mux, conn, "/v1/who", "/test.v1.Who/Who",
			func(map[string]string) proto.Message { return &structpb.Struct{} },
			func() proto.Message { return new(structpb.Struct) })
	}}
}

const testPolicy = `
roles:
  reader:
    - rpc: "test.v1.Who/*"
  scoped:
    - rpc: "test.v1.Who/*"
      resources: ["thing:{subject}"]
  nothing: []
  metrics:
    - rpc: "admin/metrics"
subjects:
  - subject: client-1
    via: mtls
    roles: [reader]
`

// secured is a running server with TLS, mTLS, JWT, token auth and a policy.
type secured struct {
	srv    *Server
	ca     *CA
	issuer *authtest.Issuer
	client *authtest.Issued // a client certificate the policy knows (client-1)
	other  *authtest.Issued // one it does not (client-2)
	cfg    ServerConfig
}

// CA is the test CA type (aliased for brevity).
type CA = authtest.CA

func startSecured(t *testing.T, mod func(*ServerConfig)) *secured {
	t.Helper()
	ca := authtest.NewCA(t, "test")
	server := ca.Server("server")
	issuer := authtest.NewIssuer(t, "https://issuer.test", "bcosdata")
	cfg := ServerConfig{
		GRPCAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second,
		TLS: tlsfiles.Files{Cert: server.CertFile, Key: server.KeyFile, ClientCA: ca.File},
		Auth: auth.Config{
			Policy: authtest.WriteFile(t, "policy.yaml", testPolicy),
			JWKS:   issuer.File, JWTIssuer: issuer.Name, JWTAudience: issuer.Audience,
			Tokens:     authtest.Tokens(t, map[string]string{"reader-token": "robot reader", "bare-token": "bare", "metrics-token": "prom metrics"}),
			MaxStreams: 2,
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv := NewServer(cfg, zap.NewNop())
	srv.AddHTTP("127.0.0.1:0", whoAPI())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- Serve(ctx, srv, whoService{}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &secured{srv: srv, ca: ca, issuer: issuer, client: ca.Client("client-1"), other: ca.Client("client-2"), cfg: cfg}
}

// dial connects over TLS, presenting cert when given.
func (s *secured) dial(t *testing.T, cert *authtest.Issued) *grpc.ClientConn {
	t.Helper()
	tc := &tls.Config{RootCAs: s.ca.Pool(), ServerName: "localhost"}
	if cert != nil {
		tc.Certificates = []tls.Certificate{cert.TLS}
	}
	conn, err := grpc.NewClient(s.srv.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func withBearer(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

func who(ctx context.Context, conn *grpc.ClientConn, resource string) (map[string]any, error) {
	in, _ := structpb.NewStruct(map[string]any{"resource": resource})
	out := new(structpb.Struct)
	if err := conn.Invoke(ctx, "/test.v1.Who/Who", in, out); err != nil {
		return nil, err
	}
	return out.AsMap(), nil
}

func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s: %v (%v), want %v", what, got, err, want)
	}
}

func TestAuthGRPC(t *testing.T) {
	s := startSecured(t, nil)
	ctx := t.Context()
	conn := s.dial(t, nil)

	_, err := who(ctx, conn, "")
	wantCode(t, "no credentials", err, codes.Unauthenticated)
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health check without credentials: %v", err)
	}

	got, err := who(withBearer(ctx, "reader-token"), conn, "")
	if err != nil || got["subject"] != "robot" || got["via"] != auth.ViaToken {
		t.Errorf("static token: %v, %v", got, err)
	}
	_, err = who(withBearer(ctx, "bare-token"), conn, "")
	wantCode(t, "token without a role", err, codes.PermissionDenied)
	_, err = who(withBearer(ctx, "unknown-token"), conn, "")
	wantCode(t, "unknown token", err, codes.Unauthenticated)
	if err != nil && strings.Contains(err.Error(), "unknown-token") {
		t.Errorf("the error quotes the token: %v", err)
	}
	_, err = who(metadata.AppendToOutgoingContext(ctx, "authorization", "Basic cm9ib3Q6eA=="), conn, "")
	wantCode(t, "basic auth", err, codes.Unauthenticated)

	got, err = who(withBearer(ctx, s.issuer.Token("alice", "reader")), conn, "")
	if err != nil || got["subject"] != "alice" || got["via"] != auth.ViaJWT {
		t.Errorf("JWT: %v, %v", got, err)
	}
	rs := s.issuer.Sign(jwt.SigningMethodRS256, jwt.MapClaims{"iss": s.issuer.Name, "aud": "bcosdata", "sub": "bob", "roles": "reader other", "exp": time.Now().Add(time.Minute).Unix()})
	if got, err := who(withBearer(ctx, rs), conn, ""); err != nil || got["subject"] != "bob" {
		t.Errorf("RS256 JWT with space-separated roles: %v, %v", got, err)
	}
	_, err = who(withBearer(ctx, s.issuer.Token("alice", "nothing")), conn, "")
	wantCode(t, "JWT with a role without grants", err, codes.PermissionDenied)
	for name, claims := range map[string]jwt.MapClaims{
		"expired":        {"iss": s.issuer.Name, "aud": "bcosdata", "sub": "a", "roles": []string{"reader"}, "exp": time.Now().Add(-time.Hour).Unix()},
		"no exp":         {"iss": s.issuer.Name, "aud": "bcosdata", "sub": "a", "roles": []string{"reader"}},
		"wrong audience": {"iss": s.issuer.Name, "aud": "other", "sub": "a", "roles": []string{"reader"}, "exp": time.Now().Add(time.Hour).Unix()},
		"wrong issuer":   {"iss": "https://evil.test", "aud": "bcosdata", "sub": "a", "roles": []string{"reader"}, "exp": time.Now().Add(time.Hour).Unix()},
	} {
		_, err = who(withBearer(ctx, s.issuer.Sign(jwt.SigningMethodES256, claims)), conn, "")
		wantCode(t, "JWT "+name, err, codes.Unauthenticated)
	}
	hs := s.issuer.Sign(jwt.SigningMethodHS256, jwt.MapClaims{"iss": s.issuer.Name, "aud": "bcosdata", "sub": "a", "roles": []string{"reader"}, "exp": time.Now().Add(time.Hour).Unix()})
	_, err = who(withBearer(ctx, hs), conn, "")
	wantCode(t, "HS256 JWT", err, codes.Unauthenticated)

	// Per-resource grants: "scoped" may act on thing:<its own subject> only.
	scoped := withBearer(ctx, s.issuer.Token("carol", "scoped"))
	if _, err := who(scoped, conn, "thing:carol"); err != nil {
		t.Errorf("scoped on its own resource: %v", err)
	}
	_, err = who(scoped, conn, "thing:dave")
	wantCode(t, "scoped on another's resource", err, codes.PermissionDenied)

	// A remote gRPC caller cannot claim to be the gateway.
	spoof := metadata.AppendToOutgoingContext(ctx, auth.MDGatewayPeer, "10.0.0.1:1",
		auth.MDGatewayClientCert, certB64(s.client.Leaf))
	_, err = who(spoof, conn, "")
	wantCode(t, "gateway metadata from a remote caller", err, codes.Unauthenticated)
}

func certB64(c *x509.Certificate) string {
	md := auth.GatewayMetadata(context.Background(), &http.Request{RemoteAddr: "x", TLS: &tls.ConnectionState{
		PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c}}}, Header: http.Header{}})
	return md.Get(auth.MDGatewayClientCert)[0]
}

func TestAuthMTLS(t *testing.T) {
	s := startSecured(t, nil)
	ctx := t.Context()
	got, err := who(ctx, s.dial(t, s.client), "")
	if err != nil || got["subject"] != "client-1" || got["via"] != auth.ViaMTLS {
		t.Errorf("client certificate the policy knows: %v, %v", got, err)
	}
	_, err = who(ctx, s.dial(t, s.other), "")
	wantCode(t, "client certificate without roles", err, codes.PermissionDenied)

	// A certificate from another CA, named like a known one, is not believed: the client does
	// not even offer it (the server asks for its CA's), or the handshake fails.
	stranger := authtest.NewCA(t, "stranger").Client("client-1")
	_, err = who(ctx, s.dial(t, stranger), "")
	if c := status.Code(err); c != codes.Unauthenticated && c != codes.Unavailable {
		t.Errorf("certificate of an unknown CA: %v", err)
	}

	// A plaintext client does not get through a TLS server.
	plain, err := grpc.NewClient(s.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	_, err = who(withBearer(ctx, "reader-token"), plain, "")
	wantCode(t, "plaintext client", err, codes.Unavailable)
}

func TestMTLSRequired(t *testing.T) {
	s := startSecured(t, func(c *ServerConfig) { c.TLS.ClientAuth = "require-and-verify" })
	_, err := who(withBearer(t.Context(), "reader-token"), s.dial(t, nil), "")
	if err == nil {
		t.Fatal("a client without a certificate got through require-and-verify")
	}
	if _, err := who(t.Context(), s.dial(t, s.client), ""); err != nil {
		t.Errorf("with a certificate: %v", err)
	}
}

// httpsClient trusts the test CA and presents cert when given.
func (s *secured) httpsClient(cert *authtest.Issued) *http.Client {
	tc := &tls.Config{RootCAs: s.ca.Pool()}
	if cert != nil {
		tc.Certificates = []tls.Certificate{cert.TLS}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}
}

func httpDo(t *testing.T, c *http.Client, url string, header http.Header) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m
}

func TestAuthHTTPGateway(t *testing.T) {
	s := startSecured(t, nil)
	url := "https://" + s.srv.HTTPAddr("who") + "/v1/who"
	plain := s.httpsClient(nil)

	if code, _ := httpDo(t, plain, url, nil); code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d, want 401", code)
	}
	code, m := httpDo(t, plain, url, http.Header{"Authorization": {"Bearer reader-token"}})
	if code != http.StatusOK || m["subject"] != "robot" {
		t.Errorf("bearer token over HTTP: %d %v", code, m)
	}
	// The principal's peer is the HTTP caller, not the gateway.
	if p, _ := m["peer"].(string); !strings.HasPrefix(p, "127.0.0.1:") {
		t.Errorf("peer %q, want the HTTP client's address", p)
	}
	if code, _ := httpDo(t, plain, url, http.Header{"Authorization": {"Bearer bare-token"}}); code != http.StatusForbidden {
		t.Errorf("token without a role: %d, want 403", code)
	}
	code, m = httpDo(t, s.httpsClient(s.client), url, nil)
	if code != http.StatusOK || m["subject"] != "client-1" || m["via"] != auth.ViaMTLS {
		t.Errorf("client certificate over HTTP: %d %v", code, m)
	}
	// Headers that would become the gateway's own metadata are not forwarded.
	forged := http.Header{
		"Grpc-Metadata-X-Bcosdata-Gateway-Client-Cert": {certB64(s.client.Leaf)},
		"Grpc-Metadata-X-Bcosdata-Gateway-Peer":        {"10.9.9.9:1"},
	}
	if code, m := httpDo(t, plain, url, forged); code != http.StatusUnauthorized {
		t.Errorf("forged gateway headers: %d %v, want 401", code, m)
	}
	forged.Set("Authorization", "Bearer reader-token")
	if _, m := httpDo(t, plain, url, forged); m["peer"] == "10.9.9.9:1" {
		t.Errorf("a forged peer header reached the principal: %v", m)
	}
}

func TestAdminAuth(t *testing.T) {
	s := startSecured(t, func(c *ServerConfig) { c.Auth.AdminAuth = true })
	base := "http://" + s.srv.AdminAddr()
	for _, c := range []struct {
		path, token string
		want        int
	}{
		{"/livez", "", 200},
		{"/metrics", "", 401},
		{"/metrics", "bare-token", 403},
		{"/metrics", "metrics-token", 200},
		{"/debug/pprof/", "metrics-token", 403},
	} {
		auth := ""
		if c.token != "" {
			auth = "Bearer " + c.token
		}
		if code, _, _ := httpGet(t, base+c.path, auth); code != c.want {
			t.Errorf("%s with %q: %d, want %d", c.path, c.token, code, c.want)
		}
	}
}

func TestDecisionHook(t *testing.T) {
	s := startSecured(t, nil)
	var (
		mu  sync.Mutex
		got []auth.Decision
	)
	s.srv.Guard().AddHook(func(_ context.Context, d auth.Decision) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, d)
	})
	conn := s.dial(t, nil)
	ctx := metadata.AppendToOutgoingContext(t.Context(), auth.MDRequestID, "req-1")
	_, _ = who(withBearer(ctx, "reader-token"), conn, "thing:x")
	_, _ = who(withBearer(ctx, "bare-token"), conn, "")
	_, _ = who(ctx, conn, "")
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("%d decisions, want 3: %+v", len(got), got)
	}
	if d := got[0]; !d.Allowed || d.Principal.Subject != "robot" || d.RPC != "/test.v1.Who/Who" || d.Resource != "thing:x" || d.RequestID != "req-1" {
		t.Errorf("allowed decision: %+v", d)
	}
	if d := got[1]; d.Allowed || d.Principal.Subject != "bare" {
		t.Errorf("denied decision: %+v", d)
	}
	if d := got[2]; d.Allowed || d.Principal.Via != auth.ViaAnonymous || !strings.Contains(d.Reason, "unauthenticated") {
		t.Errorf("unauthenticated decision: %+v", d)
	}
}

func TestStreamAuthAndLimits(t *testing.T) {
	s := startSecured(t, nil)
	conn := s.dial(t, nil)
	open := func(ctx context.Context, resource string) (grpc.ClientStream, *structpb.Struct, error) {
		st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/test.v1.Who/Stream")
		if err != nil {
			return nil, nil, err
		}
		in, _ := structpb.NewStruct(map[string]any{"resource": resource})
		if err := st.SendMsg(in); err != nil {
			return nil, nil, err
		}
		if err := st.CloseSend(); err != nil {
			return nil, nil, err
		}
		out := new(structpb.Struct)
		return st, out, st.RecvMsg(out)
	}
	_, _, err := open(t.Context(), "")
	wantCode(t, "stream without credentials", err, codes.Unauthenticated)
	_, _, err = open(withBearer(t.Context(), "bare-token"), "")
	wantCode(t, "stream with a role without grants", err, codes.PermissionDenied)

	// Resource-limited grants are decided on the request.
	scoped := withBearer(t.Context(), s.issuer.Token("carol", "scoped"))
	_, _, err = open(scoped, "thing:dave")
	wantCode(t, "scoped stream on another's resource", err, codes.PermissionDenied)

	// -limits.streams 2: a third concurrent stream of one principal is refused.
	reader, cancel := context.WithCancel(withBearer(t.Context(), "reader-token"))
	defer cancel()
	for i := range 2 {
		if _, out, err := open(reader, ""); err != nil || out.GetFields()["subject"].GetStringValue() != "robot" {
			t.Fatalf("stream %d: %v %v", i, out, err)
		}
	}
	_, _, err = open(reader, "")
	wantCode(t, "third stream", err, codes.ResourceExhausted)
	if err != nil && !strings.Contains(err.Error(), "-limits.streams") {
		t.Errorf("the error does not name the limit: %v", err)
	}
	// Another principal is not affected.
	if _, _, err := open(scoped, "thing:carol"); err != nil {
		t.Errorf("another principal's stream: %v", err)
	}
	cancel()
	// Once the streams ended, the principal may open new ones.
	await.True(t, 5*time.Second, "streams freed after cancel", func() bool {
		ctx, c := context.WithCancel(withBearer(t.Context(), "reader-token"))
		defer c()
		_, _, err := open(ctx, "")
		return err == nil
	})
}

func TestRateLimitAndRequestSize(t *testing.T) {
	s := startSecured(t, func(c *ServerConfig) {
		c.Auth.RateLimit, c.Auth.RateBurst = 0.001, 3
		c.MaxRequestBytes = 4 << 10
	})
	conn := s.dial(t, nil)
	reader := withBearer(t.Context(), "reader-token")
	for i := range 3 {
		if _, err := who(reader, conn, ""); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	_, err := who(reader, conn, "")
	wantCode(t, "call over the rate", err, codes.ResourceExhausted)
	// Another principal has its own bucket.
	if _, err := who(withBearer(t.Context(), s.issuer.Token("alice", "reader")), conn, ""); err != nil {
		t.Errorf("another principal: %v", err)
	}
	_, err = who(withBearer(t.Context(), s.issuer.Token("bob", "reader")), conn, strings.Repeat("x", 8<<10))
	wantCode(t, "request over -limits.request-bytes", err, codes.ResourceExhausted)

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+s.srv.HTTPAddr("who")+"/v1/who", strings.NewReader(strings.Repeat("x", 8<<10)))
	resp, err := s.httpsClient(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("HTTP body over the limit: %d, want 413", resp.StatusCode)
	}
}

func TestPolicyReloads(t *testing.T) {
	s := startSecured(t, nil)
	conn := s.dial(t, nil)
	bare := withBearer(t.Context(), "bare-token")
	_, err := who(bare, conn, "")
	wantCode(t, "before the change", err, codes.PermissionDenied)
	pol := testPolicy + "  - subject: bare\n    roles: [reader]\n"
	old, _ := os.Stat(s.cfg.Auth.Policy)
	if err := os.WriteFile(s.cfg.Auth.Policy, []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	later := old.ModTime().Add(time.Second)
	_ = os.Chtimes(s.cfg.Auth.Policy, later, later)
	await.True(t, 10*time.Second, "the new policy's grant", func() bool { _, err := who(bare, conn, ""); return err == nil })

	// A broken policy keeps the previous one.
	if err := os.WriteFile(s.cfg.Auth.Policy, []byte("roles: ["), 0o600); err != nil {
		t.Fatal(err)
	}
	later = later.Add(time.Second)
	_ = os.Chtimes(s.cfg.Auth.Policy, later, later)
	time.Sleep(1100 * time.Millisecond)
	if _, err := who(bare, conn, ""); err != nil {
		t.Errorf("after a broken policy: %v", err)
	}
}

func TestTLSCertificateReloads(t *testing.T) {
	s := startSecured(t, nil)
	served := func() *x509.Certificate {
		c, err := tls.Dial("tcp", s.srv.GRPCAddr(), &tls.Config{RootCAs: s.ca.Pool(), ServerName: "localhost", NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatalf("tls dial: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	first := served()
	rotated := s.ca.Server("server-rotated")
	rotated.CopyTo(t, s.cfg.TLS.Cert, s.cfg.TLS.Key)
	await.True(t, 10*time.Second, "the rotated certificate", func() bool { return served().Subject.CommonName == "server-rotated" })
	if first.Subject.CommonName != "server" {
		t.Errorf("first certificate %s", first.Subject.CommonName)
	}
	// The HTTP API serves the new one too, and RPCs still work over new connections.
	resp, err := s.httpsClient(nil).Get("https://" + s.srv.HTTPAddr("who") + "/v1/who")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != "server-rotated" {
		t.Errorf("HTTP API serves %s", cn)
	}
	if _, err := who(withBearer(t.Context(), "reader-token"), s.dial(t, nil), ""); err != nil {
		t.Errorf("after rotation: %v", err)
	}
}

func TestExposedServerRefusesWithoutSecurity(t *testing.T) {
	ca := authtest.NewCA(t, "test")
	server := ca.Server("server")
	policy := authtest.WriteFile(t, "policy.yaml", testPolicy)
	tlsOn := tlsfiles.Files{Cert: server.CertFile, Key: server.KeyFile}
	for _, c := range []struct {
		name    string
		cfg     ServerConfig
		http    string
		refused string
	}{
		{"grpc on all interfaces", ServerConfig{GRPCAddr: "0.0.0.0:0"}, "", "no TLS (-tls.cert, -tls.key) and no auth (-auth.policy)"},
		{"grpc on all interfaces, empty host", ServerConfig{GRPCAddr: ":0"}, "", "-insecure"},
		{"http on all interfaces", ServerConfig{GRPCAddr: "127.0.0.1:0"}, "0.0.0.0:0", "-http.addr 0.0.0.0:0"},
		{"TLS without auth", ServerConfig{GRPCAddr: "0.0.0.0:0", TLS: tlsOn}, "", "no auth (-auth.policy)"},
		{"auth without TLS", ServerConfig{GRPCAddr: "0.0.0.0:0", Auth: auth.Config{Policy: policy}}, "", "no TLS"},
		{"insecure", ServerConfig{GRPCAddr: "0.0.0.0:0", Insecure: true}, "0.0.0.0:0", ""},
		{"TLS and auth", ServerConfig{GRPCAddr: "0.0.0.0:0", TLS: tlsOn, Auth: auth.Config{Policy: policy}}, "0.0.0.0:0", ""},
		{"loopback", ServerConfig{GRPCAddr: "127.0.0.1:0"}, "localhost:0", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.ShutdownTimeout = time.Second
			core, logs := observer.New(zap.WarnLevel)
			srv := NewServer(c.cfg, zap.New(core))
			if c.http != "" {
				srv.AddHTTP(c.http, whoAPI())
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			err := srv.Run(ctx)
			if c.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				insecure := logs.FilterMessageSnippet("RUNNING INSECURE").Len() > 0
				if insecure != c.cfg.Insecure {
					t.Errorf("insecure warning logged: %v, want %v", insecure, c.cfg.Insecure)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.refused) {
				t.Fatalf("error %v, want one containing %q", err, c.refused)
			}
			if srv.GRPCAddr() != "" {
				t.Errorf("listening on %s although refused", srv.GRPCAddr())
			}
			cfg := c.cfg
			cfg.HTTPAddr = c.http
			if err := cfg.Validate(); err == nil {
				t.Errorf("Validate accepts it")
			}
		})
	}
}

func TestAuthOffKeepsCallsOpen(t *testing.T) {
	srv := NewServer(ServerConfig{GRPCAddr: "127.0.0.1:0", ShutdownTimeout: time.Second}, zap.NewNop())
	srv.AddHTTP("127.0.0.1:0", whoAPI())
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, whoService{}) }()
	defer func() { cancel(); <-done }()
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Even a malformed authorization is not looked at.
	got, err := who(metadata.AppendToOutgoingContext(ctx, "authorization", "Basic eA=="), conn, "")
	if err != nil || got["via"] != auth.ViaAnonymous {
		t.Fatalf("auth off: %v %v", got, err)
	}
	code, _, body := httpGet(t, "http://"+srv.HTTPAddr("who")+"/v1/who", "")
	if code != http.StatusOK || !strings.Contains(body, `"via":"anonymous"`) {
		t.Errorf("HTTP with auth off: %d %s", code, body)
	}
}

// TestLogsCarryNoSecrets: a denied call's log line names the caller, not its token.
func TestLogsCarryNoSecrets(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	ca := authtest.NewCA(t, "test")
	server := ca.Server("server")
	cfg := ServerConfig{GRPCAddr: "127.0.0.1:0", ShutdownTimeout: time.Second,
		TLS:  tlsfiles.Files{Cert: server.CertFile, Key: server.KeyFile},
		Auth: auth.Config{Policy: authtest.WriteFile(t, "p.yaml", testPolicy), Tokens: authtest.Tokens(t, map[string]string{"s3cret-bare": "bare"})}}
	srv := NewServer(cfg, zap.New(core))
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, whoService{}) }()
	defer func() { cancel(); <-done }()
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tok := range []string{"s3cret-bare", "s3cret-unknown"} {
		_, err := who(withBearer(ctx, tok), conn, "")
		if err == nil {
			t.Fatalf("%s allowed", tok)
		}
	}
	if logs.FilterMessage("call denied").Len() == 0 {
		t.Fatal("no denial logged")
	}
	for _, e := range logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		if strings.Contains(line, "s3cret") {
			t.Errorf("a log line carries a token: %s", line)
		}
	}
}
