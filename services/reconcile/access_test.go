package reconcile

import (
	"context"
	"testing"

	"github.com/bcosdata/bcosdata/libs/app/auth"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
)

// TestOnlyAdminCallersActOnOthersRecords checks the evidence service's admin hook: the admin
// role of the authenticated caller counts; a publisher's own registration claiming roles, a
// caller with other roles, and an unauthenticated call (auth off) do not.
func TestOnlyAdminCallersActOnOthersRecords(t *testing.T) {
	caller := func(roles ...string) context.Context {
		return auth.NewContext(context.Background(), auth.Principal{Subject: "alice", Roles: roles, Via: auth.ViaJWT})
	}
	for _, c := range []struct {
		name string
		ctx  context.Context
		regs []string
		want bool
	}{
		{"admin caller", caller(auth.RoleReader, auth.RoleAdmin), nil, true},
		{"operator caller", caller(auth.RoleOperator), nil, false},
		{"no caller, publisher registered as admin", context.Background(), []string{auth.RoleAdmin}, false},
		{"publisher caller registered as admin", caller(auth.RolePublisher), []string{auth.RoleAdmin}, false},
	} {
		if got := callerIsAdmin(c.ctx, "acme", c.regs); got != c.want {
			t.Errorf("%s: admin = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestResourcesNameTheRecordCategory checks what the auth policy's per-resource grants see of
// the evidence calls: the category of the record a call carries, or the one a list filters by
// (a grant "category:{subject}" keeps a publisher to its own category).
func TestResourcesNameTheRecordCategory(t *testing.T) {
	s := &Service{}
	rec := &reconcilev1.EvidenceRecord{Id: "inv-1", Category: "invoice"}
	for _, c := range []struct {
		req  any
		want string
	}{
		{&reconcilev1.PublishRecordRequest{Record: rec}, "category:invoice"},
		{&reconcilev1.SupersedeRecordRequest{Record: rec}, "category:invoice"},
		{&reconcilev1.RevokeRecordRequest{Record: rec}, "category:invoice"},
		{&reconcilev1.EraseRecordRequest{Record: rec}, "category:invoice"},
		{&reconcilev1.RegisterPublisherRequest{Record: &reconcilev1.EvidenceRecord{Category: "publisher"}}, "category:publisher"},
		{&reconcilev1.ListRecordsRequest{Category: "invoice"}, "category:invoice"},
		{&reconcilev1.ListRecordsRequest{}, ""},
		{&reconcilev1.TriggerRunRequest{Job: "transfers"}, "job:transfers"},
	} {
		if got := s.Resource("", c.req); got != c.want {
			t.Errorf("%T: resource %q, want %q", c.req, got, c.want)
		}
	}
}
