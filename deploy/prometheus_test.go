package deploy

import (
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

const (
	prometheusConfig = "prometheus/prometheus.yml"
	alertRules       = "prometheus/alerts.yml"
)

func loadPrometheusConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.LoadFile(prometheusConfig, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("%s: %v", prometheusConfig, err)
	}
	return cfg
}

func staticTargets(sc *config.ScrapeConfig) []string {
	var out []string
	for _, c := range sc.ServiceDiscoveryConfigs {
		sc, ok := c.(discovery.StaticConfig)
		if !ok {
			continue
		}
		for _, g := range sc {
			for _, ls := range g.Targets {
				out = append(out, string(ls[model.AddressLabel]))
			}
		}
	}
	return out
}

// parseRules parses rule groups with Prometheus' own parser, strictly (unknown fields fail).
func parseRules(t *testing.T, name string, content []byte) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.Parse(content, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("%s: %v", name, err)
	}
	if groups == nil {
		t.FailNow()
	}
	return groups
}

// ruleMetrics returns the metric names the rules' expressions select.
func ruleMetrics(t *testing.T, groups *rulefmt.RuleGroups) map[string][]string {
	t.Helper()
	p := parser.NewParser(parser.Options{})
	used := map[string][]string{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			expr, err := p.ParseExpr(r.Expr)
			if err != nil {
				t.Errorf("rule %s: %v", r.Alert, err)
				continue
			}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok {
					for _, m := range vs.LabelMatchers {
						if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
							used[m.Value] = append(used[m.Value], r.Alert)
						}
					}
				}
				return nil
			})
		}
	}
	return used
}

func TestPrometheusConfig(t *testing.T) {
	cfg := loadPrometheusConfig(t)
	if len(cfg.RuleFiles) == 0 {
		t.Fatal("no rule_files: the alerts are not loaded")
	}
	for _, f := range cfg.RuleFiles {
		matches, err := filepath.Glob(f)
		if err != nil || len(matches) == 0 {
			t.Errorf("rule file %s: no such file", f)
		}
	}
	// LoadFile resolves rule files against the configuration's directory.
	found := false
	for _, f := range cfg.RuleFiles {
		found = found || filepath.Clean(f) == filepath.Clean(alertRules)
	}
	if !found {
		t.Errorf("rule files %v do not include %s", cfg.RuleFiles, alertRules)
	}
}

// TestAlertRules parses the rules and checks that every metric they use is one a service
// registers (or Prometheus' own up), and that the alerts the operations guide promises exist.
func TestAlertRules(t *testing.T) {
	content, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	groups := parseRules(t, alertRules, content)
	known := runtimeFacts(t).metrics
	var unknown []string
	for m, alerts := range ruleMetrics(t, groups) {
		if m != "up" && !known[m] {
			unknown = append(unknown, m+" (in "+alerts[0]+")")
		}
	}
	sort.Strings(unknown)
	for _, m := range unknown {
		t.Errorf("%s: metric %s is registered by no service", alertRules, m)
	}
	have := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			have[r.Alert] = true
		}
	}
	for _, want := range []string{"BcosdataServiceDown", "BcosdataStashLagGrowing", "BcosdataExportLagGrowing",
		"BcosdataVerificationFailure", "BcosdataPartitionHalted", "BcosdataDeadLetters",
		"BcosdataReconcileRunFailed", "BcosdataReconcileMismatches"} {
		if !have[want] {
			t.Errorf("alert %s missing", want)
		}
	}
}

// TestAlertRuleCheckCatchesUnknownMetric shows the metric check fails on a misspelt metric.
func TestAlertRuleCheckCatchesUnknownMetric(t *testing.T) {
	known := runtimeFacts(t).metrics
	for _, expr := range []string{"bcosdata_stash_lag_blocks > 1", `increase(bcosdata_reconcile_run_failures_total{state="failed"}[15m]) > 0`} {
		groups := parseRules(t, "bad", []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: '"+expr+"'\n"))
		used := ruleMetrics(t, groups)
		if len(used) == 0 {
			t.Fatalf("%s: no metric found", expr)
		}
		for m := range used {
			if known[m] {
				t.Fatalf("%s counted as registered", m)
			}
		}
	}
	if _, errs := rulefmt.Parse([]byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(x[5m]\n"), false,
		model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler)); len(errs) == 0 {
		t.Fatal("a broken expression parsed")
	}
}
