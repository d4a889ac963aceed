package auth

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Built-in role names. A policy may define others; these are only the ones the sample policy
// and the documentation use.
const (
	RoleReader    = "reader"
	RoleOperator  = "operator"
	RolePublisher = "publisher"
	RoleAdmin     = "admin"
)

// Admin HTTP endpoints are authorized like RPCs, under these names.
const (
	AdminMetrics = "admin/metrics"
	AdminPprof   = "admin/pprof"
)

// Policy is the YAML authorization policy (-auth.policy):
//
//	# RPCs anyone may call, without credentials (health checks).
//	public: ["grpc.health.v1.Health/*"]
//	roles:
//	  reader:
//	    - rpc: "bcosdata.export.v1.ExportService/List*"
//	  publisher:
//	    - rpc: "bcosdata.reconcile.v1.EvidenceService/Publish"
//	      resources: ["category:{subject}"]   # only the category named like the caller
//	# Roles granted to callers by name, whatever their credentials say.
//	subjects:
//	  - subject: "reconcile-client.bcosdata"  # a client certificate's CN or SAN
//	    via: mtls                             # optional: jwt, token or mtls
//	    roles: [reader]
//
// An rpc pattern matches the full method name without its leading slash ("package.Service/
// Method"); '*' matches any run of characters, so "*" grants every RPC and admin endpoint. A
// grant without resources covers every resource of the RPC; with resources, only those whose
// name matches one of the patterns, "{subject}" standing for the caller's subject. Whatever no
// grant covers is denied.
type Policy struct {
	Public   []string           `yaml:"public"`
	Roles    map[string][]Grant `yaml:"roles"`
	Subjects []SubjectRoles     `yaml:"subjects"`

	public []*regexp.Regexp
	grants map[string][]grant
}

// Grant gives a role one RPC pattern, optionally limited to some resources.
type Grant struct {
	RPC       string   `yaml:"rpc"`
	Resources []string `yaml:"resources"`
}

// SubjectRoles grants roles to a named caller.
type SubjectRoles struct {
	Subject string   `yaml:"subject"`
	Via     string   `yaml:"via"`
	Roles   []string `yaml:"roles"`
}

type grant struct {
	src       Grant
	rpc       *regexp.Regexp
	resources []string // patterns, "{subject}" substituted per call
}

// ParsePolicy reads a policy, rejecting unknown keys and malformed patterns.
func ParsePolicy(data []byte) (*Policy, error) {
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	var errs []error
	for _, pat := range p.Public {
		re, err := glob(pat)
		if err != nil {
			errs = append(errs, fmt.Errorf("policy: public %q: %w", pat, err))
			continue
		}
		p.public = append(p.public, re)
	}
	p.grants = map[string][]grant{}
	for role, gs := range p.Roles {
		if role == "" {
			errs = append(errs, errors.New("policy: a role without a name"))
		}
		for i, g := range gs {
			if g.RPC == "" {
				errs = append(errs, fmt.Errorf("policy: role %s, grant %d: no rpc", role, i+1))
				continue
			}
			re, err := glob(g.RPC)
			if err != nil {
				errs = append(errs, fmt.Errorf("policy: role %s, rpc %q: %w", role, g.RPC, err))
				continue
			}
			p.grants[role] = append(p.grants[role], grant{src: g, rpc: re, resources: g.Resources})
		}
	}
	for i, s := range p.Subjects {
		if s.Subject == "" {
			errs = append(errs, fmt.Errorf("policy: subjects entry %d: no subject", i+1))
		}
		switch s.Via {
		case "", ViaJWT, ViaToken, ViaMTLS:
		default:
			errs = append(errs, fmt.Errorf("policy: subject %s: via %q: want jwt, token or mtls", s.Subject, s.Via))
		}
		for _, r := range s.Roles {
			if _, ok := p.Roles[r]; !ok {
				errs = append(errs, fmt.Errorf("policy: subject %s: role %q is not defined under roles", s.Subject, r))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &p, nil
}

// glob compiles a pattern where '*' matches any run of characters.
func glob(pat string) (*regexp.Regexp, error) {
	if strings.TrimSpace(pat) == "" {
		return nil, errors.New("empty pattern")
	}
	parts := strings.Split(pat, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.Compile("^" + strings.Join(parts, ".*") + "$")
}

// matchResource matches a resource pattern, "{subject}" standing for subject taken literally
// (a '*' in a subject is no wildcard).
func matchResource(pattern, subject, resource string) bool {
	parts := strings.Split(pattern, "{subject}")
	for i, part := range parts {
		globs := strings.Split(part, "*")
		for j := range globs {
			globs[j] = regexp.QuoteMeta(globs[j])
		}
		parts[i] = strings.Join(globs, ".*")
	}
	re, err := regexp.Compile("^" + strings.Join(parts, regexp.QuoteMeta(subject)) + "$")
	return err == nil && re.MatchString(resource)
}

// method turns a full method name into the form policies name it.
func method(fullMethod string) string { return strings.TrimPrefix(fullMethod, "/") }

// IsPublic reports whether the RPC may be called without credentials.
func (p *Policy) IsPublic(fullMethod string) bool {
	m := method(fullMethod)
	return slices.ContainsFunc(p.public, func(re *regexp.Regexp) bool { return re.MatchString(m) })
}

// RolesOf returns the roles the policy grants a caller by name, beside those its credentials
// carry.
func (p *Policy) RolesOf(subject, via string) []string {
	var out []string
	for _, s := range p.Subjects {
		if s.Subject == subject && (s.Via == "" || s.Via == via) {
			out = append(out, s.Roles...)
		}
	}
	return out
}

// verdict is what a policy says of a call.
type verdict int

const (
	denied        verdict = iota
	allowed               // whatever the resource
	needsResource         // only resource-limited grants match: decide once the resource is known
)

// check decides the RPC for p without knowing the resource.
func (pol *Policy) check(p Principal, fullMethod string) (verdict, string) {
	m := method(fullMethod)
	limited := false
	for _, role := range sortedRoles(p.Roles) {
		for _, g := range pol.grants[role] {
			if !g.rpc.MatchString(m) {
				continue
			}
			if len(g.resources) == 0 {
				return allowed, fmt.Sprintf("role %s grants %s", role, g.src.RPC)
			}
			limited = true
		}
	}
	if limited {
		return needsResource, ""
	}
	return denied, fmt.Sprintf("no role of %s grants %s", describeRoles(p.Roles), m)
}

// Authorize decides the RPC on resource for p, returning whether it is allowed and why.
func (pol *Policy) Authorize(p Principal, fullMethod, resource string) (bool, string) {
	m := method(fullMethod)
	for _, role := range sortedRoles(p.Roles) {
		for _, g := range pol.grants[role] {
			if !g.rpc.MatchString(m) {
				continue
			}
			if len(g.resources) == 0 {
				return true, fmt.Sprintf("role %s grants %s", role, g.src.RPC)
			}
			for _, rp := range g.resources {
				if resource != "" && matchResource(rp, p.Subject, resource) {
					return true, fmt.Sprintf("role %s grants %s on %s", role, g.src.RPC, rp)
				}
			}
		}
	}
	if resource == "" {
		return false, fmt.Sprintf("no role of %s grants %s", describeRoles(p.Roles), m)
	}
	return false, fmt.Sprintf("no role of %s grants %s on %s", describeRoles(p.Roles), m, resource)
}

func sortedRoles(roles []string) []string {
	r := slices.Clone(roles)
	sort.Strings(r)
	return slices.Compact(r)
}

func describeRoles(roles []string) string {
	if len(roles) == 0 {
		return "the caller (it has none)"
	}
	return "[" + strings.Join(sortedRoles(roles), " ") + "]"
}
