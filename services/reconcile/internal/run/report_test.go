package run

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/bizgen"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/report"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/source"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/source/sourcetest"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/webhook"
)

// hook is a webhook receiver that refuses its first fail requests with 503.
type hook struct {
	mu     sync.Mutex
	fail   int
	calls  int
	bodies [][]byte
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "want a JSON POST", http.StatusBadRequest)
		return
	}
	if h.calls <= h.fail {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	h.bodies = append(h.bodies, body)
}

func (h *hook) got() (int, [][]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls, h.bodies
}

// TestResultFilesAndWebhook runs a job with planted differences whose results go to each kind
// of destination and whose summary goes to a webhook, and reads back what was written.
func TestResultFilesAndWebhook(t *testing.T) {
	f := newFixture(t, "{max_rows: 1}")
	recs := records(60)
	storeRecords(t, f.st, recs)
	exp := f.generate(t, recs, plan)

	root := t.TempDir()
	sftpSrv := sourcetest.StartSFTP(t)
	ftpSrv := sourcetest.StartFTP(t, root)
	s3Srv := sourcetest.StartS3(t, "results")
	h := &hook{fail: 1}
	hs := httptest.NewServer(h)
	defer hs.Close()

	var cfg source.Config
	f.runner = New(Config{Store: f.st, Poll: 10 * time.Millisecond, Job: f.jobFunc(),
		CaughtUp: func(context.Context) (bool, error) { return true, nil },
		Source:   func(*job.Job) source.Config { return cfg },
		Webhook:  &webhook.Sender{Backoff: 10 * time.Millisecond}})
	stop := f.start(t)

	defer stop()

	for _, dest := range []struct {
		name string
		uri  string
		cfg  source.Config
	}{
		{"file", "file://" + filepath.Join(root, "local"), source.Config{}},
		{"sftp", sftpSrv.URI(filepath.Join(root, "sftp")), sftpSrv.Config()},
		{"ftp", ftpSrv.URI("ftp"), ftpSrv.Config()},
		{"s3", s3Srv.URI("results", "daily/out"), s3Srv.Config()},
	} {
		t.Run(dest.name, func(t *testing.T) {
			cfg = dest.cfg
			f.j.Results = dest.uri
			f.j.Webhook = hs.URL + "/hook"
			calls0, bodies0 := h.got()
			r, err := f.runner.Trigger(t.Context(), "transfers", "2025-12-05", "")
			if err != nil {
				t.Fatal(err)
			}
			got := waitRun(t, f.st, r.ID)
			if got.State != store.StateSucceeded {
				t.Fatalf("run: %s %s", got.State, got.Error)
			}
			base := dest.uri + "/" + report.Name(got)
			if want := "transfers-2025-12-05-v"; !strings.Contains(base, want) {
				t.Errorf("result files %s: want %s in the name", base, want)
			}
			// The webhook got the summary, after one refused attempt on the first run; it is
			// posted after the result files are written.
			var calls int
			var bodies [][]byte
			deadline := time.Now().Add(10 * time.Second)
			for {
				calls, bodies = h.got()
				if len(bodies) > len(bodies0) || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if len(bodies) != len(bodies0)+1 {
				t.Fatalf("webhook: %d summaries after %d requests, want %d", len(bodies), calls, len(bodies0)+1)
			}
			if dest.name == "file" && calls-calls0 != 2 {
				t.Errorf("webhook: %d requests, want 2 (one refused with 503, then one accepted)", calls-calls0)
			}
			var s report.Summary
			if err := json.Unmarshal(bodies[len(bodies)-1], &s); err != nil {
				t.Fatal(err)
			}
			if s.Run != got.ID || s.State != store.StateSucceeded || s.Totals.Business.BusinessRows != int64(exp.Business.BusinessRows) ||
				len(s.Files) != 3 || s.Files[2] != base+".html" {
				t.Errorf("webhook summary: %+v", s)
			}
			client := source.New(dest.cfg)
			checkCSV(t, read(t, client, base+".csv"), exp)
			checkJSON(t, read(t, client, base+".json"), got, exp)
			checkHTML(t, read(t, client, base+".html"), exp)
		})
	}
}

// TestWebhookNeverFailsTheRun: a webhook that always answers 500 gets its bounded attempts and
// the run still succeeds; so does one nobody listens on.
func TestWebhookNeverFailsTheRun(t *testing.T) {
	f := newFixture(t, "{max_rows: 1}")
	recs := records(20)
	storeRecords(t, f.st, recs)
	f.generate(t, recs, bizgen.Plan{Changed: 1, Seed: 3})
	h := &hook{fail: 1 << 30}
	hs := httptest.NewServer(h)
	defer hs.Close()
	f.runner = New(Config{Store: f.st, Poll: 10 * time.Millisecond, Job: f.jobFunc(),
		CaughtUp: func(context.Context) (bool, error) { return true, nil },
		Webhook:  &webhook.Sender{Attempts: 3, Backoff: time.Millisecond}})
	stop := f.start(t)
	defer stop()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, url := range []string{hs.URL, closed.URL} {
		f.j.Webhook = url
		r, err := f.runner.Trigger(t.Context(), "transfers", "2025-12-05", "")
		if err != nil {
			t.Fatal(err)
		}
		if got := waitRun(t, f.st, r.ID); got.State != store.StateSucceeded {
			t.Fatalf("run with webhook %s: %s %s", url, got.State, got.Error)
		}
	}
	// The runner posts after the commit: wait for the loop to be done with the first run.
	stop()
	if calls, _ := h.got(); calls != 3 {
		t.Errorf("webhook answering 500: %d requests, want 3", calls)
	}
}

// TestReportListsAtMost: the HTML report lists MaxListed differences and says how many more.
func TestReportListsAtMost(t *testing.T) {
	f := newFixture(t, "{max_rows: 1}")
	recs := records(40)
	storeRecords(t, f.st, recs)
	exp := f.generate(t, recs, plan)
	dir := t.TempDir()
	f.j.Results = "file://" + dir
	h := &hook{}
	hs := httptest.NewServer(h)
	defer hs.Close()
	f.j.Webhook = hs.URL
	f.runner = New(Config{Store: f.st, Poll: 10 * time.Millisecond, Job: f.jobFunc(), MaxListed: 3,
		CaughtUp: func(context.Context) (bool, error) { return true, nil }})
	stop := f.start(t)
	defer stop()
	r, err := f.runner.Trigger(t.Context(), "transfers", "2025-12-05", "")
	if err != nil {
		t.Fatal(err)
	}
	got := waitRun(t, f.st, r.ID)
	deadline := time.Now().Add(10 * time.Second)
	for _, b := h.got(); len(b) == 0 && time.Now().Before(deadline); _, b = h.got() {
		time.Sleep(10 * time.Millisecond)
	}
	b, err := os.ReadFile(filepath.Join(dir, report.Name(got)+".html"))
	if err != nil {
		t.Fatal(err)
	}
	differences := len(exp.Rows) - exp.Count(bizgen.Matched)
	if n := bytes.Count(b, []byte("<tr class=")); n != 3 {
		t.Errorf("HTML report lists %d differences, want 3", n)
	}
	if want := fmt.Sprintf("… and %d more differences", differences-3); !bytes.Contains(b, []byte(want)) {
		t.Errorf("HTML report does not say %q:\n%s", want, b)
	}
}

func TestWebhookGivesUpOnRefusal(t *testing.T) {
	var calls int
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls++
		http.Error(w, "no such hook", http.StatusNotFound)
	}))
	defer hs.Close()
	err := (&webhook.Sender{Attempts: 5, Backoff: time.Millisecond}).Post(t.Context(), hs.URL, []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "404") || calls != 1 {
		t.Errorf("404: %v after %d requests, want an error after 1", err, calls)
	}
}

func read(t *testing.T, c *source.Client, uri string) []byte {
	t.Helper()
	f, err := c.Open(t.Context(), uri)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkCSV(t *testing.T, b []byte, exp *bizgen.Expected) {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(exp.Rows)+1 || strings.Join(rows[0], ",") != strings.Join(report.CSVHeader, ",") {
		t.Fatalf("CSV: %d lines, header %v; want %d results", len(rows), rows[0], len(exp.Rows))
	}
	for i, e := range exp.Rows {
		if rows[i+1][0] != string(e.Outcome) || rows[i+1][1] != strings.Join(e.Key, " ") {
			t.Errorf("CSV line %d: %v, want %s %v", i+2, rows[i+1][:2], e.Outcome, e.Key)
		}
	}
}

func checkJSON(t *testing.T, b []byte, r *store.Run, exp *bizgen.Expected) {
	t.Helper()
	var doc struct {
		Run     report.Summary
		Results []struct {
			Outcome string
			Key     []string
			Diffs   []report.Diff
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("JSON result file: %v", err)
	}
	if doc.Run.Run != r.ID || len(doc.Results) != len(exp.Rows) {
		t.Fatalf("JSON: run %d with %d results, want run %d with %d", doc.Run.Run, len(doc.Results), r.ID, len(exp.Rows))
	}
	for i, e := range exp.Rows {
		x := doc.Results[i]
		var fields []string
		for _, d := range x.Diffs {
			fields = append(fields, d.Field)
		}
		if x.Outcome != string(e.Outcome) || strings.Join(x.Key, " ") != strings.Join(e.Key, " ") || strings.Join(fields, ",") != strings.Join(e.Fields, ",") {
			t.Errorf("JSON result %d: %s %v %v, want %s %v %v", i, x.Outcome, x.Key, fields, e.Outcome, e.Key, e.Fields)
		}
	}
}

// checkHTML parses the report and finds every planted difference in its differences table.
func checkHTML(t *testing.T, b []byte, exp *bizgen.Expected) {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("HTML report: %v", err)
	}
	var table *html.Node
	var find func(*html.Node)
	find = func(n *html.Node) {
		for _, a := range n.Attr {
			if n.Type == html.ElementNode && a.Key == "id" && a.Val == "differences" {
				table = n
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			find(c)
		}
	}
	find(doc)
	if table == nil {
		t.Fatalf("HTML report has no differences table:\n%s", b)
	}
	var text func(*html.Node) string
	text = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var s strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			s.WriteString(text(c))
			s.WriteString(" ")
		}
		return s.String()
	}
	listed := text(table)
	for _, e := range exp.Rows {
		if e.Outcome == bizgen.Matched {
			continue
		}
		want := strings.Join(e.Key, " ")
		if e.Outcome == bizgen.Malformed {
			if !strings.Contains(listed, "malformed") || !strings.Contains(listed, "t-20251205.csv:") {
				t.Errorf("HTML report does not list the malformed row with its file and line")
			}
			continue
		}
		if !strings.Contains(listed, want) {
			t.Errorf("HTML report does not list %s %s", e.Outcome, want)
		}
		for _, fl := range e.Fields {
			if !strings.Contains(listed, fl+":") {
				t.Errorf("HTML report does not name field %s of %s", fl, want)
			}
		}
	}
	if strings.Count(listed, "matched") != strings.Count(listed, "mismatched") {
		t.Error("HTML report lists matched rows among the differences")
	}
}
