package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// Credentials are what one call presents.
type Credentials struct {
	// Bearer is the bearer token of the authorization metadata or header, without "Bearer ".
	Bearer string
	// Cert is the client certificate, only when the TLS handshake verified it against the
	// client CA.
	Cert *x509.Certificate
	// Peer is the caller's address.
	Peer string
}

// errNoCredentials: the call carries none; errors of bad credentials never quote them.
var errNoCredentials = errors.New("no credentials: send a bearer token (authorization: Bearer …) or a client certificate")

// staticToken is one line of the tokens file.
type staticToken struct {
	subject string
	roles   []string
}

// ParseTokens reads a static API tokens file: one token per line as
//
//	sha256:<64 hex digits of the token's SHA-256> <subject> [role,role…]
//
// with blank lines and lines starting with '#' ignored. Only hashes are stored, so the file
// does not give the tokens away. Make a line with
// `printf %s "$TOKEN" | sha256sum`.
func ParseTokens(data []byte) (map[[sha256.Size]byte]staticToken, error) {
	out := map[[sha256.Size]byte]staticToken{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("line %d: want \"sha256:<hex> subject [roles]\", got %d fields", n, len(f))
		}
		hexHash, ok := strings.CutPrefix(f[0], "sha256:")
		if !ok {
			return nil, fmt.Errorf("line %d: the hash must start with \"sha256:\" (sha256:<hex> subject [roles])", n)
		}
		var h [sha256.Size]byte
		if b, err := hex.DecodeString(hexHash); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("line %d: want 64 hex digits after \"sha256:\" in the hash", n)
		} else {
			copy(h[:], b)
		}
		if _, dup := out[h]; dup {
			return nil, fmt.Errorf("line %d: the same token hash twice", n)
		}
		t := staticToken{subject: f[1]}
		if len(f) == 3 {
			for _, r := range strings.Split(f[2], ",") {
				if r = strings.TrimSpace(r); r != "" {
					t.roles = append(t.roles, r)
				}
			}
		}
		out[h] = t
	}
	return out, sc.Err()
}

// parseJWKS reads a JSON Web Key Set.
func parseJWKS(data []byte) (keyfunc.Keyfunc, error) {
	if !json.Valid(data) {
		return nil, errors.New("not JSON")
	}
	return keyfunc.NewJWKSetJSON(data)
}

// authenticator turns credentials into a principal.
type authenticator struct {
	jwks       *watched[keyfunc.Keyfunc]
	tokens     *watched[map[[sha256.Size]byte]staticToken]
	issuer     string
	audience   string
	rolesClaim string
}

// authenticate checks c; roles are those the credentials carry plus those pol grants the
// subject.
func (a *authenticator) authenticate(c Credentials, pol *Policy) (Principal, error) {
	var (
		p   Principal
		err error
	)
	switch {
	case c.Bearer != "":
		p, err = a.bearer(c.Bearer)
	case c.Cert != nil:
		p = Principal{Subject: certSubject(c.Cert, pol), Via: ViaMTLS}
	default:
		return Principal{Via: ViaAnonymous, Peer: c.Peer}, errNoCredentials
	}
	if err != nil {
		return Principal{Via: ViaAnonymous, Peer: c.Peer}, err
	}
	p.Peer = c.Peer
	p.Roles = sortedRoles(append(p.Roles, pol.RolesOf(p.Subject, p.Via)...))
	return p, nil
}

// looksLikeJWT: three base64url parts.
func looksLikeJWT(tok string) bool { return strings.Count(tok, ".") == 2 }

func (a *authenticator) bearer(tok string) (Principal, error) {
	if a.jwks != nil && looksLikeJWT(tok) {
		return a.jwt(tok)
	}
	if a.tokens != nil {
		if t, ok := a.tokens.get()[sha256.Sum256([]byte(tok))]; ok {
			return Principal{Subject: t.subject, Roles: t.roles, Via: ViaToken}, nil
		}
		return Principal{}, errors.New("bearer token: not a known API token")
	}
	if a.jwks == nil {
		return Principal{}, errors.New("bearer token: this server accepts none (no -auth.jwks, no -auth.tokens)")
	}
	return Principal{}, errors.New("bearer token: not a JWT")
}

func (a *authenticator) jwt(tok string) (Principal, error) {
	kf := a.jwks.get()
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"RS256", "ES256"}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(a.issuer),
		jwt.WithAudience(a.audience),
		jwt.WithLeeway(jwtLeeway),
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(tok, claims, kf.Keyfunc, opts...); err != nil {
		return Principal{}, fmt.Errorf("bearer JWT: %w", err)
	}
	sub, err := claims.GetSubject()
	if err != nil || sub == "" {
		return Principal{}, errors.New("bearer JWT: no sub claim")
	}
	roles, err := claimRoles(claims[a.rolesClaim])
	if err != nil {
		return Principal{}, fmt.Errorf("bearer JWT: claim %s: %w", a.rolesClaim, err)
	}
	return Principal{Subject: sub, Roles: roles, Via: ViaJWT}, nil
}

// claimRoles accepts a list of strings or one space-separated string (OAuth's scope style).
func claimRoles(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return strings.Fields(v), nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want strings, got %T", e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a list of strings or a string, got %T", v)
}

// certNames lists the names a certificate answers to: its CN, then DNS, URI and email SANs.
func certNames(c *x509.Certificate) []string {
	var out []string
	if c.Subject.CommonName != "" {
		out = append(out, c.Subject.CommonName)
	}
	out = append(out, c.DNSNames...)
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	return append(out, c.EmailAddresses...)
}

// certSubject is the name the policy knows the certificate by (the first of its names a
// subjects entry lists), else its first name.
func certSubject(c *x509.Certificate, pol *Policy) string {
	names := certNames(c)
	for _, n := range names {
		if len(pol.RolesOf(n, ViaMTLS)) > 0 {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return c.Subject.String()
}
