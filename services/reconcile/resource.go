package reconcile

import (
	"github.com/bcosdata/bcosdata/libs/app"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
)

var _ app.ResourceNamer = (*Service)(nil)

// Resource names what a ReconcileService or EvidenceService RPC acts on, for the auth policy's
// per-resource grants and the audit trail: "job:<name>" for the job calls, "run:<id>" for
// those naming a run, "category:<name>" for the evidence calls that carry a record (publish,
// supersede, revoke, erase, register) or filter by category; "" when the request names none.
func (s *Service) Resource(_ string, req any) string {
	switch r := req.(type) {
	case interface {
		GetRecord() *reconcilev1.EvidenceRecord
	}:
		return prefixed("category:", r.GetRecord().GetCategory())
	case interface{ GetCategory() string }:
		return prefixed("category:", r.GetCategory())
	case *reconcilev1.CreateJobRequest:
		return prefixed("job:", r.GetJob().GetName())
	case *reconcilev1.UpdateJobRequest:
		return prefixed("job:", r.GetJob().GetName())
	case *reconcilev1.GetJobRequest:
		return prefixed("job:", r.GetName())
	case *reconcilev1.DeleteJobRequest:
		return prefixed("job:", r.GetName())
	case *reconcilev1.TriggerRunRequest:
		return prefixed("job:", r.GetJob())
	case *reconcilev1.ListRunsRequest:
		return prefixed("job:", r.GetJob())
	case *reconcilev1.GetRunRequest:
		return prefixed("run:", r.GetRunId())
	case *reconcilev1.ListResultsRequest:
		return prefixed("run:", r.GetRunId())
	case *reconcilev1.DownloadResultRequest:
		return prefixed("run:", r.GetRunId())
	}
	return ""
}

func prefixed(prefix, v string) string {
	if v == "" {
		return ""
	}
	return prefix + v
}
