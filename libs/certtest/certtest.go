// Package certtest makes throwaway certificate authorities and certificates for tests of TLS
// clients and servers (the services' APIs, Kafka, PostgreSQL), written as PEM files into the
// test's directory.
package certtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority that signs server and client certificates.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// CertFile is the CA certificate in PEM, for a client's or server's trust store.
	CertFile string
}

// Pair is a signed certificate and its key, in memory and as PEM files (in a directory of
// its own, so two certificates of one name never share files).
type Pair struct {
	TLS      tls.Certificate
	Leaf     *x509.Certificate
	CertFile string
	KeyFile  string
}

// NewCA makes a CA named name and writes its certificate to tb's temp dir.
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	key := newKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber: next(), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("create CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("parse CA certificate: %v", err)
	}
	ca := &CA{Cert: cert, Key: key, CertFile: filepath.Join(tb.TempDir(), name+"-ca.crt")}
	writePEM(tb, ca.CertFile, "CERTIFICATE", der)
	return ca
}

// Pool returns a cert pool holding the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Server signs a server certificate for 127.0.0.1, ::1 and localhost (and hosts).
func (ca *CA) Server(tb testing.TB, name string, hosts ...string) Pair {
	tb.Helper()
	tmpl := ca.template(name, x509.ExtKeyUsageServerAuth)
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	tmpl.DNSNames = append([]string{"localhost"}, hosts...)
	return ca.sign(tb, name, tmpl)
}

// Client signs a client certificate with common name cn and DNS names dns.
func (ca *CA) Client(tb testing.TB, cn string, dns ...string) Pair {
	tb.Helper()
	tmpl := ca.template(cn, x509.ExtKeyUsageClientAuth)
	tmpl.DNSNames = dns
	return ca.sign(tb, cn, tmpl)
}

func (ca *CA) template(cn string, usage x509.ExtKeyUsage) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: next(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
}

func (ca *CA) sign(tb testing.TB, name string, tmpl *x509.Certificate) Pair {
	tb.Helper()
	key := newKey(tb)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		tb.Fatalf("sign certificate %s: %v", name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatalf("marshal key of %s: %v", name, err)
	}
	dir := tb.TempDir()
	p := Pair{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")}
	writePEM(tb, p.CertFile, "CERTIFICATE", der)
	writePEM(tb, p.KeyFile, "PRIVATE KEY", keyDER)
	p.TLS, err = tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		tb.Fatalf("load certificate %s: %v", name, err)
	}
	if p.Leaf, err = x509.ParseCertificate(der); err != nil {
		tb.Fatalf("parse certificate %s: %v", name, err)
	}
	p.TLS.Leaf = p.Leaf
	return p
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("generate key: %v", err)
	}
	return key
}

func next() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

func writePEM(tb testing.TB, path, typ string, der []byte) {
	tb.Helper()
	// 0600: PostgreSQL refuses a key file others can read.
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatalf("write %s: %v", path, err)
	}
}
