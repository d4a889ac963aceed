package app

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func TestServerConfigValidateNamesTheFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ServerConfig
		want string
	}{
		{"zero shutdown timeout", ServerConfig{}, "-shutdown-timeout 0s: want more than 0"},
		{"negative shutdown timeout", ServerConfig{ShutdownTimeout: -time.Second}, "-shutdown-timeout -1s"},
		{"negative probe interval", ServerConfig{ShutdownTimeout: time.Second, ProbeInterval: -1}, "probe interval"},
		{"valid", ServerConfig{ShutdownTimeout: time.Second}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestCommandRejectsZeroShutdownTimeout(t *testing.T) {
	var cfg struct {
		Server ServerConfig
		Log    LogFlags
	}
	cmd := Command{
		Name: "svc", EnvPrefix: "SVC", Server: &cfg.Server, Log: &cfg.Log,
		Flags: func(fs *flag.FlagSet) { cfg.Server.RegisterFlags(fs, "127.0.0.1:0", ""); cfg.Log.Register(fs) },
		New:   func(Deps, *Server) (Service, error) { t.Fatal("New called despite a bad flag"); return nil, nil },
	}
	var out bytes.Buffer
	err := cmd.Run(t.Context(), []string{"-shutdown-timeout", "0s"}, io.Discard)
	if code := ExitCode("svc", err, &out); code != 2 || !strings.Contains(out.String(), "-shutdown-timeout") {
		t.Fatalf("exit %d, output %q; want 2 naming -shutdown-timeout", code, out.String())
	}
}

func TestExitCodeDoesNotRepeatThePrefix(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"plain", errors.New("open storage: refused"), "stash: open storage: refused\n"},
		{"already prefixed", fmt.Errorf("stash: storage not open yet"), "stash: storage not open yet\n"},
		{"wrapped prefixed", fmt.Errorf("stash: run: %w", errors.New("x")), "stash: run: x\n"},
		{"other service's prefix kept", errors.New("stashed: x"), "stash: stashed: x\n"},
		{"usage", &UsageError{Err: errors.New("stash: -partitions 0: want at least 1")}, "stash: -partitions 0: want at least 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			ExitCode("stash", tc.err, &out)
			if out.String() != tc.want {
				t.Fatalf("printed %q, want %q", out.String(), tc.want)
			}
		})
	}
}

func TestReadyDoesNotRepeatTheCheckName(t *testing.T) {
	srv := NewServer(ServerConfig{}, nil)
	srv.AddCheck("stash", func(context.Context) error { return errors.New("stash: storage not open yet") })
	srv.AddCheck("database", func(context.Context) error { return errors.New("refused") })
	got := strings.Join(srv.Ready(t.Context()), "\n")
	if want := "database: refused\nstash: storage not open yet"; got != want {
		t.Fatalf("Ready = %q, want %q", got, want)
	}
}
