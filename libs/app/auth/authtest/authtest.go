// Package authtest makes the credentials auth tests need: a CA with server and client
// certificates, a JWKS with keys to sign JWTs, and static API token files, all generated in the
// test and written to its temporary directory.
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/bcosdata/bcosdata/libs/app/auth"
	"github.com/bcosdata/bcosdata/libs/certtest"
)

// CA is a certificate authority made for one test (libs/certtest's, with the test bound).
type CA struct {
	*certtest.CA
	// File is its certificate in PEM, for -tls.client-ca and for clients' root pools.
	File string
	t    testing.TB
}

// NewCA makes a CA and writes its certificate into the test's directory.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	ca := certtest.NewCA(t, name)
	return &CA{CA: ca, File: ca.CertFile, t: t}
}

// Issued is a certificate with its key, in memory and as PEM files.
type Issued certtest.Pair

// Server issues a server certificate for localhost and 127.0.0.1.
func (ca *CA) Server(name string) *Issued {
	ca.t.Helper()
	p := Issued(ca.CA.Server(ca.t, name))
	return &p
}

// Client issues a client certificate with CN cn and the given DNS SANs.
func (ca *CA) Client(cn string, dns ...string) *Issued {
	ca.t.Helper()
	p := Issued(ca.CA.Client(ca.t, cn, dns...))
	return &p
}

// CopyTo writes the certificate and key over the given files (a rotation), with a
// modification time one second later than the files had, so the change is seen even on file
// systems with coarse timestamps.
func (is *Issued) CopyTo(t testing.TB, certFile, keyFile string) {
	t.Helper()
	for _, f := range [][2]string{{is.CertFile, certFile}, {is.KeyFile, keyFile}} {
		data, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		old, err := os.Stat(f[1])
		if err != nil {
			t.Fatal(err)
		}
		tmp := f[1] + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		later := old.ModTime().Add(time.Second)
		if err := os.Chtimes(tmp, later, later); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f[1]); err != nil {
			t.Fatal(err)
		}
	}
}

// Issuer signs JWTs with an ES256 and an RS256 key published in a JWKS file.
type Issuer struct {
	Name, Audience string
	// File is the JWKS, for -auth.jwks.
	File string
	ec   *ecdsa.PrivateKey
	rsa  *rsa.PrivateKey
	t    testing.TB
}

// NewIssuer makes the keys and writes the JWKS.
func NewIssuer(t testing.TB, name, audience string) *Issuer {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &Issuer{Name: name, Audience: audience, ec: ec, rsa: rk, t: t, File: filepath.Join(t.TempDir(), "jwks.json")}
	var set jwkset.JWKSMarshal
	for _, k := range []struct {
		pub crypto.PublicKey
		kid string
		alg jwkset.ALG
	}{{&ec.PublicKey, "ec1", jwkset.AlgES256}, {&rk.PublicKey, "rsa1", jwkset.AlgRS256}} {
		jwk, err := jwkset.NewJWKFromKey(k.pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: k.alg, USE: jwkset.UseSig}})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(is.File, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return is
}

// Token signs a JWT for subject with roles (ES256), valid for an hour.
func (is *Issuer) Token(subject string, roles ...string) string {
	return is.Sign(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": is.Name, "aud": is.Audience, "sub": subject, "roles": roles,
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	})
}

// Sign signs claims with the issuer's key for method (ES256 or RS256; any other method is
// signed with a made-up HMAC key, which the server must refuse).
func (is *Issuer) Sign(method jwt.SigningMethod, claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(method, claims)
	var key any = []byte("not a key the server knows")
	switch method {
	case jwt.SigningMethodES256:
		tok.Header["kid"], key = "ec1", is.ec
	case jwt.SigningMethodRS256:
		tok.Header["kid"], key = "rsa1", is.rsa
	}
	s, err := tok.SignedString(key)
	if err != nil {
		is.t.Fatal(err)
	}
	return s
}

// Tokens writes a static API tokens file; each entry is token → "subject role,role".
func Tokens(t testing.TB, entries map[string]string) string {
	t.Helper()
	var b strings.Builder
	for tok, who := range entries {
		b.WriteString(auth.TokenHash(tok) + " " + who + "\n")
	}
	f := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// WriteFile writes data to a new file in the test's directory and returns its path.
func WriteFile(t testing.TB, name, data string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
