package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASL mechanisms the clients speak.
const (
	ScramSHA256 = "scram-sha-256"
	ScramSHA512 = "scram-sha-512"
)

// SecurityFlags are how the clients reach the brokers: TLS (a CA to verify the brokers, a
// client certificate for mutual TLS) and SASL/SCRAM. All empty means plaintext, as the demo's
// embedded broker speaks.
type SecurityFlags struct {
	// TLS turns TLS on with the system's roots; TLSCA, TLSCert or TLSKey also turn it on.
	TLS bool
	// TLSCA is a PEM file of the CAs that sign the brokers' certificates.
	TLSCA string
	// TLSCert and TLSKey are the client certificate and key (PEM) for mutual TLS; they are
	// read again when the files change, so a renewed certificate needs no restart.
	TLSCert, TLSKey string
	// TLSServerName overrides the name checked in the brokers' certificates.
	TLSServerName string
	// SASLMechanism is "", ScramSHA256 or ScramSHA512.
	SASLMechanism string
	SASLUser      string
	// SASLPassword comes from the environment (<PREFIX>_KAFKA_SASL_PASSWORD) or the command
	// line; SASLPasswordFile is read at start instead when set. Neither is ever printed.
	SASLPassword     secret
	SASLPasswordFile string
}

// secret is a flag value that never shows itself (in -h, in logs of the flags, in errors).
type secret string

func (s *secret) String() string     { return "" }
func (s *secret) Set(v string) error { *s = secret(v); return nil }

func (f *SecurityFlags) register(prefix string, fs *flag.FlagSet) {
	fs.BoolVar(&f.TLS, prefix+"tls", false, "connect to the brokers over TLS (implied by -"+prefix+"tls.ca, -"+prefix+"tls.cert)")
	fs.StringVar(&f.TLSCA, prefix+"tls.ca", "", "PEM file of the CAs that sign the brokers' certificates (default: the system's roots)")
	fs.StringVar(&f.TLSCert, prefix+"tls.cert", "", "client certificate (PEM) for mutual TLS with the brokers; reloaded when the file changes")
	fs.StringVar(&f.TLSKey, prefix+"tls.key", "", "client key (PEM) of -"+prefix+"tls.cert")
	fs.StringVar(&f.TLSServerName, prefix+"tls.server-name", "", "name to verify in the brokers' certificates (default: the broker's host)")
	fs.StringVar(&f.SASLMechanism, prefix+"sasl.mechanism", "", "SASL mechanism: scram-sha-256 or scram-sha-512 (empty: no SASL)")
	fs.StringVar(&f.SASLUser, prefix+"sasl.user", "", "SASL user")
	fs.Var(&f.SASLPassword, prefix+"sasl.password", "SASL password; give it through the environment variable rather than the command line, or use -"+prefix+"sasl.password-file")
	fs.StringVar(&f.SASLPasswordFile, prefix+"sasl.password-file", "", "file holding the SASL password (trailing newline ignored)")
}

// Security is the TLS configuration and SASL mechanism of the clients; the zero value is
// plaintext without SASL.
type Security struct {
	TLS  *tls.Config
	SASL sasl.Mechanism
	// err is why the flags could not be turned into a Security; every dial fails with it.
	err error
}

// Err reports why the security flags are unusable, if they are.
func (s Security) Err() error { return s.err }

// load builds the Security the flags describe, naming the flag of any problem.
func (f *SecurityFlags) load(prefix string) (Security, error) {
	var sec Security
	var errs []error
	if f.TLS || f.TLSCA != "" || f.TLSCert != "" || f.TLSKey != "" || f.TLSServerName != "" {
		cfg, err := f.tlsConfig(prefix)
		if err != nil {
			errs = append(errs, err)
		}
		sec.TLS = cfg
	}
	switch m := strings.ToLower(f.SASLMechanism); m {
	case "":
		if f.SASLUser != "" {
			errs = append(errs, fmt.Errorf("-%ssasl.user %q: needs -%ssasl.mechanism", prefix, f.SASLUser, prefix))
		}
	case ScramSHA256, ScramSHA512:
		pass, err := f.password(prefix)
		if err != nil {
			errs = append(errs, err)
			break
		}
		if f.SASLUser == "" {
			errs = append(errs, fmt.Errorf("-%ssasl.mechanism %s: needs -%ssasl.user", prefix, m, prefix))
			break
		}
		algo := scram.SHA256
		if m == ScramSHA512 {
			algo = scram.SHA512
		}
		mech, err := scram.Mechanism(algo, f.SASLUser, pass)
		if err != nil {
			errs = append(errs, fmt.Errorf("-%ssasl.user %q: %w", prefix, f.SASLUser, err))
		}
		sec.SASL = mech
	default:
		errs = append(errs, fmt.Errorf("-%ssasl.mechanism %q: want scram-sha-256 or scram-sha-512", prefix, f.SASLMechanism))
	}
	if err := errors.Join(errs...); err != nil {
		return Security{err: err}, err
	}
	return sec, nil
}

func (f *SecurityFlags) password(prefix string) (string, error) {
	if f.SASLPasswordFile != "" {
		b, err := os.ReadFile(f.SASLPasswordFile)
		if err != nil {
			return "", fmt.Errorf("-%ssasl.password-file: %w", prefix, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if f.SASLPassword == "" {
		return "", fmt.Errorf("-%ssasl.mechanism %s: no password (set -%ssasl.password-file or the password's environment variable)", prefix, f.SASLMechanism, prefix)
	}
	return string(f.SASLPassword), nil
}

func (f *SecurityFlags) tlsConfig(prefix string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.TLSServerName}
	if f.TLSCA != "" {
		pem, err := os.ReadFile(f.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("-%stls.ca: %w", prefix, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-%stls.ca %s: no PEM certificate in it", prefix, f.TLSCA)
		}
		cfg.RootCAs = pool
	}
	if (f.TLSCert == "") != (f.TLSKey == "") {
		return nil, fmt.Errorf("-%stls.cert and -%stls.key: give both or neither", prefix, prefix)
	}
	if f.TLSCert != "" {
		kp := &keyPair{cert: f.TLSCert, key: f.TLSKey}
		if _, err := kp.get(); err != nil {
			return nil, fmt.Errorf("-%stls.cert, -%stls.key: %w", prefix, prefix, err)
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }
	}
	return cfg, nil
}

// keyPair is a certificate and key read from files, read again when either file changes.
type keyPair struct {
	cert, key string

	mu      sync.Mutex
	loaded  *tls.Certificate
	modCert time.Time
	modKey  time.Time
}

func (k *keyPair) get() (*tls.Certificate, error) {
	ci, err := os.Stat(k.cert)
	if err != nil {
		return nil, err
	}
	ki, err := os.Stat(k.key)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.loaded != nil && ci.ModTime().Equal(k.modCert) && ki.ModTime().Equal(k.modKey) {
		return k.loaded, nil
	}
	c, err := tls.LoadX509KeyPair(k.cert, k.key)
	if err != nil {
		if k.loaded != nil {
			return k.loaded, nil // a half-written renewal: keep the last good pair
		}
		return nil, err
	}
	k.loaded, k.modCert, k.modKey = &c, ci.ModTime(), ki.ModTime()
	return k.loaded, nil
}

// Dialer returns a kafka-go Dialer (readers, the pre-0.4 writer config) with the security.
func (s Security) Dialer() *kafkago.Dialer {
	d := &kafkago.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: s.TLS, SASLMechanism: s.SASL}
	if s.err != nil {
		d.Resolver = failingResolver{s.err}
	}
	return d
}

// Transport returns a kafka-go Transport (Client, Writer) with the security. Close its idle
// connections when done with it.
func (s Security) Transport() *kafkago.Transport {
	t := &kafkago.Transport{TLS: s.TLS, SASL: s.SASL}
	if s.err != nil {
		err := s.err
		t.Dial = func(context.Context, string, string) (net.Conn, error) { return nil, err }
	}
	return t
}

type failingResolver struct{ err error }

func (r failingResolver) LookupHost(context.Context, string) ([]string, error) { return nil, r.err }
