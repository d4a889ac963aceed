package dashboard_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	sdk "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"

	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/dashboard"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// deployDir holds the generated files for the sample contracts, from samplesFile.
const (
	deployDir   = "../../../../deploy/grafana"
	samplesFile = "../../../../deploy/contracts/samples.yaml"
)

func samples(t *testing.T) *contract.Registry {
	t.Helper()
	reg, err := contract.Load(samplesFile, contract.Keccak, contract.WithReservedTables(store.Tables...))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestDeployFilesAreCurrent regenerates deploy/grafana from the sample contracts and wants
// the committed files byte for byte, and no other generated dashboard there. Regenerate with
// `bcosdata export dashboards -contracts deploy/contracts/samples.yaml -out deploy/grafana`.
func TestDeployFilesAreCurrent(t *testing.T) {
	files, err := dashboard.Files(samples(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(deployDir, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("%v (regenerate deploy/grafana)", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("deploy/grafana/%s is stale (regenerate it):\n%s", name, cmp.Diff(string(want), string(got)))
		}
	}
	committed, err := filepath.Glob(filepath.Join(deployDir, dashboard.DashboardsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range committed {
		if _, ok := files[dashboard.DashboardsDir+"/"+filepath.Base(p)]; !ok {
			t.Errorf("%s is not generated any more", p)
		}
	}
}

// TestWriteIsRepeatableAndDropsStaleDashboards writes twice into one directory (identical
// files), then without a contract: its dashboard goes, the others stay.
func TestWriteIsRepeatableAndDropsStaleDashboards(t *testing.T) {
	dir := t.TempDir()
	files, err := dashboard.Files(samples(t))
	if err != nil {
		t.Fatal(err)
	}
	read := func() map[string]string {
		out := map[string]string{}
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = string(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if err := dashboard.Write(dir, files); err != nil {
		t.Fatal(err)
	}
	first := read()
	if len(first) != len(files) {
		t.Fatalf("wrote %d files, want %d", len(first), len(files))
	}
	if err := dashboard.Write(dir, files); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, read()); diff != "" {
		t.Errorf("second write changed files (-first +second):\n%s", diff)
	}
	base, err := dashboard.Files(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := dashboard.Write(dir, base); err != nil {
		t.Fatal(err)
	}
	got := read()
	if _, ok := got["dashboards/bcosdata-contract-asset.json"]; ok {
		t.Error("the Asset dashboard stayed after Asset left the contracts")
	}
	if len(got) != len(base) {
		t.Errorf("%d files after writing %d", len(got), len(base))
	}
}

// TestDashboardsRoundTripThroughSDK reads every generated dashboard into the SDK's
// Dashboard type and writes it again: the JSON is unchanged, and every query came back as
// its typed variant (SQLQuery, prometheus.Dataquery), not as an unknown bag.
func TestDashboardsRoundTripThroughSDK(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	dashboard.RegisterSQLQuery()
	files, err := dashboard.Files(samples(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range files {
		if strings.HasSuffix(name, ".json") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if len(names) != 2+len(samples(t).Contracts()) {
		t.Fatalf("dashboards %v, want chain, pipeline and one per contract", names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			var d sdk.Dashboard
			if err := json.Unmarshal(files[name], &d); err != nil {
				t.Fatalf("unmarshal into the SDK's Dashboard: %v", err)
			}
			again, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			if err := json.Unmarshal(files[name], &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(again, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip changed the dashboard (-generated +again):\n%s", diff)
			}
			var sql, prom int
			for _, p := range dashboard.PanelsOf(d) {
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", *p.Title)
				}
				for _, q := range p.Targets {
					switch q := q.(type) {
					case dashboard.SQLQuery:
						sql++
						if q.RawSQL == "" || q.Format == "" {
							t.Errorf("panel %q: incomplete SQL query %+v", *p.Title, q)
						}
					case *prometheus.Dataquery:
						prom++
						if q.Expr == "" {
							t.Errorf("panel %q: empty PromQL", *p.Title)
						}
					case variants.UnknownDataquery:
						t.Errorf("panel %q: query read back untyped: %v", *p.Title, q)
					default:
						t.Errorf("panel %q: query of type %T", *p.Title, q)
					}
				}
			}
			if sql+prom == 0 {
				t.Error("no query")
			}
		})
	}
}

// TestContractDashboardHasEveryTypedTable wants a count panel and a latest-rows panel for
// every event, method and constructor table of every sample contract.
func TestContractDashboardHasEveryTypedTable(t *testing.T) {
	for _, c := range samples(t).Contracts() {
		d, err := dashboard.Contract(c)
		if err != nil {
			t.Fatal(err)
		}
		var sqls []string
		for _, p := range dashboard.PanelsOf(d) {
			for _, q := range p.Targets {
				sqls = append(sqls, q.(dashboard.SQLQuery).RawSQL)
			}
		}
		for _, tb := range c.Tables {
			for _, want := range []string{dashboard.CountSQL(tb), dashboard.LatestSQL(tb)} {
				found := false
				for _, s := range sqls {
					found = found || s == want
				}
				if !found {
					t.Errorf("%s: no panel for export.%s runs %q", c.Name, tb.Name, want)
				}
			}
		}
		if len(sqls) != 2*len(c.Tables) {
			t.Errorf("%s: %d SQL panels for %d tables", c.Name, len(sqls), len(c.Tables))
		}
	}
}

func TestContractUIDsAreGrafanaUIDs(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"Asset", "bcosdata-contract-asset"},
		{"ERC20 Token", ""},
		{"AVeryLongContractNameThatGoesOnAndOn", ""},
	} {
		got := dashboard.ContractUID(tc.name)
		if tc.want != "" && got != tc.want {
			t.Errorf("ContractUID(%q) = %q, want %q", tc.name, got, tc.want)
		}
		if len(got) > 40 || strings.ContainsAny(got, " .") {
			t.Errorf("ContractUID(%q) = %q: not a Grafana UID", tc.name, got)
		}
	}
	if dashboard.ContractUID("A B") == dashboard.ContractUID("A.B") {
		t.Error("distinct names share a UID")
	}
}
