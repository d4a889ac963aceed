package app

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/bcosdata/bcosdata/libs/await"
)

func TestParseFlagsPrecedence(t *testing.T) {
	cases := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"default", "", nil, "def"},
		{"env over default", "from-env", nil, "from-env"},
		{"flag over env", "from-env", []string{"-kafka.brokers", "from-flag"}, "from-flag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("STASH_KAFKA_BROKERS", tc.env)
			}
			fs := flag.NewFlagSet("stash", flag.ContinueOnError)
			v := fs.String("kafka.brokers", "def", "brokers")
			if err := ParseFlags(fs, "STASH", tc.args); err != nil {
				t.Fatal(err)
			}
			if *v != tc.want {
				t.Fatalf("got %q, want %q", *v, tc.want)
			}
		})
	}
}

func TestParseFlagsBadEnvNamesVariable(t *testing.T) {
	t.Setenv("SIM_BLOCKS", "many")
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.Int("blocks", 0, "blocks")
	err := ParseFlags(fs, "SIM", nil)
	if err == nil || !strings.Contains(err.Error(), "SIM_BLOCKS") {
		t.Fatalf("error %v does not name SIM_BLOCKS", err)
	}
}

func TestUsageListsFlagsAndEnv(t *testing.T) {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	fs.String("db.url", "", "PostgreSQL URL")
	var l StringList
	fs.Var(&l, "source", "a source, repeatable")
	if err := ParseFlags(fs, "EXPORT", []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"-db.url", "$EXPORT_DB_URL", "-source", "$EXPORT_SOURCE"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}

func TestStringListRepeatsAndSplits(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var l StringList
	fs.Var(&l, "source", "")
	if err := fs.Parse([]string{"-source", "a,b", "-source", "c"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(l, "|"); got != "a|b|c" {
		t.Fatalf("got %q", got)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServerEndpointsAndDrain(t *testing.T) {
	srv := NewServer(ServerConfig{Name: "test.v1.Svc", GRPCAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		ShutdownTimeout: 2 * time.Second, ProbeInterval: 10 * time.Millisecond}, zap.NewNop())
	dbUp := make(chan bool, 1)
	dbUp <- false
	srv.AddCheck("database", func(context.Context) error {
		up := <-dbUp
		dbUp <- up
		if !up {
			return errors.New("unreachable")
		}
		return nil
	})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	admin := "http://" + srv.AdminAddr()

	if code, body := get(t, admin+"/livez"); code != 200 {
		t.Fatalf("/livez = %d %s", code, body)
	}
	await.True(t, 5*time.Second, "/readyz 503 naming the failing check", func() bool {
		code, body := get(t, admin+"/readyz")
		return code == 503 && strings.Contains(body, "database: unreachable")
	})
	<-dbUp
	dbUp <- true
	await.True(t, 5*time.Second, "/readyz 200 once the check passes", func() bool {
		code, _ := get(t, admin+"/readyz")
		return code == 200
	})
	if code, body := get(t, admin+"/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics = %d", code)
	}
	if code, _ := get(t, admin+"/debug/pprof/"); code != 200 {
		t.Fatalf("pprof = %d", code)
	}

	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	hc := healthpb.NewHealthClient(conn)
	if st := healthStatus(t, hc, "test.v1.Svc"); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("grpc health %v while /readyz is 200", st)
	}
	rc, err := reflectpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rr, err := rc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range rr.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !strings.Contains(strings.Join(names, ","), "grpc.health.v1.Health") {
		t.Fatalf("reflection lists %v", names)
	}

	conn.Close()
	srv.Drain()
	if code, body := get(t, admin+"/readyz"); code != 503 || !strings.Contains(body, "shutting down") {
		t.Fatalf("/readyz while draining = %d %q", code, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestCommandHelpAndUsageErrors(t *testing.T) {
	var cfg struct {
		Server ServerConfig
		Log    LogFlags
		Topic  string
	}
	cmd := Command{
		Name: "svc", EnvPrefix: "SVC", Server: &cfg.Server, Log: &cfg.Log,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&cfg.Topic, "topic", "t", "topic to read")
			cfg.Server.RegisterFlags(fs, "127.0.0.1:0", "")
			cfg.Log.Register(fs)
		},
		New: func(Deps, *Server) (Service, error) { return nil, errors.New("unreachable in this test") },
	}
	var out bytes.Buffer
	err := cmd.Run(t.Context(), []string{"-h"}, &out)
	if !errors.Is(err, flag.ErrHelp) || ExitCode("svc", err, io.Discard) != 0 {
		t.Fatalf("-h: err %v", err)
	}
	for _, want := range []string{"-topic", "$SVC_TOPIC", "-grpc.addr", "-log.level"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
	err = cmd.Run(t.Context(), []string{"-no-such-flag"}, io.Discard)
	if code := ExitCode("svc", err, io.Discard); code != 2 {
		t.Fatalf("unknown flag: exit %d (%v), want 2", code, err)
	}
	err = cmd.Run(t.Context(), nil, io.Discard)
	if code := ExitCode("svc", err, io.Discard); code != 1 {
		t.Fatalf("constructor failure: exit %d (%v), want 1", code, err)
	}
}
