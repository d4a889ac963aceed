// Package dashboard generates export's Grafana provisioning: the PostgreSQL and Prometheus
// datasources, a dashboard provider, and dashboards built with the Grafana foundation SDK —
// the chain overview (from the export tables), one dashboard per registered contract (a
// count-over-time panel and a latest-rows table per typed table), and the pipeline's health
// (from the services' Prometheus metrics).
//
// The output is a pure function of the contracts file, so the files deploy/grafana carries
// for the sample contracts can be regenerated and compared.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"gopkg.in/yaml.v3"

	"github.com/bcosdata/bcosdata/services/export/internal/contract"
)

// Datasource UIDs the dashboards reference and the provisioning file defines.
const (
	PostgresUID   = "bcosdata-postgres"
	PrometheusUID = "bcosdata-prometheus"
)

// DashboardsPath is where the provider reads the dashboards inside the Grafana container.
const DashboardsPath = "/var/lib/grafana/dashboards/bcosdata"

// Paths of the generated files under the output directory.
const (
	DatasourcesFile = "provisioning/datasources/bcosdata.yaml"
	ProviderFile    = "provisioning/dashboards/bcosdata.yaml"
	DashboardsDir   = "dashboards"
)

// Dashboard UIDs of the fixed dashboards.
const (
	ChainUID    = "bcosdata-chain"
	PipelineUID = "bcosdata-pipeline"
)

func postgresRef() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr(PostgresType), Uid: cog.ToPtr(PostgresUID)}
}

func prometheusRef() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr(PrometheusUID)}
}

// Dashboards returns every dashboard for the registry's contracts (reg may be nil: no
// contract dashboards), in a fixed order: chain, pipeline, then contracts in file order.
func Dashboards(reg *contract.Registry) ([]dashboard.Dashboard, error) {
	var out []dashboard.Dashboard
	chain, err := Chain()
	if err != nil {
		return nil, fmt.Errorf("build chain dashboard: %w", err)
	}
	pipe, err := Pipeline()
	if err != nil {
		return nil, fmt.Errorf("build pipeline dashboard: %w", err)
	}
	out = append(out, chain, pipe)
	if reg == nil {
		return out, nil
	}
	for _, c := range reg.Contracts() {
		d, err := Contract(c)
		if err != nil {
			return nil, fmt.Errorf("build dashboard of contract %s: %w", c.Name, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Files returns the provisioning files by path relative to the output directory
// (slash-separated): datasources, provider, and one JSON file per dashboard named by its UID.
func Files(reg *contract.Registry) (map[string][]byte, error) {
	ds, err := datasources()
	if err != nil {
		return nil, err
	}
	prov, err := provider()
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{DatasourcesFile: ds, ProviderFile: prov}
	boards, err := Dashboards(reg)
	if err != nil {
		return nil, err
	}
	for _, d := range boards {
		b, err := encodeJSON(d)
		if err != nil {
			return nil, fmt.Errorf("encode dashboard %s: %w", *d.Uid, err)
		}
		files[DashboardsDir+"/"+*d.Uid+".json"] = b
	}
	return files, nil
}

// encodeJSON is a dashboard as Grafana's JSON model, indented, with SQL's < and > left
// readable (encoding/json would write \u003c).
func encodeJSON(d dashboard.Dashboard) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return unescapeHTML(b.Bytes()), nil
}

// unescapeHTML turns the \u003c, \u003e and \u0026 escapes the SDK's own marshalling
// writes back into <, > and &, which JSON strings may hold as they are; an escaped
// backslash before them (\\u003c, literal text) is left alone.
func unescapeHTML(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			out = append(out, b[i])
			continue
		}
		if i+5 < len(b) && b[i+1] == 'u' && b[i+2] == '0' && b[i+3] == '0' {
			switch string(b[i+4 : i+6]) {
			case "3c":
				out, i = append(out, '<'), i+5
				continue
			case "3e":
				out, i = append(out, '>'), i+5
				continue
			case "26":
				out, i = append(out, '&'), i+5
				continue
			}
		}
		// Any other escape: copy the backslash and the escaped character together.
		out = append(out, b[i])
		if i+1 < len(b) {
			out = append(out, b[i+1])
			i++
		}
	}
	return out
}

// Write writes files under dir, creating directories, and removes generated dashboards
// (bcosdata-*.json in dir/dashboards) that files no longer has, so a contract taken out of
// the file loses its dashboard.
func Write(dir string, files map[string][]byte) error {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("create directory for %s: %w", p, err)
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	stale, err := filepath.Glob(filepath.Join(dir, DashboardsDir, "bcosdata-*.json"))
	if err != nil {
		return fmt.Errorf("list dashboards in %s: %w", dir, err)
	}
	for _, p := range stale {
		if _, ok := files[DashboardsDir+"/"+filepath.Base(p)]; ok {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove stale dashboard %s: %w", p, err)
		}
	}
	return nil
}

// header marks generated files; YAML only (JSON has no comments).
const header = "# Generated by `bcosdata export dashboards`; do not edit, regenerate.\n"

// Environment variables the datasources file reads (Grafana expands $VAR in provisioning).
const (
	EnvPostgresHost     = "BCOSDATA_PG_HOST"
	EnvPostgresDatabase = "BCOSDATA_PG_DATABASE"
	EnvPostgresUser     = "BCOSDATA_PG_USER"
	EnvPostgresPassword = "BCOSDATA_PG_PASSWORD"
	EnvPostgresSSLMode  = "BCOSDATA_PG_SSLMODE"
	EnvPrometheusURL    = "BCOSDATA_PROMETHEUS_URL"
)

type datasourceFile struct {
	APIVersion  int          `yaml:"apiVersion"`
	Datasources []datasource `yaml:"datasources"`
}

type datasource struct {
	Name           string            `yaml:"name"`
	UID            string            `yaml:"uid"`
	Type           string            `yaml:"type"`
	Access         string            `yaml:"access"`
	URL            string            `yaml:"url"`
	User           string            `yaml:"user,omitempty"`
	Editable       bool              `yaml:"editable"`
	JSONData       map[string]any    `yaml:"jsonData,omitempty"`
	SecureJSONData map[string]string `yaml:"secureJsonData,omitempty"`
}

func env(name string) string { return "${" + name + "}" }

// datasources is the datasources provisioning file: PostgreSQL (connect as a login role
// granted export's -db.reader-role) and Prometheus, addresses and credentials from the
// environment.
func datasources() ([]byte, error) {
	f := datasourceFile{APIVersion: 1, Datasources: []datasource{
		{
			Name: "bcosdata PostgreSQL", UID: PostgresUID, Type: PostgresType, Access: "proxy",
			URL: env(EnvPostgresHost), User: env(EnvPostgresUser),
			JSONData: map[string]any{
				"database":        env(EnvPostgresDatabase),
				"sslmode":         env(EnvPostgresSSLMode),
				"postgresVersion": 1500,
				"timeInterval":    "1s",
			},
			SecureJSONData: map[string]string{"password": env(EnvPostgresPassword)},
		},
		{
			Name: "bcosdata Prometheus", UID: PrometheusUID, Type: "prometheus", Access: "proxy",
			URL: env(EnvPrometheusURL), JSONData: map[string]any{"timeInterval": "15s"},
		},
	}}
	return encodeYAML(f)
}

type providerFile struct {
	APIVersion int              `yaml:"apiVersion"`
	Providers  []providerConfig `yaml:"providers"`
}

type providerConfig struct {
	Name                  string            `yaml:"name"`
	Folder                string            `yaml:"folder"`
	Type                  string            `yaml:"type"`
	DisableDeletion       bool              `yaml:"disableDeletion"`
	AllowUIUpdates        bool              `yaml:"allowUiUpdates"`
	UpdateIntervalSeconds int               `yaml:"updateIntervalSeconds"`
	Options               map[string]string `yaml:"options"`
}

// provider is the dashboard provider file: the generated dashboards, read-only in the UI
// (they are regenerated, not edited).
func provider() ([]byte, error) {
	return encodeYAML(providerFile{APIVersion: 1, Providers: []providerConfig{{
		Name: "bcosdata", Folder: "bcosdata", Type: "file", UpdateIntervalSeconds: 60,
		Options: map[string]string{"path": DashboardsPath},
	}}})
}

func encodeYAML(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode provisioning YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode provisioning YAML: %w", err)
	}
	return b.Bytes(), nil
}

// uid is a dashboard UID for a name: Grafana allows 40 characters; longer names are cut and
// keep 8 hex digits of their hash so that distinct names stay distinct.
func uid(prefix, name string) string {
	var b strings.Builder
	changed := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
			changed = true
		}
	}
	s := prefix + b.String()
	if len(s) <= 40 && !changed {
		return s
	}
	sum := sha256.Sum256([]byte(name))
	if len(s) > 31 {
		s = s[:31]
	}
	return s + "-" + hex.EncodeToString(sum[:4])
}

// newBoard starts a dashboard with the settings every generated dashboard shares.
func newBoard(uid, title, description string, tags ...string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags(append([]string{"bcosdata", "generated"}, tags...)).
		Timezone(common.TimeZoneUtc).
		Time("now-6h", "now").
		Refresh("30s").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Readonly()
}

// PanelsOf returns a dashboard's panels in order, those inside collapsed rows included, rows
// themselves left out.
func PanelsOf(d dashboard.Dashboard) []dashboard.Panel {
	var out []dashboard.Panel
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			out = append(out, *p.Panel)
		case p.RowPanel != nil:
			out = append(out, p.RowPanel.Panels...)
		}
	}
	return out
}
