package reconcile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/libs/await"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
)

// TestSampleBusinessFileFromStoredRecords makes a business file from the records reconcile
// consumed and reconciles it: the run reports what SampleBusinessFile said it must.
func TestSampleBusinessFileFromStoredRecords(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, "file://"+dir, "t-{yyyyMMdd}.csv")
	recs := records(40)
	e.produce(recs)
	r := e.start(nil)
	await.True(t, 30*time.Second, "reconcile consumed every record", func() bool {
		var n int
		err := r.svc.deps.Pool.QueryRow(t.Context(), `SELECT count(*) FROM reconcile.records`).Scan(&n)
		return err == nil && n == len(recs)
	})
	var buf bytes.Buffer
	want, n, err := r.svc.SampleBusinessFile(t.Context(), "transfers", &buf, plan)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(recs) {
		t.Errorf("made from %d records, want %d", n, len(recs))
	}
	if _, _, err := r.svc.SampleBusinessFile(t.Context(), "nope", &bytes.Buffer{}, plan); err == nil {
		t.Error("a sample for a job that does not exist")
	}
	file := filepath.Join(dir, "sample.csv")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	run := r.trigger(t, &reconcilev1.TriggerRunRequest{Job: "transfers", FileUri: "file://" + file})
	if run.GetState() != reconcilev1.RunState_RUN_STATE_SUCCEEDED {
		t.Fatalf("run %s: %s", run.GetState(), run.GetError())
	}
	got := map[string]int{}
	for _, x := range r.results(t, run.GetRunId(), 100) {
		got[string(outcomeNames[x.GetOutcome()])]++
	}
	if len(got) != len(want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	for o, c := range want {
		if got[o] != c {
			t.Errorf("outcomes %v, want %v", got, want)
			break
		}
	}
}
