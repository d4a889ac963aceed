package demo

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
)

// TestDemoPublishesEvidence runs the live demo (no -blocks) to its summary: it publishes
// signed records, waits for their anchor, writes a proof that verifies offline, and prints the
// command that verifies it on chain.
func TestDemoPublishesEvidence(t *testing.T) {
	pgtest.SkipIfShort(t)
	cfg := testConfig(t)
	cfg.ExitWhenDone, cfg.JSON, cfg.TPS = true, true, 100
	var progress, summary bytes.Buffer
	if err := cfg.run(t.Context(), &progress, &summary); err != nil {
		t.Fatalf("demo: %v\n%s", err, progress.String())
	}
	var s Summary
	if err := json.Unmarshal(summary.Bytes(), &s); err != nil {
		t.Fatalf("summary is not one JSON object: %v\n%s", err, summary.String())
	}
	if e := s.Evidence; e == nil || e.Published != demoRecords || e.Anchored != demoRecords || e.Verify == "" {
		t.Fatalf("evidence in the summary: %+v, want %d records published and anchored, and a verify command", e, demoRecords)
	}
	m := regexp.MustCompile(`bcosdata evidence verify (\S+) -rpc http://\S+`).FindStringSubmatch(progress.String())
	if m == nil {
		t.Fatalf("no verify command printed:\n%s", progress.String())
	}
	if filepath.Dir(m[1]) != evidenceDir(cfg.Data) {
		t.Errorf("proof written to %s, want it in %s", m[1], evidenceDir(cfg.Data))
	}
	b, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatal(err)
	}
	var p evidence.Proof
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("proof %s: %v", m[1], err)
	}
	if err := p.VerifyOffline(); err != nil || p.Anchor.IsZero() {
		t.Fatalf("proof %s: %v (anchor %+v)", m[1], err, p.Anchor)
	}
}

// TestSummaryChecksEvidence: -exit-when-done fails unless every published record is anchored,
// and not when evidence was skipped (a chain kept at or past -blocks); the text summary says
// which.
func TestSummaryChecksEvidence(t *testing.T) {
	rec := &Reconciliation{RunID: "r", State: "succeeded", Outcomes: map[string]int{"matched": 1}, Expected: map[string]int{"matched": 1}}
	anchored := &Evidence{Published: 3, Anchored: 3, Records: []string{"a", "b", "c"}, AnchorBlock: 12, AnchorTransaction: "0xab", Proof: "/p/a.proof.json"}
	for _, tc := range []struct {
		name    string
		ev      *Evidence
		wantErr string
		text    string
	}{
		{"anchored", anchored, "", "evidence 3 records published, 3 anchored in block 12 (transaction 0xab); proof of a in /p/a.proof.json"},
		{"skipped", &Evidence{Skipped: "the chain is at block 9 already"}, "", "evidence skipped: the chain is at block 9 already"},
		{"none", nil, "no evidence", ""},
		{"unpublished", &Evidence{Error: "waiting for reconcile's EvidenceService to answer: deadline"}, "evidence: 0 records published, 0 anchored: waiting", "EVIDENCE: waiting"},
		{"unanchored", &Evidence{Published: 3, Anchored: 1, Records: []string{"a", "b", "c"}}, "evidence: 3 records published, 1 anchored", "evidence 3 records published, 1 anchored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Summary{Chain: "c", Reconciliation: rec, Evidence: tc.ev}
			err := s.check()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("check: %v, want %q", err, tc.wantErr)
			}
			var text bytes.Buffer
			if err := s.print(&text, false); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), tc.text) {
				t.Errorf("text summary has no %q:\n%s", tc.text, text.String())
			}
		})
	}
}

func TestShellWord(t *testing.T) {
	for in, want := range map[string]string{
		"/data/demo/evidence/x.proof.json": "/data/demo/evidence/x.proof.json",
		"/my data/x.json":                  "'/my data/x.json'",
		"/it's/x.json":                     `'/it'\''s/x.json'`,
	} {
		if got := shellWord(in); got != want {
			t.Errorf("shellWord(%q) = %s, want %s", in, got, want)
		}
	}
}
