package report

import (
	"context"
	"html/template"
	"io"
	"strings"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// reportHTML is the HTML report: one self-contained page (inline style, no scripts, nothing fetched).
var reportHTML = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Reconciliation {{.Run.Job}} {{.Run.Subject}} v{{.Run.Version}}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.state-succeeded { color: #186a1f; } .state-failed { color: #a31515; }
code { font-size: 0.9em; }
</style>
</head>
<body>
<h1>Reconciliation of job {{.Run.Job}}</h1>
<table id="summary">
<tr><th>subject</th><td>{{.Run.Subject}}</td></tr>
<tr><th>run</th><td>{{.Run.Run}} (version {{.Run.Version}}, attempt {{.Run.Attempt}})</td></tr>
<tr><th>state</th><td class="state-{{.Run.State}}">{{.Run.State}}</td></tr>
{{if .Run.Error}}<tr><th>error</th><td>{{.Run.Error}}</td></tr>{{end}}
<tr><th>business file</th><td><code>{{.Run.FileURI}}</code></td></tr>
<tr><th>on chain</th><td>{{.Chain}}</td></tr>
<tr><th>started</th><td>{{.Run.Started}}</td></tr>
<tr><th>finished</th><td>{{.Run.Finished}}</td></tr>
</table>

<h2>Totals</h2>
<table id="totals">
<tr><th></th><th>business rows</th><th>chain records</th><th>business amount</th><th>chain amount</th></tr>
<tr><th>business file</th><td class="n">{{.Run.Totals.Business.BusinessRows}}</td><td></td><td class="n">{{.Run.Totals.Business.BusinessAmount}}</td><td></td></tr>
<tr><th>on chain</th><td></td><td class="n">{{.Run.Totals.Chain.ChainRecords}}</td><td></td><td class="n">{{.Run.Totals.Chain.ChainAmount}}</td></tr>
{{range .Outcomes}}<tr><th>{{.Name}}</th><td class="n">{{.Totals.BusinessRows}}</td><td class="n">{{.Totals.ChainRecords}}</td><td class="n">{{.Totals.BusinessAmount}}</td><td class="n">{{.Totals.ChainAmount}}</td></tr>
{{end}}</table>

<h2>Differences</h2>
{{if not .Differences}}<p>None: every business row matched its chain record.</p>{{else}}
<table id="differences">
<tr><th>outcome</th><th>key</th><th>line</th><th>transaction</th><th>differing fields (business / chain)</th><th>error</th></tr>
{{range .Differences}}<tr class="{{.Outcome}}"><td>{{.Outcome}}</td><td><code>{{.Key}}</code></td><td class="n">{{.Line}}</td><td><code>{{.Tx}}</code></td><td>{{range .Diffs}}{{.Field}}: {{.Business}} / {{.Chain}}<br>{{end}}</td><td>{{.Error}}</td></tr>
{{end}}</table>
{{if .More}}<p id="more">… and {{.More}} more differences, not listed here: see the CSV and JSON result files.</p>{{end}}
{{end}}
</body>
</html>
`))

type outcomeRow struct {
	Name   string
	Totals store.Totals
}

type difference struct {
	Outcome, Key, Line, Tx, Error string
	Diffs                         []Diff
}

type reportData struct {
	Run         Summary
	Chain       string
	Outcomes    []outcomeRow
	Differences []difference
	More        int64
}

func writeHTML(ctx context.Context, st *store.Store, j *job.Job, r *store.Run, fields []string, maxListed int, w io.Writer) error {
	d := reportData{Run: SummaryOf(r), Chain: chainOf(j)}
	for _, o := range store.Outcomes {
		d.Outcomes = append(d.Outcomes, outcomeRow{Name: o, Totals: r.Totals.ByOutcome[o]})
	}
	counts, err := st.CountResults(ctx, r.ID)
	if err != nil {
		return err
	}
	for _, o := range store.Outcomes {
		if o == store.Matched || counts[o] == 0 {
			continue
		}
		left := maxListed - len(d.Differences)
		if left <= 0 {
			d.More += counts[o]
			continue
		}
		err := each(ctx, st, r.ID, o, left, func(x store.Result) error {
			d.Differences = append(d.Differences, difference{Outcome: x.Outcome, Key: strings.Join(x.Key, " "), Line: optInt(x.Line),
				Tx: opt(x.TxHash), Error: opt(x.Error), Diffs: diffs(x, fields)})
			return nil
		})
		if err != nil {
			return err
		}
		d.More += max(counts[o]-int64(left), 0)
	}
	return reportHTML.Execute(w, d)
}

func chainOf(j *job.Job) string {
	what := j.Chain.Event
	if j.Chain.Method != "" {
		what = j.Chain.Method + "()"
	}
	return j.Chain.Contract + " " + what
}
