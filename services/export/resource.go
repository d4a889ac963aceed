package export

import (
	"github.com/bcosdata/bcosdata/libs/app"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
)

var _ app.ResourceNamer = (*Service)(nil)

// Resource names the contract an ExportService RPC acts on, "contract:<name or address>" as the
// request gives it, for the auth policy's per-contract grants and the audit trail; "" when the
// request names none (every contract).
func (s *Service) Resource(_ string, req any) string {
	var c string
	switch r := req.(type) {
	case *exportv1.RegisterContractRequest:
		c = r.GetName()
	case *exportv1.GetContractRequest:
		c = first(r.GetName(), r.GetAddress())
	case *exportv1.ReExportRequest:
		c = r.GetContract()
	case *exportv1.ListTransactionsRequest:
		c = r.GetContract()
	case *exportv1.ListEventsRequest:
		c = first(r.GetContract(), r.GetContractAddress())
	case *exportv1.ListCallsRequest:
		c = first(r.GetContract(), r.GetContractAddress())
	case *exportv1.SubscribeEventsRequest:
		c = first(r.GetContract(), r.GetContractAddress())
	case *exportv1.SubscribeCallsRequest:
		c = first(r.GetContract(), r.GetContractAddress())
	}
	if c == "" {
		return ""
	}
	return "contract:" + c
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
