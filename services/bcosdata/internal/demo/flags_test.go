package demo

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/bcosdata/bcosdata/libs/app"
)

func TestParseAddressesAndAliases(t *testing.T) {
	for _, tc := range []struct {
		name            string
		env             map[string]string
		args            []string
		wantGRPC, wantA string
	}{
		{"defaults are stash's ports", nil, nil, "127.0.0.1:9101", "127.0.0.1:9201"},
		{"new flags", nil, []string{"-grpc.addr", "127.0.0.1:1", "-admin.addr", "127.0.0.1:2"}, "127.0.0.1:1", "127.0.0.1:2"},
		{"old stash flags still work", nil, []string{"-stash.grpc.addr", "127.0.0.1:3", "-stash.admin.addr", "127.0.0.1:4"}, "127.0.0.1:3", "127.0.0.1:4"},
		{"new flag wins over old", nil, []string{"-grpc.addr", "127.0.0.1:1", "-stash.grpc.addr", "127.0.0.1:3"}, "127.0.0.1:1", "127.0.0.1:9201"},
		{"new flag wins over old environment", map[string]string{"DEMO_STASH_GRPC_ADDR": "127.0.0.1:5"}, []string{"-grpc.addr", "127.0.0.1:1"}, "127.0.0.1:1", "127.0.0.1:9201"},
		{"all interfaces with -insecure", nil, []string{"-grpc.addr", ":1", "-insecure"}, ":1", "127.0.0.1:9201"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, err := parse(tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Server.GRPCAddr != tc.wantGRPC || cfg.Server.AdminAddr != tc.wantA {
				t.Fatalf("grpc %q admin %q, want %q %q", cfg.Server.GRPCAddr, cfg.Server.AdminAddr, tc.wantGRPC, tc.wantA)
			}
		})
	}
}

// TestParseRefusesExposedWithoutSecurity: the demo, open by design, stays on loopback unless
// told -insecure.
func TestParseRefusesExposedWithoutSecurity(t *testing.T) {
	_, err := parse([]string{"-grpc.addr", "0.0.0.0:1"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-insecure") {
		t.Fatalf("error %v, want one naming -insecure", err)
	}
}

func TestParseRejectsBadNumbersNamingTheFlag(t *testing.T) {
	for _, tc := range []struct{ flag, value, want string }{
		{"-tps", "0", "-tps 0: want more than 0"},
		{"-block-interval", "0s", "-block-interval 0s"},
		{"-max-txs", "0", "-max-txs 0"},
		{"-pg.port", "70000", "-pg.port 70000"},
		{"-status-every", "-1s", "-status-every -1s"},
		{"-duration", "-1m", "-duration -1m0s"},
		{"-shutdown-timeout", "0s", "-shutdown-timeout 0s"},
		{"-grpc.addr", "", "-stash.http.addr 127.0.0.1:9301: needs -grpc.addr"},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			_, err := parse([]string{tc.flag, tc.value}, io.Discard)
			var ue *app.UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parse %s %s = %v, want a usage error containing %q", tc.flag, tc.value, err, tc.want)
			}
		})
	}
}

func TestParseExitWhenDoneNeedsBlocks(t *testing.T) {
	_, err := parse([]string{"-exit-when-done"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-exit-when-done: needs -blocks") {
		t.Fatalf("got %v", err)
	}
	cfg, err := parse([]string{"-exit-when-done", "-blocks", "200", "-json"}, io.Discard)
	if err != nil || !cfg.ExitWhenDone || !cfg.JSON || cfg.Blocks != 200 {
		t.Fatalf("got %+v, %v", cfg, err)
	}
}
