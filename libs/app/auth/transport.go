package auth

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"
)

// The HTTP gateway calls the gRPC server over an in-process connection (GatewayListener) and
// passes the HTTP caller's identity in these metadata keys. The interceptors believe them only
// on that connection: a remote gRPC caller sending them is ignored, and the gateway never
// forwards HTTP headers that would produce them.
const (
	// MDGatewayClientCert is the HTTP caller's verified client certificate, DER in base64.
	MDGatewayClientCert = "x-bcosdata-gateway-client-cert"
	// MDGatewayPeer is the HTTP caller's address.
	MDGatewayPeer = "x-bcosdata-gateway-peer"
	// gatewayPrefix is the prefix of every key only the gateway may set.
	gatewayPrefix = "x-bcosdata-gateway-"
	// MDRequestID is the request id metadata (and, from HTTP, the X-Request-Id header).
	MDRequestID = "x-request-id"
)

// GatewayAuthInfo is the AuthInfo of connections accepted on a GatewayListener. Only such a
// listener produces it.
type GatewayAuthInfo struct{ credentials.CommonAuthInfo }

// AuthType implements credentials.AuthInfo.
func (GatewayAuthInfo) AuthType() string { return "bcosdata-gateway" }

// gatewayConn marks a connection accepted on a GatewayListener.
type gatewayConn struct{ net.Conn }

// GatewayListener is an in-process listener only this process can dial: the gRPC server
// serves it beside its TCP listener, and the HTTP gateway dials it.
type GatewayListener struct{ l *bufconn.Listener }

// gatewayBuffer is the in-process pipe's buffer size.
const gatewayBuffer = 1 << 20

// NewGatewayListener makes one.
func NewGatewayListener() *GatewayListener {
	return &GatewayListener{l: bufconn.Listen(gatewayBuffer)}
}

// Accept implements net.Listener.
func (g *GatewayListener) Accept() (net.Conn, error) {
	c, err := g.l.Accept()
	if err != nil {
		return nil, err
	}
	return gatewayConn{c}, nil
}

// Close implements net.Listener.
func (g *GatewayListener) Close() error { return g.l.Close() }

// Addr implements net.Listener.
func (g *GatewayListener) Addr() net.Addr { return g.l.Addr() }

// Dial connects to the listener (a grpc.WithContextDialer function).
func (g *GatewayListener) Dial(ctx context.Context, _ string) (net.Conn, error) {
	return g.l.DialContext(ctx)
}

// ServerCredentials are the gRPC server's transport credentials: TLS from the config
// SetTLS gives (plaintext until then, or without), except on GatewayListener connections,
// which are in-process and marked with GatewayAuthInfo.
type ServerCredentials struct {
	tls atomic.Pointer[credentials.TransportCredentials]
}

// SetTLS makes every later TCP connection use TLS with cfg.
func (c *ServerCredentials) SetTLS(cfg *tls.Config) {
	tc := credentials.NewTLS(cfg)
	c.tls.Store(&tc)
}

func (c *ServerCredentials) transport() credentials.TransportCredentials {
	if t := c.tls.Load(); t != nil {
		return *t
	}
	return insecure.NewCredentials()
}

// ClientHandshake implements credentials.TransportCredentials; the server never dials.
func (c *ServerCredentials) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.transport().ClientHandshake(ctx, authority, conn)
}

// ServerHandshake implements credentials.TransportCredentials.
func (c *ServerCredentials) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if _, ok := conn.(gatewayConn); ok {
		return conn, GatewayAuthInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
	}
	return c.transport().ServerHandshake(conn)
}

// Info implements credentials.TransportCredentials.
func (c *ServerCredentials) Info() credentials.ProtocolInfo { return c.transport().Info() }

// Clone implements credentials.TransportCredentials.
func (c *ServerCredentials) Clone() credentials.TransportCredentials {
	n := &ServerCredentials{}
	n.tls.Store(c.tls.Load())
	return n
}

// OverrideServerName implements credentials.TransportCredentials (deprecated, unused).
func (c *ServerCredentials) OverrideServerName(string) error { return nil }

// GatewayMetadata is the metadata the HTTP gateway adds to the RPC of request r: the HTTP
// caller's address, its client certificate when the HTTP server's TLS verified one, and the
// request id. Use it as runtime.WithMetadata.
func GatewayMetadata(_ context.Context, r *http.Request) metadata.MD {
	md := metadata.Pairs(MDGatewayPeer, r.RemoteAddr)
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.PeerCertificates) > 0 {
		md.Set(MDGatewayClientCert, base64.StdEncoding.EncodeToString(r.TLS.PeerCertificates[0].Raw))
	}
	if id := r.Header.Get("X-Request-Id"); id != "" {
		md.Set(MDRequestID, id)
	}
	return md
}

// GatewayHeaderAllowed reports whether the gateway may forward an HTTP header (canonical key)
// into metadata: never one that ends up as a key only the gateway sets. Wrap the header
// matcher with it.
func GatewayHeaderAllowed(key string) bool {
	k := strings.ToLower(key)
	k = strings.TrimPrefix(k, "grpc-metadata-")
	return !strings.HasPrefix(k, gatewayPrefix)
}
