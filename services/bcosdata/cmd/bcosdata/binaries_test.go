package main

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinariesAnswerHelp builds every binary the Makefile ships and checks that -h exits 0 and
// lists the flags an operator needs, with their environment variables.
func TestBinariesAnswerHelp(t *testing.T) {
	bin := t.TempDir()
	cases := []struct {
		name, pkg string
		args      []string
		want      []string
	}{
		{"stash", "../../../stash/cmd/stash", []string{"-h"}, []string{"-source", "-kafka.brokers", "-db.url", "-grpc.addr", "-admin.addr", "-start-block", "-partitions", "$STASH_KAFKA_BROKERS"}},
		{"export", "../../../export/cmd/export", []string{"-h"}, []string{"-kafka.brokers", "-db.url", "-grpc.addr", "$EXPORT_DB_URL"}},
		{"reconcile", "../../../reconcile/cmd/reconcile", []string{"-h"}, []string{"-kafka.brokers", "-db.url", "$RECONCILE_DB_URL"}},
		{"fiscosim", "../../../fiscosim/cmd/fiscosim", []string{"-h"}, []string{"-data", "-rpc.addr", "-binlog.addr", "-group", "-sealers", "-sm", "-seed", "-tps", "-blocks", "-exit", "$FISCOSIM_RPC_ADDR"}},
		{"bcosdata-sim", ".", []string{"sim", "-h"}, []string{"-rpc.addr", "-bulk"}},
		{"bcosdata", ".", []string{"-h"}, []string{"stash", "export", "reconcile", "binlog", "block", "sim"}},
		{"bcosdata-binlog", ".", []string{"binlog", "inspect", "-h"}, []string{"-verify", "-json", "-crypto"}},
		{"bcosdata-stash", ".", []string{"stash", "-h"}, []string{"-source", "$STASH_SOURCE"}},
	}
	built := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exe, ok := built[tc.pkg]
			if !ok {
				exe = filepath.Join(bin, strings.SplitN(tc.name, "-", 2)[0])
				if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", exe, tc.pkg).CombinedOutput(); err != nil {
					t.Fatalf("go build %s: %v\n%s", tc.pkg, err, out)
				}
				built[tc.pkg] = exe
			}
			var out bytes.Buffer
			cmd := exec.CommandContext(t.Context(), exe, tc.args...)
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s %v: %v\n%s", tc.name, tc.args, err, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("%s %v output lacks %q:\n%s", tc.name, tc.args, w, out.String())
				}
			}
		})
	}
}

// TestUnknownCommandIsUsageError checks the exit status operators script against.
func TestUnknownCommandIsUsageError(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "bcosdata")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	err := exec.CommandContext(t.Context(), exe, "no-such-command").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2", err)
	}
}
