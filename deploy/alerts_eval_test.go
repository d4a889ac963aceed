package deploy

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
)

// TestReconcileAlertsFire evaluates the reconcile rules of alerts.yml with Prometheus' engine
// on series as a scrape stores them (the counters' job label renamed exported_job): each fires
// for the job it should and not for the others.
func TestReconcileAlertsFire(t *testing.T) {
	content, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	exprs := map[string]string{}
	for _, g := range parseRules(t, alertRules, content).Groups {
		for _, r := range g.Rules {
			exprs[r.Alert] = r.Expr
		}
	}
	// One sample a minute; "0x10 1x20" is 0 for ten minutes, then 1. Job "transfers" fails a
	// run and has 2% differences; job "fine" fails none, has 0.5% differences and had a
	// failure long before the window; "slow" lags and leaves a message unpublished.
	st := promqltest.LoadedStorage(t, `
load 1m
  bcosdata_reconcile_runs_total{job="bcosdata-reconcile",instance="r:9203",exported_job="transfers",state="failed"} 0x10 1x20
  bcosdata_reconcile_runs_total{job="bcosdata-reconcile",instance="r:9203",exported_job="transfers",state="succeeded"} 0x10 1x20
  bcosdata_reconcile_runs_total{job="bcosdata-reconcile",instance="r:9203",exported_job="fine",state="failed"} 1x30
  bcosdata_reconcile_runs_total{job="bcosdata-reconcile",instance="r:9203",exported_job="fine",state="succeeded"} 0x10 1x20
  bcosdata_reconcile_results_total{job="bcosdata-reconcile",instance="r:9203",exported_job="transfers",outcome="matched"} 0x10 980x20
  bcosdata_reconcile_results_total{job="bcosdata-reconcile",instance="r:9203",exported_job="transfers",outcome="mismatched"} 0x10 12x20
  bcosdata_reconcile_results_total{job="bcosdata-reconcile",instance="r:9203",exported_job="transfers",outcome="missing_on_chain"} 0x10 8x20
  bcosdata_reconcile_results_total{job="bcosdata-reconcile",instance="r:9203",exported_job="fine",outcome="matched"} 0x10 995x20
  bcosdata_reconcile_results_total{job="bcosdata-reconcile",instance="r:9203",exported_job="fine",outcome="mismatched"} 0x10 5x20
  bcosdata_reconcile_lag_messages{job="bcosdata-reconcile",instance="r:9203"} 0+100x30
  bcosdata_reconcile_outbox_backlog{job="bcosdata-reconcile",instance="r:9203"} 0x5 1x25
`)
	engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	at := time.Unix(0, 0).Add(20 * time.Minute)
	firing := func(alert string) []string {
		t.Helper()
		expr, ok := exprs[alert]
		if !ok {
			t.Fatalf("no alert %s in %s", alert, alertRules)
		}
		q, err := engine.NewInstantQuery(t.Context(), st, nil, expr, at)
		if err != nil {
			t.Fatalf("%s: %v", alert, err)
		}
		defer q.Close()
		res := q.Exec(t.Context())
		if res.Err != nil {
			t.Fatalf("%s: %v", alert, res.Err)
		}
		v, err := res.Vector()
		if err != nil {
			t.Fatalf("%s: %v", alert, err)
		}
		var out []string
		for _, s := range v {
			out = append(out, s.Metric.Get("exported_job")+"@"+s.Metric.Get("instance"))
		}
		slices.Sort(out)
		return out
	}
	for alert, want := range map[string][]string{
		"BcosdataReconcileRunFailed":          {"transfers@r:9203"},
		"BcosdataReconcileMismatches":         {"transfers@r:9203"},
		"BcosdataReconcileLagGrowing":         {"@r:9203"},
		"BcosdataReconcileResultsUnpublished": {"@r:9203"},
	} {
		if got := firing(alert); !slices.Equal(got, want) {
			t.Errorf("%s fires for %v, want %v", alert, got, want)
		}
	}
}
