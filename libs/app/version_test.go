package app

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

func TestVersionStringPrefersTheLinkedVersion(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	Version = "v1.2.3-4-gabcdef-dirty"
	got := VersionString("stash")
	if !strings.HasPrefix(got, "stash v1.2.3-4-gabcdef-dirty "+runtime.Version()) {
		t.Fatalf("VersionString = %q", got)
	}
}

func TestCommandVersionPrintsAndSkipsTheService(t *testing.T) {
	var cfg struct {
		Server ServerConfig
		Log    LogFlags
	}
	var out bytes.Buffer
	cmd := Command{
		Name: "svc", EnvPrefix: "SVC", Server: &cfg.Server, Log: &cfg.Log, Stdout: &out,
		Flags: func(fs *flag.FlagSet) { cfg.Server.RegisterFlags(fs, "", ""); cfg.Log.Register(fs) },
		New:   func(Deps, *Server) (Service, error) { t.Fatal("New called for -version"); return nil, nil },
	}
	if err := cmd.Run(t.Context(), []string{"-version"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "svc ") || !strings.Contains(out.String(), runtime.Version()) {
		t.Fatalf("-version printed %q", out.String())
	}
	fs := cmd.FlagSet()
	for _, name := range []string{"version", "healthcheck", "admin.addr", "log.level"} {
		if fs.Lookup(name) == nil {
			t.Errorf("FlagSet lacks -%s", name)
		}
	}
}

// TestCommandHealthcheck runs -healthcheck against admin servers in each state and checks the
// exit code a container runtime would see.
func TestCommandHealthcheck(t *testing.T) {
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	}))
	defer ready.Close()
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "database: unreachable", http.StatusServiceUnavailable)
	}))
	defer notReady.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := lis.Addr().String()
	lis.Close()
	_, readyPort, _ := net.SplitHostPort(strings.TrimPrefix(ready.URL, "http://"))

	for _, tc := range []struct {
		name     string
		args     []string
		env      string
		wantCode int
		wantMsg  string
	}{
		{"ready", []string{"-healthcheck", "-admin.addr", strings.TrimPrefix(ready.URL, "http://")}, "", 0, ""},
		{"ready on an unspecified host", []string{"-healthcheck", "-admin.addr", "0.0.0.0:" + readyPort}, "", 0, ""},
		{"address from the environment", []string{"-healthcheck"}, strings.TrimPrefix(ready.URL, "http://"), 0, ""},
		{"not ready", []string{"-healthcheck", "-admin.addr", strings.TrimPrefix(notReady.URL, "http://")}, "", 1, "database: unreachable"},
		{"nothing listening", []string{"-healthcheck", "-admin.addr", closed}, "", 1, "healthcheck"},
		{"no admin server", []string{"-healthcheck", "-admin.addr", ""}, "", 1, "needs -admin.addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("SVC_ADMIN_ADDR", tc.env)
			}
			var cfg struct {
				Server ServerConfig
				Log    LogFlags
			}
			cmd := Command{
				Name: "svc", EnvPrefix: "SVC", Server: &cfg.Server, Log: &cfg.Log,
				Flags: func(fs *flag.FlagSet) { cfg.Server.RegisterFlags(fs, "", "127.0.0.1:1"); cfg.Log.Register(fs) },
				New:   func(Deps, *Server) (Service, error) { return nil, errors.New("New called for -healthcheck") },
			}
			err := cmd.Run(context.Background(), tc.args, io.Discard)
			var msg bytes.Buffer
			if code := ExitCode("svc", err, &msg); code != tc.wantCode || !strings.Contains(msg.String(), tc.wantMsg) {
				t.Fatalf("exit %d %q, want %d containing %q", code, msg.String(), tc.wantCode, tc.wantMsg)
			}
		})
	}
}
