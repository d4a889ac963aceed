package auth

import (
	"os"
	"strings"
	"testing"
)

func TestSamplePolicy(t *testing.T) {
	data, err := os.ReadFile("../../../deploy/auth/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pol, err := ParsePolicy(data)
	if err != nil {
		t.Fatalf("the shipped policy does not parse: %v", err)
	}
	p := func(roles ...string) Principal { return Principal{Subject: "alice", Roles: roles, Via: ViaJWT} }
	cases := []struct {
		who      Principal
		rpc, res string
		want     bool
	}{
		{p("reader"), "/bcosdata.export.v1.ExportService/ListEvents", "", true},
		{p("reader"), "/bcosdata.export.v1.ExportService/RegisterContract", "contract:X", false},
		{p("operator"), "/bcosdata.export.v1.ExportService/RegisterContract", "contract:X", true},
		{p("operator"), "/bcosdata.export.v1.ExportService/ListEvents", "", false},
		{p("publisher"), "/bcosdata.reconcile.v1.EvidenceService/PublishRecord", "", true},
		{p("reader"), "/bcosdata.reconcile.v1.EvidenceService/RevokeRecord", "", false},
		{p("admin"), "/bcosdata.reconcile.v1.ReconcileService/DeleteJob", "job:a", true},
		{p("admin"), "/bcosdata.newarea.v1.NewService/Do", "", false},
		{p("admin"), AdminPprof, "", true},
		{p("metrics"), AdminMetrics, "", true},
		{p("metrics"), AdminPprof, "", false},
		{p("payments-team"), "/bcosdata.export.v1.ExportService/ListEvents", "contract:Payments", true},
		{p("payments-team"), "/bcosdata.export.v1.ExportService/ListEvents", "contract:0xabc", true},
		{p("payments-team"), "/bcosdata.export.v1.ExportService/ListEvents", "contract:Other", false},
		{p("payments-team"), "/bcosdata.export.v1.ExportService/ListEvents", "", false},
		{p(), "/bcosdata.stash.v1.StashService/Status", "", false},
	}
	for _, c := range cases {
		got, reason := pol.Authorize(c.who, c.rpc, c.res)
		if got != c.want {
			t.Errorf("%v on %s %q: allowed %v (%s), want %v", c.who.Roles, c.rpc, c.res, got, reason, c.want)
		}
	}
	if r := pol.RolesOf("reconcile.bcosdata.svc", ViaMTLS); len(r) != 1 || r[0] != "reader" {
		t.Errorf("roles of the reconcile certificate: %v", r)
	}
	if r := pol.RolesOf("reconcile.bcosdata.svc", ViaJWT); len(r) != 0 {
		t.Errorf("a JWT named like the certificate got its roles: %v", r)
	}
}

func TestPolicySubjectPattern(t *testing.T) {
	pol, err := ParsePolicy([]byte(`
roles:
  publisher:
    - rpc: "ev.Svc/Revoke"
      resources: ["category:{subject}"]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		subject, res string
		want         bool
	}{
		{"acme", "category:acme", true},
		{"acme", "category:other", false},
		{"*", "category:other", false}, // a subject is no wildcard
		{"a.c", "category:abc", false},
	} {
		got, _ := pol.Authorize(Principal{Subject: c.subject, Roles: []string{"publisher"}}, "/ev.Svc/Revoke", c.res)
		if got != c.want {
			t.Errorf("subject %q on %s: %v, want %v", c.subject, c.res, got, c.want)
		}
	}
}

func TestParsePolicyErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"rolez: {}", "field rolez not found"},
		{"roles: {r: [{resources: [x]}]}", "no rpc"},
		{"roles: {r: [{rpc: a}]}\nsubjects: [{subject: s, roles: [q]}]", `role "q" is not defined`},
		{"subjects: [{subject: s, via: ldap}]", `via "ldap"`},
	} {
		_, err := ParsePolicy([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.yaml, err, c.want)
		}
	}
}

func TestParseTokens(t *testing.T) {
	m, err := ParseTokens([]byte("# machines\n" + TokenHash("s3cret") + " ci reader,operator\n\n" + TokenHash("other") + " bare\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 {
		t.Fatalf("%d tokens, want 2", len(m))
	}
	for _, bad := range []string{"md5:abcd ci", "sha256:zz ci", TokenHash("x"), TokenHash("x") + " a b c d"} {
		if _, err := ParseTokens([]byte(bad)); err == nil {
			t.Errorf("%q: accepted", bad)
		} else if strings.Contains(err.Error(), "x") && strings.Contains(bad, "sha256:") && strings.Contains(err.Error(), bad) {
			t.Errorf("error quotes the line: %v", err)
		}
	}
}
