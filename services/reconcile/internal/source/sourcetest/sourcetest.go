// Package sourcetest starts real file servers on loopback for tests: SFTP (pkg/sftp over an
// x/crypto/ssh server), FTP (goftp.io/server), S3 (gofakes3, in memory) and HTTP (a file
// server). Each gives the URI of a path on it and the source.Config that reaches it, so a test
// can run the same scenario from every kind of source. Servers stop when the test ends.
package sourcetest

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/pkg/sftp"
	ftpserver "goftp.io/server/v2"
	ftpfile "goftp.io/server/v2/driver/file"
	"golang.org/x/crypto/ssh"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/source"
)

// User and Password log in to the SFTP and FTP servers.
const (
	User     = "recon"
	Password = "s3cret"
)

// SFTP is a running SFTP server over the real file system: URIs carry absolute paths.
type SFTP struct {
	Addr string
	// HostKey is the server key's SHA256 fingerprint.
	HostKey string
}

// StartSFTP starts an SFTP server for tb.
func StartSFTP(tb testing.TB) *SFTP {
	tb.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PasswordCallback: func(c ssh.ConnMetadata, pass []byte) (*ssh.Permissions, error) {
		if c.User() == User && string(pass) == Password {
			return nil, nil
		}
		return nil, errors.New("wrong password")
	}}
	cfg.AddHostKey(signer)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			go serveSSH(nc, cfg)
		}
	}()
	return &SFTP{Addr: l.Addr().String(), HostKey: ssh.FingerprintSHA256(signer.PublicKey())}
}

func serveSSH(nc net.Conn, cfg *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			return
		}
		go func() {
			for req := range chReqs {
				ok := req.Type == "subsystem" && len(req.Payload) > 4 && string(req.Payload[4:]) == "sftp"
				_ = req.Reply(ok, nil)
				if ok {
					srv, err := sftp.NewServer(ch)
					if err != nil {
						return
					}
					_ = srv.Serve()
					_ = srv.Close()
				}
			}
		}()
	}
}

// URI returns the sftp:// URI of the absolute path p.
func (s *SFTP) URI(p string) string { return "sftp://" + User + "@" + s.Addr + p }

// Config returns a source configuration that logs in and checks the host key.
func (s *SFTP) Config() source.Config { return source.Config{Password: Password, HostKey: s.HostKey} }

// FTP is a running FTP server serving Root: URI paths are relative to it.
type FTP struct {
	Addr, Root string
}

// StartFTP starts an FTP server for tb serving root.
func StartFTP(tb testing.TB, root string) *FTP {
	tb.Helper()
	driver, err := ftpfile.NewDriver(root)
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := ftpserver.NewServer(&ftpserver.Options{
		Driver: driver, Auth: &ftpserver.SimpleAuth{Name: User, Password: Password},
		Perm: ftpserver.NewSimplePerm(User, User), Hostname: "127.0.0.1", PublicIP: "127.0.0.1",
		Logger: &ftpserver.DiscardLogger{},
	})
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() { _ = srv.Shutdown() })
	return &FTP{Addr: l.Addr().String(), Root: root}
}

// URI returns the ftp:// URI of p, a path under Root.
func (f *FTP) URI(p string) string { return "ftp://" + User + "@" + f.Addr + path.Join("/", p) }

// Config returns a source configuration that logs in.
func (f *FTP) Config() source.Config { return source.Config{Password: Password} }

// S3 is a running in-memory S3 service.
type S3 struct {
	Endpoint string
}

// StartS3 starts an S3 service for tb with the given buckets.
func StartS3(tb testing.TB, buckets ...string) *S3 {
	tb.Helper()
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			tb.Fatal(err)
		}
	}
	ts := httptest.NewServer(gofakes3.New(backend).Server())
	tb.Cleanup(ts.Close)
	return &S3{Endpoint: strings.TrimPrefix(ts.URL, "http://")}
}

// URI returns the s3:// URI of key in bucket.
func (s *S3) URI(bucket, key string) string { return "s3://" + bucket + path.Join("/", key) }

// Config returns a source configuration for the service (path style, plain HTTP, any keys).
func (s *S3) Config() source.Config {
	return source.Config{S3Endpoint: s.Endpoint, S3Insecure: true, S3PathStyle: true, S3AccessKey: "test", S3SecretKey: "test"}
}

// StartHTTP serves dir over HTTP for tb and returns the base URL (http://127.0.0.1:port).
func StartHTTP(tb testing.TB, dir string) string {
	tb.Helper()
	ts := httptest.NewServer(http.FileServer(http.Dir(dir)))
	tb.Cleanup(ts.Close)
	return ts.URL
}
