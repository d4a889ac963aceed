package reconcile

import (
	"context"
	"fmt"
	"io"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/bizgen"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/run"
)

// SamplePlan says how many differences SampleBusinessFile plants: amounts changed beyond and
// within the tolerance, records left out of the file, rows on no record, duplicated keys and
// malformed rows (see internal/bizgen).
type SamplePlan = bizgen.Plan

// SampleBusinessFile writes to w a business file for the named job, made from the chain
// records reconcile holds for it (reconcile.records, as the job selects them) with plan's
// differences planted, and returns how many results of each outcome (matched, mismatched,
// missing_on_chain, missing_in_business, duplicate_in_business, malformed) a run given that
// file only must report, and how many records it was made from. It is for demos and
// end-to-end checks; it needs Run to have started.
func (s *Service) SampleBusinessFile(ctx context.Context, jobName string, w io.Writer, plan SamplePlan) (map[string]int, int, error) {
	b := s.backend.Load()
	if b == nil {
		return nil, 0, ErrNotStarted
	}
	j, err := b.Jobs.Job(ctx, jobName)
	if err != nil {
		return nil, 0, err
	}
	recs, err := run.Records(ctx, s.deps.Pool, j)
	if err != nil {
		return nil, 0, err
	}
	for _, r := range recs {
		// A sample business file carries the values in clear, as a real one does.
		if err := run.OpenValues(s.crypto, r); err != nil {
			return nil, 0, fmt.Errorf("sample business file for job %s: %w", jobName, err)
		}
	}
	chain := make([]bizgen.ChainRecord, len(recs))
	for i, r := range recs {
		chain[i] = r
	}
	exp, err := bizgen.Generate(w, j, chain, plan)
	if err != nil {
		return nil, 0, fmt.Errorf("sample business file for job %s: %w", jobName, err)
	}
	out := make(map[string]int)
	for _, o := range bizgen.Outcomes {
		if n := exp.Count(o); n > 0 {
			out[string(o)] = n
		}
	}
	return out, len(recs), nil
}
