// Package auth authenticates and authorizes calls to bcosdata's gRPC and HTTP APIs: who calls
// (a Principal, from a JWT, a static API token or an mTLS client certificate), what the policy
// lets them do (a Decision per call), and the hook the audit trail plugs into.
package auth

import (
	"context"
	"slices"
)

// How a principal was authenticated.
const (
	ViaJWT       = "jwt"
	ViaToken     = "token"
	ViaMTLS      = "mtls"
	ViaAnonymous = "anonymous"
)

// Principal is the caller of one RPC, as authenticated.
type Principal struct {
	// Subject names the caller: the JWT's sub claim, the static token's subject, or the client
	// certificate's subject name (CN, else the first SAN). Empty for anonymous callers.
	Subject string
	// Roles are the roles the credentials and the policy grant.
	Roles []string
	// Via says how the caller was authenticated: ViaJWT, ViaToken, ViaMTLS or ViaAnonymous.
	Via string
	// Peer is the caller's network address; for HTTP API calls, the HTTP client's address,
	// not the gateway's.
	Peer string
}

// HasRole reports whether p holds role.
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

type ctxPrincipal struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxPrincipal{}, p)
}

// FromContext returns the principal ctx carries, if any. Every RPC handler behind the auth
// interceptors finds one (anonymous when auth is off).
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxPrincipal{}).(Principal)
	return p, ok
}

// Decision is the outcome of authorizing one call.
type Decision struct {
	Principal Principal
	// RPC is the full method name, "/bcosdata.export.v1.ExportService/RegisterContract".
	RPC string
	// Resource is what the call acts on, as the service's resource function names it
	// ("contract:0x…", "job:payments"); empty when the RPC names none.
	Resource string
	Allowed  bool
	// Reason says why: the role and rule that allowed it, or why it was denied.
	Reason string
	// RequestID is the x-request-id metadata (or HTTP header) of the call, or one made up.
	RequestID string
}

// DecisionHook is called once per authenticated call, after the decision and before the
// handler runs (denied calls included). It must not block for long: it runs on the RPC's path.
type DecisionHook func(ctx context.Context, d Decision)
