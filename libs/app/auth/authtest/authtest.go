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
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/bcosdata/bcosdata/libs/app/auth"
)

// CA is a certificate authority made for one test.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// File is its certificate in PEM, for -tls.client-ca and for clients' root pools.
	File string
	t    testing.TB
}

func nextSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n
}

// NewCA makes a CA and writes its certificate into the test's directory.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &CA{Cert: cert, Key: key, t: t, File: filepath.Join(t.TempDir(), name+"-ca.pem")}
	writePEM(t, ca.File, "CERTIFICATE", der)
	return ca
}

// Pool is a root pool holding the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issued is a certificate with its key, in memory and as PEM files.
type Issued struct {
	TLS      tls.Certificate
	Leaf     *x509.Certificate
	CertFile string
	KeyFile  string
}

// Server issues a server certificate for localhost and 127.0.0.1.
func (ca *CA) Server(name string) *Issued {
	return ca.issue(&x509.Certificate{
		Subject: pkix.Name{CommonName: name}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// Client issues a client certificate with CN cn and the given DNS SANs.
func (ca *CA) Client(cn string, dns ...string) *Issued {
	return ca.issue(&x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (ca *CA) issue(tmpl *x509.Certificate) *Issued {
	t := ca.t
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = nextSerial()
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	is := &Issued{TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, Leaf: leaf,
		CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	writePEM(t, is.CertFile, "CERTIFICATE", der)
	writePEM(t, is.KeyFile, "PRIVATE KEY", keyDER)
	return is
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

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
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
