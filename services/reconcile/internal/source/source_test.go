package source_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bcosdata/bcosdata/libs/fault"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/source"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/source/sourcetest"
)

const (
	user     = sourcetest.User
	password = sourcetest.Password
)

// content is a business file with Chinese text, larger than one SFTP packet and FTP buffer.
var content = []byte(strings.Repeat("流水号,金额\n0xab,100.00\n", 5000))

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func readFile(t *testing.T, c *source.Client, uri string) (*source.File, []byte) {
	t.Helper()
	f, err := c.Open(t.Context(), uri)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return f, data
}

// TestKinds writes a file with Put (twice, the second replacing the first), reads it back
// with Open, and checks a missing file is source.ErrNotFound, on every writable kind.
func TestKinds(t *testing.T) {
	dir := t.TempDir()
	sftpServer := sourcetest.StartSFTP(t)
	ftpRoot := t.TempDir()
	ftpServer := sourcetest.StartFTP(t, ftpRoot)
	s3 := sourcetest.StartS3(t, "biz")
	for _, tc := range []struct {
		name, dir string
		cfg       source.Config
	}{
		{"file", "file://" + dir + "/out", source.Config{}},
		{"sftp", sftpServer.URI(dir + "/sftp"), sftpServer.Config()},
		{"ftp", ftpServer.URI("results/2025"), ftpServer.Config()},
		{"s3", s3.URI("biz", "results"), s3.Config()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := source.New(tc.cfg)
			uri, err := job.JoinURI(tc.dir, "对账_2025-12-05.csv")
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Put(t.Context(), uri, strings.NewReader("old"), 3); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if err := c.Put(t.Context(), uri, bytes.NewReader(content), -1); err != nil {
				t.Fatalf("Put again: %v", err)
			}
			f, data := readFile(t, c, uri)
			if !bytes.Equal(data, content) {
				t.Errorf("read %d bytes, want %d", len(data), len(content))
			}
			if f.Name != "对账_2025-12-05.csv" {
				t.Errorf("name %q", f.Name)
			}
			if f.Size != int64(len(content)) {
				t.Errorf("size %d, want %d", f.Size, len(content))
			}
			missing, _ := job.JoinURI(tc.dir, "missing.csv")
			_, err = c.Open(t.Context(), missing)
			if !errors.Is(err, source.ErrNotFound) {
				t.Errorf("Open missing: %v, want source.ErrNotFound", err)
			}
			if err != nil && !strings.Contains(err.Error(), "missing.csv") {
				t.Errorf("error %v does not name the file", err)
			}
		})
	}
	// No temporary files are left beside the results.
	for _, d := range []string{filepath.Join(dir, "out"), filepath.Join(dir, "sftp"), filepath.Join(ftpRoot, "results", "2025")} {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Errorf("%s holds %d entries, want the result alone", d, len(entries))
		}
	}
}

func TestHTTPFileServer(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "对账.csv"), content, 0o600); err != nil {
		t.Fatal(err)
	}
	base := sourcetest.StartHTTP(t, dir)
	uri, _ := job.JoinURI(base, "对账.csv")
	f, data := readFile(t, source.New(source.Config{}), uri)
	if !bytes.Equal(data, content) || f.Size != int64(len(content)) || f.Name != "对账.csv" {
		t.Errorf("got %d bytes, size %d, name %q", len(data), f.Size, f.Name)
	}
}

func TestHTTP(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/biz/t.csv":
			w.Header().Set("Content-Length", strconv.Itoa(len(content)))
			_, _ = w.Write(content)
		case "/biz/broken.csv":
			http.Error(w, "down", http.StatusBadGateway)
		case "/biz/secret.csv":
			http.Error(w, "no", http.StatusForbidden)
		default:
			http.NotFound(w, r)
		}
	}))
	defer ts.Close()
	c := source.New(source.Config{})
	f, data := readFile(t, c, ts.URL+"/biz/t.csv")
	if !bytes.Equal(data, content) || f.Name != "t.csv" || f.Size != int64(len(content)) {
		t.Errorf("got %d bytes, name %q, size %d", len(data), f.Name, f.Size)
	}
	if _, err := c.Open(t.Context(), ts.URL+"/biz/none.csv"); !errors.Is(err, source.ErrNotFound) {
		t.Errorf("404: %v", err)
	}
	if _, err := c.Open(t.Context(), ts.URL+"/biz/broken.csv"); err == nil || errors.Is(err, source.ErrNotFound) || fault.IsPermanent(err) {
		t.Errorf("502: %v, want a retryable error", err)
	}
	if _, err := c.Open(t.Context(), ts.URL+"/biz/secret.csv"); !fault.IsPermanent(err) {
		t.Errorf("403: %v, want permanent", err)
	}
	if err := c.Put(t.Context(), ts.URL+"/biz/out.csv", strings.NewReader("x"), 1); !fault.IsPermanent(err) {
		t.Errorf("Put over HTTP: %v, want permanent", err)
	}
}

func TestUnreachableIsTransient(t *testing.T) {
	addr := closedAddr(t)
	for _, uri := range []string{
		"sftp://" + user + "@" + addr + "/x.csv",
		"ftp://" + user + "@" + addr + "/x.csv",
		"s3://biz/x.csv",
		"http://" + addr + "/x.csv",
	} {
		c := source.New(source.Config{InsecureIgnoreHostKey: true, S3Endpoint: addr, S3Insecure: true, Timeout: 5 * time.Second})
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		_, err := c.Open(ctx, uri)
		cancel()
		if err == nil || errors.Is(err, source.ErrNotFound) || fault.Classify(err) != fault.Transient {
			t.Errorf("Open %s: %v (%s), want transient", uri, err, fault.Classify(err))
		}
	}
}

func TestRefusedIsPermanent(t *testing.T) {
	sftpServer := sourcetest.StartSFTP(t)
	sftpAddr, fp := sftpServer.Addr, sftpServer.HostKey
	ftpAddr := sourcetest.StartFTP(t, t.TempDir()).Addr
	for _, tc := range []struct {
		uri  string
		cfg  source.Config
		want string
	}{
		{"sftp://" + user + "@" + sftpAddr + "/x.csv", source.Config{Password: "wrong", HostKey: fp}, "unable to authenticate"},
		{"sftp://" + user + "@" + sftpAddr + "/x.csv", source.Config{Password: password, HostKey: "SHA256:other"}, "host key SHA256:"},
		{"sftp://" + user + "@" + sftpAddr + "/x.csv", source.Config{Password: password}, "sftp needs known_hosts or host_key"},
		{"sftp://" + sftpAddr + "/x.csv", source.Config{Password: password, HostKey: fp}, "names no user"},
		{"ftp://" + user + "@" + ftpAddr + "/x.csv", source.Config{Password: "wrong"}, "530"},
		{"gopher://h/x.csv", source.Config{}, `scheme "gopher"`},
		{"file:///", source.Config{}, "no file path"},
	} {
		_, err := source.New(tc.cfg).Open(t.Context(), tc.uri)
		if !fault.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open %s: %v, want permanent containing %q", tc.uri, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), password) {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestKnownHostsAndKeyFile(t *testing.T) {
	// The server here takes passwords only; the key file must still parse and the known_hosts
	// entry must let the password through.
	addr := sourcetest.StartSFTP(t).Addr
	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(addr)
	// Learn the server key the way ssh-keyscan would.
	var hostKey ssh.PublicKey
	cfg := &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.Password(password)}, HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
		hostKey = k
		return nil
	}}
	conn, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	kh := filepath.Join(dir, "known_hosts")
	line := "[" + host + "]:" + port + " " + string(ssh.MarshalAuthorizedKey(hostKey))
	if err := os.WriteFile(kh, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "t.csv")
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}
	c := source.New(source.Config{KnownHosts: kh, Password: password})
	if _, data := readFile(t, c, "sftp://"+user+"@"+addr+file); !bytes.Equal(data, content) {
		t.Error("content differs")
	}
	if _, err := source.New(source.Config{KnownHosts: kh, KeyFile: filepath.Join(dir, "none")}).Open(t.Context(), "sftp://"+user+"@"+addr+file); !fault.IsPermanent(err) {
		t.Errorf("missing key file: %v", err)
	}
}

func TestConfigOf(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "sk", "MY_KEY": "mk", "PW": "pw"}
	c := source.ConfigOf(job.SourceOptions{Endpoint: "minio:9000", PathStyle: true, PasswordEnv: "PW"}, func(k string) string { return env[k] })
	if c.S3AccessKey != "ak" || c.S3SecretKey != "sk" || c.Password != "pw" || c.S3Endpoint != "minio:9000" || !c.S3PathStyle {
		t.Errorf("%+v", c)
	}
	c = source.ConfigOf(job.SourceOptions{AccessKeyEnv: "MY_KEY"}, func(k string) string { return env[k] })
	if c.S3AccessKey != "mk" {
		t.Errorf("%+v", c)
	}
}

func TestCancelStopsSFTPTransfer(t *testing.T) {
	srv := sourcetest.StartSFTP(t)
	file := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(file, bytes.Repeat(content, 20), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	f, err := source.New(srv.Config()).Open(ctx, srv.URI(file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cancel()
	if _, err := io.ReadAll(f); err == nil {
		t.Error("reading after cancel succeeded")
	}
}
