package acceptance

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/app/auth/authtest"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	auditv1 "github.com/bcosdata/bcosdata/proto/bcosdata/audit/v1"
	"github.com/bcosdata/bcosdata/services/export"
	"github.com/bcosdata/bcosdata/services/reconcile"
	"github.com/bcosdata/bcosdata/services/stash"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// samplePolicy is the policy the deployments ship; the test holds it to the table below.
var samplePolicy = filepath.Join("..", "..", "..", "..", "deploy", "auth", "policy.yaml")

// access says, per RPC (full name without the leading slash; '*' matches any run of
// characters, first match wins), the role that may call it under the sample policy and one
// that may not. An RPC missing here fails the test: whoever adds an RPC decides who may call
// it, in deploy/auth/policy.yaml and here.
var access = []struct {
	rpc          string
	right, wrong string
}{
	{"grpc.reflection.v1.ServerReflection/*", "reader", "publisher"},
	{"grpc.reflection.v1alpha.ServerReflection/*", "reader", "publisher"},

	{"bcosdata.audit.v1.AuditService/*", "admin", "operator"},

	{"bcosdata.stash.v1.StashService/Status", "reader", "publisher"},
	{"bcosdata.stash.v1.StashService/GetBlock", "reader", "publisher"},
	{"bcosdata.stash.v1.StashService/GetStateChanges", "reader", "publisher"},
	{"bcosdata.stash.v1.StashService/VerifyRange", "reader", "operator"},
	{"bcosdata.stash.v1.StashService/Snapshot", "reader", "operator"},

	{"bcosdata.export.v1.ExportService/RegisterContract", "operator", "reader"},
	{"bcosdata.export.v1.ExportService/ReExport", "operator", "reader"},
	{"bcosdata.export.v1.ExportService/Status", "reader", "publisher"},
	{"bcosdata.export.v1.ExportService/Get*", "reader", "operator"},
	{"bcosdata.export.v1.ExportService/List*", "reader", "operator"},
	{"bcosdata.export.v1.ExportService/Subscribe*", "reader", "operator"},

	{"bcosdata.reconcile.v1.ReconcileService/CreateJob", "operator", "reader"},
	{"bcosdata.reconcile.v1.ReconcileService/UpdateJob", "operator", "reader"},
	{"bcosdata.reconcile.v1.ReconcileService/DeleteJob", "operator", "reader"},
	{"bcosdata.reconcile.v1.ReconcileService/TriggerRun", "operator", "reader"},
	{"bcosdata.reconcile.v1.ReconcileService/Status", "reader", "publisher"},
	{"bcosdata.reconcile.v1.ReconcileService/Get*", "reader", "operator"},
	{"bcosdata.reconcile.v1.ReconcileService/List*", "reader", "operator"},
	{"bcosdata.reconcile.v1.ReconcileService/DownloadResult", "reader", "operator"},

	{"bcosdata.reconcile.v1.EvidenceService/Publish*", "publisher", "reader"},
	{"bcosdata.reconcile.v1.EvidenceService/Supersede*", "publisher", "reader"},
	{"bcosdata.reconcile.v1.EvidenceService/Revoke*", "publisher", "reader"},
	{"bcosdata.reconcile.v1.EvidenceService/Erase*", "publisher", "reader"},
	{"bcosdata.reconcile.v1.EvidenceService/*Publisher*", "operator", "publisher"},
	{"bcosdata.reconcile.v1.EvidenceService/Get*", "reader", "operator"},
	{"bcosdata.reconcile.v1.EvidenceService/List*", "reader", "operator"},
	{"bcosdata.reconcile.v1.EvidenceService/Subscribe*", "reader", "operator"},
	{"bcosdata.reconcile.v1.EvidenceService/Verify*", "reader", "operator"},
}

func lookup(rpc string) (right, wrong string, ok bool) {
	for _, a := range access {
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(a.rpc), `\*`, ".*") + "$")
		if re.MatchString(rpc) {
			return a.right, a.wrong, true
		}
	}
	return "", "", false
}

// tokens per role; "nobody" has none.
var tokens = map[string]string{
	"reader": "tok-reader", "operator": "tok-operator", "publisher": "tok-publisher", "admin": "tok-admin", "nobody": "tok-nobody",
}

// running is one service's server, started with TLS and the sample policy.
type running struct {
	name string
	srv  *app.Server
	ca   *authtest.CA
}

// schemas are the services' PostgreSQL schemas, where each keeps its audit trail.
var schemas = map[string]string{"stash": "stash", "export": "export", "reconcile": "reconcile"}

func startService(t *testing.T, name string, mk func() app.Command, tokensFile string, ca *authtest.CA, cert *authtest.Issued, pool *pgxpool.Pool) *running {
	t.Helper()
	cmd := mk()
	fs := cmd.FlagSet()
	args := []string{
		"-grpc.addr", "127.0.0.1:0", "-admin.addr", "", "-http.addr", "127.0.0.1:0",
		"-tls.cert", cert.CertFile, "-tls.key", cert.KeyFile, "-tls.client-ca", ca.File,
		"-auth.policy", samplePolicy, "-auth.tokens", tokensFile, "-limits.streams", "0",
		// Nothing is reached: the service is built and registered, never Run. Only its audit
		// trail writes, into pool when there is one (the audit topic's broker stays away).
		"-db.url", "postgres://nobody@127.0.0.1:1/none?sslmode=disable", "-kafka.brokers", "127.0.0.1:1",
	}
	if name == "stash" {
		args = append(args, "-source", "file://"+t.TempDir())
	}
	if err := app.ParseFlags(fs, cmd.EnvPrefix, args); err != nil {
		t.Fatalf("%s flags: %v", name, err)
	}
	if err := cmd.Server.Validate(); err != nil {
		t.Fatalf("%s server config: %v", name, err)
	}
	srv := app.NewServer(*cmd.Server, zap.NewNop())
	deps := app.Deps{Log: zap.NewNop(), Metrics: srv.Registry()}
	if pool != nil {
		deps.Pool, deps.Audit = pool, srv.Audit()
	}
	svc, err := cmd.New(deps, srv)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	// What app.Serve does before it runs the service, whose Run this test does not need.
	svc.Register(srv.GRPC())
	if r, ok := svc.(app.ResourceNamer); ok {
		srv.Guard().AddResources(r.Resource)
	}
	srv.AddHTTP(cmd.Server.HTTPAddr, svc.(app.HTTPService).HTTPAPI())
	if err := srv.Listen(); err != nil {
		t.Fatalf("%s listen: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, trails := make(chan error, 1), make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	if pool != nil { // what app.Serve runs beside the services: the audit trails
		go func() { trails <- srv.Audit().Run(ctx) }()
	} else {
		trails <- nil
	}
	t.Cleanup(func() {
		cancel()
		if err := errors.Join(<-done, <-trails); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if c, ok := svc.(io.Closer); ok {
			_ = c.Close()
		}
	})
	return &running{name: name, srv: srv, ca: ca}
}

// methods lists every RPC the server registers, as its reflection service tells.
func methods(t *testing.T, conn *grpc.ClientConn) []protoreflect.MethodDescriptor {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tokens["reader"])
	stream, err := reflectpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	_ = stream.CloseSend()
	var out []protoreflect.MethodDescriptor
	for _, s := range resp.GetListServicesResponse().GetService() {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(s.GetName()))
		if err != nil {
			t.Fatalf("service %s: %v", s.GetName(), err)
		}
		sd := d.(protoreflect.ServiceDescriptor)
		for i := range sd.Methods().Len() {
			out = append(out, sd.Methods().Get(i))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FullName() < out[j].FullName() })
	return out
}

// call makes the RPC with an empty request, as the role's token says (none for ""), and
// returns its status code. Calls the guard lets through may block (subscriptions) or fail
// further on (no database): only Unauthenticated and PermissionDenied are the guard's.
func call(t *testing.T, conn *grpc.ClientConn, m protoreflect.MethodDescriptor, role string) error {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if role != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tokens[role])
	}
	full := "/" + string(m.Parent().FullName()) + "/" + string(m.Name())
	in := dynamicpb.NewMessage(m.Input())
	out := dynamicpb.NewMessage(m.Output())
	if !m.IsStreamingClient() && !m.IsStreamingServer() {
		return conn.Invoke(ctx, full, in, out)
	}
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: m.IsStreamingServer(), ClientStreams: m.IsStreamingClient()}, full)
	if err != nil {
		return err
	}
	if err := st.SendMsg(in); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	return st.RecvMsg(out)
}

// TestEveryRPCIsGuarded starts stash, export and reconcile with auth on (TLS, the sample
// policy, static tokens) and calls every RPC their gRPC servers offer: without a token it is
// Unauthenticated, with a role the policy does not grant it PermissionDenied, with the role
// the table names neither. An RPC added without a policy entry fails here. Every one of those
// calls leaves exactly one row in the service's audit trail (a real PostgreSQL), and an
// edited or deleted row is reported by VerifyAudit.
func TestEveryRPCIsGuarded(t *testing.T) {
	ca := authtest.NewCA(t, "bcosdata-test")
	cert := ca.Server("server")
	entries := map[string]string{}
	for role, tok := range tokens {
		if role == "nobody" {
			entries[tok] = "nobody"
		} else {
			entries[tok] = "svc-" + role + " " + role
		}
	}
	tokensFile := authtest.Tokens(t, entries)
	pool := pgtest.NewPool(t)
	for _, s := range []struct {
		name string
		mk   func() app.Command
	}{{"stash", stash.Command}, {"export", export.Command}, {"reconcile", reconcile.Command}} {
		t.Run(s.name, func(t *testing.T) {
			r := startService(t, s.name, s.mk, tokensFile, ca, cert, pool)
			await.For(t, 20*time.Second, "audit trail ready", func() error { return r.srv.Audit().Ready(t.Context()) })
			calls := &callCounter{}
			conn, err := grpc.NewClient(r.srv.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})),
				grpc.WithChainUnaryInterceptor(calls.unary), grpc.WithChainStreamInterceptor(calls.stream))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ms := methods(t, conn)
			guarded := 0
			for _, m := range ms {
				rpc := string(m.Parent().FullName()) + "/" + string(m.Name())
				if strings.HasPrefix(rpc, "grpc.health.v1.Health/") {
					if err := call(t, conn, m, ""); status.Code(err) == codes.Unauthenticated || status.Code(err) == codes.PermissionDenied {
						t.Errorf("%s: health checks are public, got %v", rpc, err)
					}
					continue
				}
				right, wrong, ok := lookup(rpc)
				if !ok {
					t.Errorf("%s: not in the acceptance table; name who may call it in deploy/auth/policy.yaml and in access", rpc)
					continue
				}
				if c := status.Code(call(t, conn, m, "")); c != codes.Unauthenticated {
					t.Errorf("%s without a token: %v, want Unauthenticated", rpc, c)
				}
				if c := status.Code(call(t, conn, m, "nobody")); c != codes.PermissionDenied {
					t.Errorf("%s with a token without roles: %v, want PermissionDenied", rpc, c)
				}
				if c := status.Code(call(t, conn, m, wrong)); c != codes.PermissionDenied {
					t.Errorf("%s as %s: %v, want PermissionDenied", rpc, wrong, c)
				}
				for _, role := range []string{right, "admin"} {
					if err := call(t, conn, m, role); status.Code(err) == codes.Unauthenticated || status.Code(err) == codes.PermissionDenied {
						t.Errorf("%s as %s: refused by the guard: %v", rpc, role, err)
					}
				}
				guarded++
			}
			if guarded < 5 {
				t.Errorf("only %d RPCs walked: %v", guarded, ms)
			}
			t.Logf("%s: %d RPCs guarded", s.name, guarded)
			checkAuditTrail(t, r, pool, conn, calls.n.Load())
		})
	}
}

// callCounter counts the calls a client makes that the guard decides on (all but health).
type callCounter struct{ n atomic.Int64 }

func (c *callCounter) count(method string) {
	if !strings.HasPrefix(method, "/grpc.health.v1.Health/") {
		c.n.Add(1)
	}
}

func (c *callCounter) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	c.count(method)
	return invoker(ctx, method, req, reply, cc, opts...)
}

func (c *callCounter) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	c.count(method)
	return streamer(ctx, desc, cc, method, opts...)
}

// checkAuditTrail shows that every call the test made (refused or let through, with or
// without a token) left exactly one row in the service's audit table, that the trail
// verifies, and that editing or deleting a row is reported by VerifyAudit.
func checkAuditTrail(t *testing.T, r *running, pool *pgxpool.Pool, conn *grpc.ClientConn, calls int64) {
	t.Helper()
	ctx := t.Context()
	if err := r.srv.Audit().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	table := pgx.Identifier{schemas[r.name], "audit"}.Sanitize()
	var rows int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != calls {
		t.Errorf("%s: %d audit rows for %d calls, want one each", r.name, rows, calls)
	}
	admin := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tokens["admin"])
	verify := func() *auditv1.VerifyAuditResponse {
		t.Helper()
		resp, err := auditv1.NewAuditServiceClient(conn).VerifyAudit(admin, &auditv1.VerifyAuditRequest{Service: r.name})
		if err != nil {
			t.Fatalf("%s: VerifyAudit: %v", r.name, err)
		}
		if err := r.srv.Audit().Flush(ctx); err != nil { // the VerifyAudit call's own row
			t.Fatal(err)
		}
		return resp
	}
	if v := verify(); !v.GetOk() {
		t.Fatalf("%s: the untouched trail does not verify: %v", r.name, v)
	}
	var subject string
	if err := pool.QueryRow(ctx, `SELECT subject FROM `+table+` WHERE seq = 3`).Scan(&subject); err != nil {
		t.Fatal(err)
	}
	for _, tamper := range []struct {
		what, sql string
		seq       uint64
		undo      string
	}{
		{"edited", `UPDATE ` + table + ` SET subject = 'mallory' WHERE seq = 3`, 3, `UPDATE ` + table + ` SET subject = $1 WHERE seq = 3`},
		{"deleted", `DELETE FROM ` + table + ` WHERE seq = 5`, 5, ""},
	} {
		if _, err := pool.Exec(ctx, tamper.sql); err != nil {
			t.Fatal(err)
		}
		v := verify()
		if v.GetOk() || v.GetBroken().GetSeq() != tamper.seq {
			t.Errorf("%s: a row %s (%s) is not reported at seq %d: %v", r.name, tamper.what, tamper.sql, tamper.seq, v)
		} else {
			t.Logf("%s: row %s reported: %s at %d: %s", r.name, tamper.what, v.GetBroken().GetKind(), v.GetBroken().GetSeq(), v.GetBroken().GetDetail())
		}
		if tamper.undo != "" {
			if _, err := pool.Exec(ctx, tamper.undo, subject); err != nil {
				t.Fatal(err)
			}
			if v := verify(); !v.GetOk() {
				t.Fatalf("%s: the trail with the row put back does not verify: %v", r.name, v)
			}
		}
	}
}

// TestHTTPAPIIsGuarded calls a few routes of each HTTP API over HTTPS.
func TestHTTPAPIIsGuarded(t *testing.T) {
	ca := authtest.NewCA(t, "bcosdata-test")
	cert := ca.Server("server")
	tokensFile := authtest.Tokens(t, map[string]string{tokens["reader"]: "svc-reader reader", tokens["operator"]: "svc-operator operator", tokens["nobody"]: "nobody"})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	for _, s := range []struct {
		name   string
		mk     func() app.Command
		routes []struct{ method, path, right, wrong string }
	}{
		{"stash", stash.Command, []struct{ method, path, right, wrong string }{
			{"GET", "/v1/stash/status", "reader", "operator"},
		}},
		{"export", export.Command, []struct{ method, path, right, wrong string }{
			{"GET", "/v1/export/status", "reader", "operator"},
			{"GET", "/v1/export/contracts", "reader", "operator"},
			{"POST", "/v1/export/contracts", "operator", "reader"},
		}},
		{"reconcile", reconcile.Command, []struct{ method, path, right, wrong string }{
			{"GET", "/v1/reconcile/jobs", "reader", "operator"},
		}},
	} {
		t.Run(s.name, func(t *testing.T) {
			r := startService(t, s.name, s.mk, tokensFile, ca, cert, nil)
			for _, rt := range s.routes {
				for _, c := range []struct {
					role string
					want func(int) bool
					what string
				}{
					{"", func(c int) bool { return c == http.StatusUnauthorized }, "401"},
					{rt.wrong, func(c int) bool { return c == http.StatusForbidden }, "403"},
					{rt.right, func(c int) bool { return c != http.StatusUnauthorized && c != http.StatusForbidden }, "neither 401 nor 403"},
				} {
					ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
					req, _ := http.NewRequestWithContext(ctx, rt.method, "https://"+r.srv.HTTPAddr(s.name)+rt.path, strings.NewReader("{}"))
					if c.role != "" {
						req.Header.Set("Authorization", "Bearer "+tokens[c.role])
					}
					resp, err := client.Do(req)
					if err != nil {
						cancel()
						t.Fatalf("%s %s: %v", rt.method, rt.path, err)
					}
					body, _ := io.ReadAll(resp.Body)
					_ = resp.Body.Close()
					cancel()
					if !c.want(resp.StatusCode) {
						t.Errorf("%s %s as %q: %d %s, want %s", rt.method, rt.path, c.role, resp.StatusCode, body, c.what)
					}
				}
			}
		})
	}
}
