// Package tlsfiles serves TLS from certificate, key and CA files that are re-read when they
// change, so a rotated certificate (cert-manager, a renewed Secret) takes effect without a
// restart.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Client certificate policies, the values of -tls.client-auth.
const (
	ClientAuthNone             = "none"               // no client certificate asked for
	ClientAuthRequest          = "request"            // asked for, not verified (identity only)
	ClientAuthVerifyIfGiven    = "verify-if-given"    // verified against the client CA when given
	ClientAuthRequireAndVerify = "require-and-verify" // required and verified: mutual TLS
)

// Files names the PEM files a TLS server reads.
type Files struct {
	// Cert and Key are the server certificate chain and its private key.
	Cert, Key string
	// ClientCA is the CA bundle client certificates are verified against; empty accepts none
	// (unless ClientAuth is "request").
	ClientCA string
	// ClientAuth is one of the ClientAuth* values; empty means "verify-if-given" with a
	// ClientCA and "none" without.
	ClientAuth string
}

// Enabled reports whether TLS is configured.
func (f Files) Enabled() bool { return f.Cert != "" || f.Key != "" }

// Validate reports unusable combinations, naming the flag (with the given prefix, "tls.").
func (f Files) Validate(prefix string) error {
	var errs []error
	if (f.Cert == "") != (f.Key == "") {
		errs = append(errs, fmt.Errorf("-%scert and -%skey: give both or neither", prefix, prefix))
	}
	if !f.Enabled() && (f.ClientCA != "" || (f.ClientAuth != "" && f.ClientAuth != ClientAuthNone)) {
		errs = append(errs, fmt.Errorf("-%sclient-ca and -%sclient-auth need -%scert and -%skey", prefix, prefix, prefix, prefix))
	}
	switch f.ClientAuth {
	case "", ClientAuthNone, ClientAuthRequest:
	case ClientAuthVerifyIfGiven, ClientAuthRequireAndVerify:
		if f.ClientCA == "" {
			errs = append(errs, fmt.Errorf("-%sclient-auth %s: needs -%sclient-ca, the CA to verify against", prefix, f.ClientAuth, prefix))
		}
	default:
		errs = append(errs, fmt.Errorf("-%sclient-auth %q: want one of %s", prefix, f.ClientAuth,
			strings.Join([]string{ClientAuthNone, ClientAuthRequest, ClientAuthVerifyIfGiven, ClientAuthRequireAndVerify}, ", ")))
	}
	return errors.Join(errs...)
}

func (f Files) clientAuth() tls.ClientAuthType {
	switch f.ClientAuth {
	case ClientAuthRequest:
		return tls.RequestClientCert
	case ClientAuthVerifyIfGiven:
		return tls.VerifyClientCertIfGiven
	case ClientAuthRequireAndVerify:
		return tls.RequireAndVerifyClientCert
	case "":
		if f.ClientCA != "" {
			return tls.VerifyClientCertIfGiven
		}
	}
	return tls.NoClientCert
}

// checkEvery bounds how often a handshake looks at the files' modification times.
const checkEvery = time.Second

// Server holds the current certificate and client CA pool, re-reading the files when their
// size or modification time changed (checked at most once a second, on a handshake).
type Server struct {
	files Files
	now   func() time.Time

	mu      sync.Mutex
	checked time.Time
	stamp   string // size and mtime of the files last loaded
	cert    *tls.Certificate
	pool    *x509.CertPool
	// onReload, when set, is told of every reload (nil) and of every failed one (the old
	// certificate stays in use then).
	onReload func(err error)
}

// NewServer loads the files once, failing when they are unreadable or do not match.
func NewServer(f Files, onReload func(err error)) (*Server, error) {
	if err := f.Validate("tls."); err != nil {
		return nil, err
	}
	s := &Server{files: f, now: time.Now, onReload: onReload}
	stamp, err := s.stat()
	if err != nil {
		return nil, err
	}
	if err := s.load(stamp); err != nil {
		return nil, err
	}
	s.checked = s.now()
	return s, nil
}

func (s *Server) paths() []string {
	p := []string{s.files.Cert, s.files.Key}
	if s.files.ClientCA != "" {
		p = append(p, s.files.ClientCA)
	}
	return p
}

func (s *Server) stat() (string, error) {
	var b strings.Builder
	for _, p := range s.paths() {
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("tls: %w", err)
		}
		fmt.Fprintf(&b, "%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

// load reads the files; on error the previous state stays.
func (s *Server) load(stamp string) error {
	cert, err := tls.LoadX509KeyPair(s.files.Cert, s.files.Key)
	if err != nil {
		return fmt.Errorf("tls: certificate %s with key %s: %w", s.files.Cert, s.files.Key, err)
	}
	var pool *x509.CertPool
	if s.files.ClientCA != "" {
		pem, err := os.ReadFile(s.files.ClientCA)
		if err != nil {
			return fmt.Errorf("tls: client CA: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls: client CA %s: no PEM certificate in it", s.files.ClientCA)
		}
	}
	s.cert, s.pool, s.stamp = &cert, pool, stamp
	return nil
}

// current returns the certificate and pool, reloading them when the files changed.
func (s *Server) current() (*tls.Certificate, *x509.CertPool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); now.Sub(s.checked) >= checkEvery {
		s.checked = now
		stamp, err := s.stat()
		if err == nil && stamp != s.stamp {
			err = s.load(stamp)
			if err == nil && s.onReload != nil {
				s.onReload(nil)
			}
		}
		if err != nil && s.onReload != nil {
			s.onReload(err)
		}
	}
	return s.cert, s.pool
}

// Certificate returns the certificate in use now.
func (s *Server) Certificate() *tls.Certificate {
	c, _ := s.current()
	return c
}

// Config returns a server tls.Config that takes the certificate and client CA from the files
// on every handshake. nextProtos are the ALPN protocols ("h2" for gRPC).
func (s *Server) Config(nextProtos ...string) *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: nextProtos}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cert, pool := s.current()
		c := base.Clone()
		c.GetConfigForClient = nil
		c.Certificates = []tls.Certificate{*cert}
		c.ClientCAs = pool
		c.ClientAuth = s.files.clientAuth()
		return c, nil
	}
	return base
}
