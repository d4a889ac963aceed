package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/bcosdata/bcosdata/libs/app/auth"
	auditv1 "github.com/bcosdata/bcosdata/proto/bcosdata/audit/v1"
)

// API is a service's public HTTP/JSON API: the grpc-gateway handlers generated from its proto
// and the proto/gateway.yaml routes, and the OpenAPI document generated beside them.
type API struct {
	// Name names the API in logs and in HTTPAddr, e.g. "stash".
	Name string
	// Register mounts the generated handlers on mux; they call the gRPC API through conn. It is
	// the generated Register<Service>Handler (the client form: server streams work, and every
	// request goes through the gRPC server's interceptors like any other RPC).
	Register func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error
	// OpenAPI is the JSON document served at OpenAPIPath.
	OpenAPI []byte
}

// HTTPService is a Service that also offers an HTTP/JSON API.
type HTTPService interface {
	Service
	HTTPAPI() API
}

// OpenAPIPath is where every HTTP API serves its OpenAPI document.
const OpenAPIPath = "/v1/openapi.json"

// gatewayMaxRecvBytes bounds one gRPC response the gateway reads from its own server. gRPC's
// 4 MiB default is below a large block (the broker takes block messages up to 64 MiB, and the
// API's hex doubles them).
const gatewayMaxRecvBytes = 512 << 20

// gateway is one public HTTP listener serving one API.
type gateway struct {
	addr string
	api  API
	lis  net.Listener
	srv  *http.Server
}

// AddHTTP serves api's HTTP/JSON API on its own listener at addr, beside the gRPC server whose
// API it calls. Call it before Listen and Run; the server needs a gRPC address.
func (s *Server) AddHTTP(addr string, api API) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gateways = append(s.gateways, &gateway{addr: addr, api: api})
}

// HTTPAddr returns the bound address of the HTTP API added with that name, or "" before Listen
// or when there is none.
func (s *Server) HTTPAddr(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.gateways {
		if g.api.Name == name && g.lis != nil {
			return g.lis.Addr().String()
		}
	}
	return ""
}

// listenHTTPLocked binds every gateway's address.
func (s *Server) listenHTTPLocked() error {
	if len(s.gateways) > 0 && s.cfg.GRPCAddr == "" {
		return errors.New("an HTTP API needs the gRPC server it calls: -http.addr is set but -grpc.addr is empty")
	}
	for _, g := range s.gateways {
		if g.lis != nil {
			continue
		}
		l, err := net.Listen("tcp", g.addr)
		if err != nil {
			return fmt.Errorf("listen http %s (%s API): %w", g.addr, g.api.Name, err)
		}
		g.lis = l
	}
	return nil
}

// startHTTP dials the server's own gRPC listener and starts every gateway on it; the returned
// conn is closed by the caller once the gateways stopped.
func (s *Server) startHTTP(errc chan<- error) (*grpc.ClientConn, error) {
	if len(s.gateways) == 0 {
		return nil, nil
	}
	// The gateways reach the gRPC server in process, not over its TCP listener: the identity
	// they pass (the HTTP caller's address and client certificate) is believed only on this
	// connection, which no remote caller can make, and TLS is not needed on it.
	s.gwLis = auth.NewGatewayListener()
	go func() { errc <- s.grpc.Serve(s.gwLis) }()
	conn, err := grpc.NewClient("passthrough:///bcosdata-gateway", append(ClientWindowOptions(),
		grpc.WithContextDialer(s.gwLis.Dial),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(gatewayMaxRecvBytes), grpc.MaxCallSendMsgSize(s.cfg.MaxRequestBytes)))...)
	if err != nil {
		return nil, fmt.Errorf("dial own grpc in process: %w", err)
	}
	for _, g := range s.gateways {
		h, err := s.gatewayHandler(g.api, conn)
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
		g.srv = &http.Server{Handler: s.limitBody(h), ReadHeaderTimeout: 10 * time.Second}
		if s.tls != nil {
			g.srv.TLSConfig = s.tls.Config("h2", "http/1.1")
			go func() { errc <- serveHTTPS(g.srv, g.lis) }()
		} else {
			go func() { errc <- serveHTTP(g.srv, g.lis) }()
		}
		s.log.Info("http api listening", zap.String("api", g.api.Name), zap.String("addr", g.lis.Addr().String()), zap.Bool("tls", s.tls != nil))
	}
	return conn, nil
}

// gatewayHandler is the one place every HTTP API request goes through: the generated handlers
// and the OpenAPI document on a grpc-gateway mux. The gateway forwards the Authorization header
// to the gRPC call as "authorization" metadata and adds the caller's address and verified
// client certificate (auth.GatewayMetadata), so the gRPC server's interceptors authenticate
// and authorize HTTP and gRPC callers alike. Headers that would forge those keys are dropped.
func (s *Server) gatewayHandler(api API, conn *grpc.ClientConn) (http.Handler, error) {
	mux := runtime.NewServeMux(
		// JSON as the API's protos read: proto field names (block_number, not blockNumber),
		// zeros and empty lists written out, absent messages and optional fields left out.
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: &runtime.JSONPb{
				MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true},
				UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
			},
		}),
		runtime.WithMetadata(auth.GatewayMetadata),
		runtime.WithIncomingHeaderMatcher(func(key string) (string, bool) {
			if !auth.GatewayHeaderAllowed(key) {
				return "", false
			}
			return runtime.DefaultHeaderMatcher(key)
		}),
	)
	// The handlers' context only matters to the endpoint form, which closes its own conn on it.
	if err := api.Register(context.Background(), mux, conn); err != nil {
		return nil, fmt.Errorf("register %s http api: %w", api.Name, err)
	}
	// Every API also serves the audit trail of its service, at /v1/{service}/audit.
	if err := auditv1.RegisterAuditServiceHandler(context.Background(), mux, conn); err != nil {
		return nil, fmt.Errorf("register %s audit http api: %w", api.Name, err)
	}
	doc := api.OpenAPI
	if err := mux.HandlePath(http.MethodGet, OpenAPIPath, func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}); err != nil {
		return nil, fmt.Errorf("register %s openapi document: %w", api.Name, err)
	}
	return mux, nil
}

// stopHTTP stops the gateways until deadline: no new requests, in-flight ones (and the RPCs
// they make) finish; at the deadline the rest are cut, which cancels their RPCs. It runs before
// the gRPC server stops, so an accepted HTTP request never meets a closed gRPC server.
func (s *Server) stopHTTP(deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, g := range s.gateways {
		if g.srv == nil {
			continue
		}
		wg.Go(func() {
			err := g.srv.Shutdown(ctx)
			if errors.Is(err, context.DeadlineExceeded) {
				s.log.Warn("http drain timed out, cutting the remaining requests", zap.String("api", g.api.Name))
				err = g.srv.Close()
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("shut down %s http api: %w", g.api.Name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func serveHTTPS(srv *http.Server, l net.Listener) error {
	// The certificate comes from srv.TLSConfig, re-read on change.
	if err := srv.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
