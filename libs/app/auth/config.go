package auth

import (
	"errors"
	"fmt"
)

// FlagSet is what RegisterFlags needs of a flag.FlagSet.
type FlagSet interface {
	StringVar(p *string, name, value, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
	IntVar(p *int, name string, value int, usage string)
	Float64Var(p *float64, name string, value float64, usage string)
}

// Config configures authentication, authorization and the per-principal limits of one
// server. Auth is on when Policy is set.
type Config struct {
	// Policy is the YAML policy file (see Policy); setting it turns auth on.
	Policy string
	// JWKS is a JSON Web Key Set file of the keys JWTs are signed with (RS256, ES256).
	JWKS string
	// JWTIssuer and JWTAudience are the iss and aud every JWT must carry.
	JWTIssuer, JWTAudience string
	// JWTRolesClaim names the claim listing the caller's roles; empty means
	// DefaultJWTRolesClaim.
	JWTRolesClaim string
	// Tokens is the static API tokens file (see ParseTokens).
	Tokens string
	// AdminAuth requires credentials and the admin/metrics or admin/pprof permission on the
	// admin HTTP server's /metrics and /debug/pprof (/livez and /readyz stay open for probes).
	AdminAuth bool

	// RateLimit is each principal's sustained calls per second (0: unlimited), RateBurst the
	// calls it may make at once above that.
	RateLimit float64
	RateBurst int
	// MaxStreams bounds each principal's concurrent streaming RPCs (0: unlimited).
	MaxStreams int
}

// Defaults of the limits.
const (
	DefaultRateBurst     = 50
	DefaultMaxStreams    = 64
	DefaultJWTRolesClaim = "roles"
)

// RegisterFlags adds the -auth.*, -admin.auth and -limits.* flags.
func (c *Config) RegisterFlags(fs FlagSet) {
	fs.StringVar(&c.Policy, "auth.policy", "", "YAML authorization policy file (roles, their RPC and resource grants, subjects' roles); setting it turns authentication and authorization on, denying whatever the policy does not grant; re-read on change")
	fs.StringVar(&c.JWKS, "auth.jwks", "", "JSON Web Key Set file with the public keys bearer JWTs are signed with (RS256, ES256); re-read on change")
	fs.StringVar(&c.JWTIssuer, "auth.jwt-issuer", "", "issuer (iss) every JWT must carry; required with -auth.jwks")
	fs.StringVar(&c.JWTAudience, "auth.jwt-audience", "", "audience (aud) every JWT must carry; required with -auth.jwks")
	fs.StringVar(&c.JWTRolesClaim, "auth.jwt-roles-claim", DefaultJWTRolesClaim, "JWT claim with the caller's roles (a list, or a space-separated string)")
	fs.StringVar(&c.Tokens, "auth.tokens", "", "static API tokens file, one \"sha256:<hex of the token's SHA-256> subject role,role\" a line; re-read on change")
	fs.BoolVar(&c.AdminAuth, "admin.auth", false, "require a bearer token granted admin/metrics or admin/pprof by the policy on the admin server's /metrics and /debug/pprof (/livez and /readyz stay open); needs -auth.policy")
	fs.Float64Var(&c.RateLimit, "limits.rate", 0, "calls per second each principal (caller, or client address when anonymous) may make on average; 0 means unlimited; over it calls fail with ResourceExhausted")
	fs.IntVar(&c.RateBurst, "limits.burst", DefaultRateBurst, "calls a principal may make at once above -limits.rate")
	fs.IntVar(&c.MaxStreams, "limits.streams", DefaultMaxStreams, "streaming RPCs (subscriptions, downloads) one principal may hold open at once; 0 means unlimited")
}

// Enabled reports whether auth is on.
func (c Config) Enabled() bool { return c.Policy != "" }

// Validate reports unusable combinations, naming the flags.
func (c Config) Validate() error {
	var errs []error
	if !c.Enabled() {
		if c.JWKS != "" {
			errs = append(errs, fmt.Errorf("-auth.jwks %s: needs -auth.policy, which turns auth on", c.JWKS))
		}
		if c.Tokens != "" {
			errs = append(errs, fmt.Errorf("-auth.tokens %s: needs -auth.policy, which turns auth on", c.Tokens))
		}
		if c.AdminAuth {
			errs = append(errs, errors.New("-admin.auth: needs -auth.policy, which grants the admin endpoints"))
		}
	}
	if c.JWKS != "" && (c.JWTIssuer == "" || c.JWTAudience == "") {
		errs = append(errs, fmt.Errorf("-auth.jwks %s: needs -auth.jwt-issuer and -auth.jwt-audience, which every JWT must name", c.JWKS))
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("-limits.rate %v: want 0 (unlimited) or more", c.RateLimit))
	}
	if c.RateLimit > 0 && c.RateBurst < 1 {
		errs = append(errs, fmt.Errorf("-limits.burst %d: want at least 1 with -limits.rate", c.RateBurst))
	}
	if c.MaxStreams < 0 {
		errs = append(errs, fmt.Errorf("-limits.streams %d: want 0 (unlimited) or more", c.MaxStreams))
	}
	return errors.Join(errs...)
}
