package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/bcosdata/bcosdata/libs/await"
)

// echoService has one RPC, /test.v1.Echo/Echo, answering {"value": <the request's value>,
// "authorization": <the call's authorization metadata>}; the values "bad" and "missing" fail
// with InvalidArgument and NotFound.
type echoService struct{}

func (echoService) Register(g *grpc.Server) {
	g.RegisterService(&grpc.ServiceDesc{
		ServiceName: "test.v1.Echo",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Echo", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(structpb.Struct)
			if err := dec(in); err != nil {
				return nil, err
			}
			v := in.GetFields()["value"].GetStringValue()
			switch v {
			case "bad":
				return nil, status.Error(codes.InvalidArgument, "value: bad")
			case "missing":
				return nil, status.Error(codes.NotFound, "no such value")
			}
			md, _ := metadata.FromIncomingContext(ctx)
			return structpb.NewStruct(map[string]any{"value": v, "authorization": strings.Join(md.Get("authorization"), ",")})
		}}},
	}, echoService{})
}

func (echoService) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// route mounts GET path on mux the way generated grpc-gateway code does: the path parameters
// become the request, the call goes through conn.
func route(mux *runtime.ServeMux, conn *grpc.ClientConn, path, method string, req func(map[string]string) proto.Message, resp func() proto.Message) error {
	return mux.HandlePath(http.MethodGet, path, func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		_, outbound := runtime.MarshalerForRequest(mux, r)
		ctx, err := runtime.AnnotateContext(r.Context(), mux, r, method, runtime.WithHTTPPathPattern(path))
		if err != nil {
			runtime.HTTPError(r.Context(), mux, outbound, w, r, err)
			return
		}
		out := resp()
		if err := conn.Invoke(ctx, method, req(params), out); err != nil {
			runtime.HTTPError(ctx, mux, outbound, w, r, err)
			return
		}
		runtime.ForwardResponseMessage(ctx, mux, outbound, w, r, out)
	})
}

const testOpenAPI = `{"swagger": "2.0", "paths": {"/v1/test/echo/{value}": {}}}`

func testAPI(blockingName string) API {
	return API{
		Name:    "test",
		OpenAPI: []byte(testOpenAPI),
		Register: func(_ context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
			if err := route(mux, conn, "/v1/test/echo/{value}", "/test.v1.Echo/Echo",
				func(p map[string]string) proto.Message {
					s, _ := structpb.NewStruct(map[string]any{"value": p["value"]})
					return s
				}, func() proto.Message { return new(structpb.Struct) }); err != nil {
				return err
			}
			return route(mux, conn, "/v1/test/wait", "/"+blockingName+"/Wait",
				func(map[string]string) proto.Message { return &emptypb.Empty{} },
				func() proto.Message { return &emptypb.Empty{} })
		},
	}
}

// httpGet sends GET url with the given Authorization (none when empty).
func httpGet(t *testing.T, url, auth string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// TestHTTPAPIServesJSONAndErrors runs an HTTP API through a real gRPC server: JSON answers,
// gRPC errors as JSON with their HTTP status, the Authorization header passed on as gRPC
// metadata, and the OpenAPI document.
func TestHTTPAPIServesJSONAndErrors(t *testing.T) {
	srv := NewServer(ServerConfig{GRPCAddr: "127.0.0.1:0", ShutdownTimeout: 10 * time.Second}, zap.NewNop())
	srv.AddHTTP("127.0.0.1:0", testAPI("test.v1.Blocking"))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, done := serveForTest(t, ctx, srv, echoService{})
	base := "http://" + srv.HTTPAddr("test")
	if srv.HTTPAddr("test") == "" || srv.HTTPAddr("other") != "" {
		t.Fatalf("HTTPAddr(test) = %q, HTTPAddr(other) = %q", srv.HTTPAddr("test"), srv.HTTPAddr("other"))
	}

	code, hdr, body := httpGet(t, base+"/v1/test/echo/hello", "Bearer secret")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("echo: %d %s %s", code, hdr.Get("Content-Type"), body)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("echo body %s: %v", body, err)
	}
	if got["value"] != "hello" || got["authorization"] != "Bearer secret" {
		t.Errorf("echo = %v, want value hello and the Authorization header as metadata", got)
	}

	for _, tc := range []struct {
		path     string
		httpCode int
		grpcCode codes.Code
	}{
		{"/v1/test/echo/bad", http.StatusBadRequest, codes.InvalidArgument},
		{"/v1/test/echo/missing", http.StatusNotFound, codes.NotFound},
		{"/v1/test/nothing-here", http.StatusNotFound, codes.NotFound},
	} {
		code, hdr, body := httpGet(t, base+tc.path, "")
		var e struct {
			Code    codes.Code `json:"code"`
			Message string     `json:"message"`
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Errorf("GET %s: error body %q (%s) is not JSON: %v", tc.path, body, hdr.Get("Content-Type"), err)
		}
		if code != tc.httpCode || e.Code != tc.grpcCode || e.Message == "" {
			t.Errorf("GET %s = %d %s, want %d with code %d and a message", tc.path, code, body, tc.httpCode, tc.grpcCode)
		}
	}

	code, _, body = httpGet(t, base+OpenAPIPath, "")
	if code != http.StatusOK || body != testOpenAPI {
		t.Errorf("GET %s = %d %q, want the API's document", OpenAPIPath, code, body)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if resp, err := http.Get(base + OpenAPIPath); err == nil {
		resp.Body.Close()
		t.Error("HTTP API still answers after Serve returned")
	}
}

// TestServeDrainsHTTPRequestsBeforeStoppingServices proves the shutdown order for HTTP: a
// request in flight when shutdown begins completes, its RPC sees the service still running,
// and the service's Run stops only after it.
func TestServeDrainsHTTPRequestsBeforeStoppingServices(t *testing.T) {
	events := &eventLog{}
	svc := &blockingService{name: "test.v1.Blocking", log: events, release: make(chan struct{})}
	srv := NewServer(ServerConfig{GRPCAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", ShutdownTimeout: 30 * time.Second}, zap.NewNop())
	srv.AddHTTP("127.0.0.1:0", testAPI(svc.name))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, done := serveForTest(t, ctx, srv, svc)

	type result struct {
		code int
		body string
	}
	res := make(chan result, 1)
	go func() {
		code, _, body := httpGet(t, "http://"+srv.HTTPAddr("test")+"/v1/test/wait", "")
		res <- result{code, body}
	}()
	await.True(t, 10*time.Second, "the request to reach the rpc handler", svc.entered.Load)
	cancel()
	awaitDraining(t, srv)
	if !svc.running.Load() {
		t.Fatal("service Run stopped while an HTTP request was in flight")
	}
	close(svc.release)
	if r := <-res; r.code != http.StatusOK {
		t.Fatalf("in-flight HTTP request during shutdown: %d %s", r.code, r.body)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	events.before(t, "test.v1.Blocking rpc returned", "test.v1.Blocking run stopped")
}

func TestHTTPAPINeedsGRPC(t *testing.T) {
	err := ServerConfig{HTTPAddr: "127.0.0.1:0", ShutdownTimeout: time.Second}.Validate()
	if err == nil || !strings.Contains(err.Error(), "-http.addr") || !strings.Contains(err.Error(), "-grpc.addr") {
		t.Fatalf("Validate = %v, want it to name -http.addr and -grpc.addr", err)
	}
	srv := NewServer(ServerConfig{ShutdownTimeout: time.Second}, zap.NewNop())
	srv.AddHTTP("127.0.0.1:0", testAPI("x"))
	if err := srv.Listen(); err == nil || !strings.Contains(err.Error(), "-grpc.addr") {
		t.Fatalf("Listen = %v, want an error naming -grpc.addr", err)
	}
}
