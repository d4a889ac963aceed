package demo

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/bcosdata/bcosdata/libs/evidence"
)

// TestDemoPublishesEvidence runs the live demo (no -blocks) to its summary: it publishes
// signed records, waits for their anchor, writes a proof that verifies offline, and prints the
// command that verifies it on chain.
func TestDemoPublishesEvidence(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	cfg := testConfig(t)
	cfg.ExitWhenDone, cfg.JSON, cfg.TPS = true, true, 100
	var progress, summary bytes.Buffer
	if err := cfg.run(t.Context(), &progress, &summary); err != nil {
		t.Fatalf("demo: %v\n%s", err, progress.String())
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
