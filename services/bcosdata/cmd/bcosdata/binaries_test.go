package main

import (
	"bytes"
	"errors"
	"os"
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
		{"bcosdata-evidence", ".", []string{"evidence", "verify", "-h"}, []string{"-rpc", "-group", "-sm", "-offline", "$BCOSDATA_RPC", "-version"}},
		{"bcosdata-evidence-version", ".", []string{"evidence", "verify", "-version"}, []string{"bcosdata ", "go1."}},
		{"bcosdata-stash", ".", []string{"stash", "-h"}, []string{"-source", "$STASH_SOURCE"}},
		{"bcosdata-export", ".", []string{"export", "-h"}, []string{"-db.reader-role", "$EXPORT_DB_READER_ROLE"}},
		{"bcosdata-export-dashboards", ".", []string{"export", "dashboards", "-h"}, []string{"-contracts", "-out"}},
		{"stash-version", "../../../stash/cmd/stash", []string{"-version"}, []string{"stash ", "go1."}},
		{"export-version", "../../../export/cmd/export", []string{"-version"}, []string{"export ", "go1."}},
		{"reconcile-version", "../../../reconcile/cmd/reconcile", []string{"-version"}, []string{"reconcile ", "go1."}},
		{"fiscosim-version", "../../../fiscosim/cmd/fiscosim", []string{"-version"}, []string{"fiscosim ", "go1."}},
		{"bcosdata-version", ".", []string{"-version"}, []string{"bcosdata ", "go1."}},
		{"bcosdata-stash-version", ".", []string{"stash", "-version"}, []string{"stash ", "go1."}},
		{"stash-healthcheck-help", "../../../stash/cmd/stash", []string{"-h"}, []string{"-healthcheck", "$STASH_HEALTHCHECK", "-version"}},
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

// TestExportDashboardsWritesDeployFiles runs `bcosdata export dashboards` on the sample
// contracts: it writes exactly the files deploy/grafana carries; without -out it is a usage
// error.
func TestExportDashboardsWritesDeployFiles(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "bcosdata")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	out, err := exec.CommandContext(t.Context(), exe, "export", "dashboards", "-contracts", "../../../../deploy/contracts/samples.yaml", "-out", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("export dashboards: %v\n%s", err, out)
	}
	deploy := "../../../../deploy/grafana"
	n := 0
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		rel, _ := filepath.Rel(dir, p)
		got, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		want, err := os.ReadFile(filepath.Join(deploy, rel))
		if err != nil {
			t.Errorf("%s: generated, not in deploy/grafana: %v", rel, err)
			return nil
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from deploy/grafana's copy (regenerate it)", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 6 {
		t.Errorf("%d files written, want datasources, provider and dashboards", n)
	}
	err = exec.CommandContext(t.Context(), exe, "export", "dashboards").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("export dashboards without -out: %v, want exit status 2", err)
	}
}
