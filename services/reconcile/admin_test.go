package reconcile

import (
	"context"
	"testing"

	"github.com/bcosdata/bcosdata/libs/app/auth"
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
