package app

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/app/tlsfiles"
)

// isLoopback reports whether a listen address only accepts connections from this host:
// "localhost" or a loopback IP. An empty host (":9101") listens on every interface, and any
// other name may resolve to a public address, so both count as exposed.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// exposure lists the listen addresses (gRPC and HTTP API) that are not loopback, as flag
// settings, and fails when the server would serve them without TLS or without auth and
// -insecure was not given.
func (c ServerConfig) exposure(extraHTTP ...string) ([]string, error) {
	var exposed []string
	if c.GRPCAddr != "" && !isLoopback(c.GRPCAddr) {
		exposed = append(exposed, "-grpc.addr "+c.GRPCAddr)
	}
	for _, a := range append([]string{c.HTTPAddr}, extraHTTP...) {
		if a != "" && !isLoopback(a) {
			exposed = append(exposed, "-http.addr "+a)
		}
	}
	var missing []string
	if !c.TLS.Enabled() {
		missing = append(missing, "TLS (-tls.cert, -tls.key)")
	}
	if !c.Auth.Enabled() {
		missing = append(missing, "auth (-auth.policy)")
	}
	if len(exposed) == 0 || len(missing) == 0 || c.Insecure {
		return exposed, nil
	}
	return exposed, fmt.Errorf("%s: not a loopback address, and the server has no %s: configure them, or give -insecure to serve anyone who reaches the port",
		strings.Join(exposed, ", "), strings.Join(missing, " and no "))
}

// secure loads the TLS files and the auth files once and refuses an exposed server without
// TLS and auth (unless -insecure), logging loudly when it runs exposed anyway.
func (s *Server) secure() error {
	s.secureOnce.Do(func() { s.secureErr = s.secureOnceFn() })
	return s.secureErr
}

func (s *Server) secureOnceFn() error {
	var httpAddrs []string
	s.mu.Lock()
	for _, g := range s.gateways {
		httpAddrs = append(httpAddrs, g.addr)
	}
	s.mu.Unlock()
	cfg := s.cfg
	cfg.HTTPAddr = "" // the Command's own API is among the gateways
	exposed, err := cfg.exposure(httpAddrs...)
	if err != nil {
		return err
	}
	if err := errors.Join(s.cfg.TLS.Validate("tls."), s.guard.Load()); err != nil {
		return err
	}
	if s.cfg.TLS.Enabled() {
		srv, err := tlsfiles.NewServer(s.cfg.TLS, func(err error) {
			if err != nil {
				s.log.Error("tls files changed but cannot be used; keeping the previous certificate", zap.Error(err))
				return
			}
			s.log.Info("tls certificate reloaded", zap.String("cert", s.cfg.TLS.Cert))
		})
		if err != nil {
			return err
		}
		s.tls = srv
		s.creds.SetTLS(srv.Config("h2"))
	}
	switch {
	case len(exposed) > 0 && (!s.cfg.TLS.Enabled() || !s.cfg.Auth.Enabled()):
		s.log.Warn("RUNNING INSECURE: serving a non-loopback address without TLS or without auth because -insecure was given; anyone who reaches the port can read and change what the API offers",
			zap.Strings("exposed", exposed), zap.Bool("tls", s.cfg.TLS.Enabled()), zap.Bool("auth", s.cfg.Auth.Enabled()))
	case s.cfg.AdminAddr != "" && !isLoopback(s.cfg.AdminAddr) && !s.cfg.Auth.AdminAuth:
		s.log.Warn("the admin server (/metrics, /debug/pprof) listens on a non-loopback address without -admin.auth", zap.String("addr", s.cfg.AdminAddr))
	}
	if s.cfg.Auth.Enabled() {
		s.log.Info("auth on", zap.String("policy", s.cfg.Auth.Policy), zap.Bool("jwt", s.cfg.Auth.JWKS != ""),
			zap.Bool("tokens", s.cfg.Auth.Tokens != ""), zap.Bool("mtls", s.cfg.TLS.ClientCA != ""), zap.Bool("admin_auth", s.cfg.Auth.AdminAuth))
	}
	return nil
}

// limitBody bounds an HTTP API request body to MaxRequestBytes; a declared larger body is
// refused at once with 413 and the ResourceExhausted status the gRPC API gives.
func (s *Server) limitBody(next http.Handler) http.Handler {
	limit := int64(s.cfg.MaxRequestBytes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			fmt.Fprintf(w, `{"code":8,"message":"request body of %d bytes exceeds the limit of %d (-limits.request-bytes)","details":[]}`+"\n", r.ContentLength, limit)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}
