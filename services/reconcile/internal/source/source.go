// Package source fetches business files and stores result files, by URI:
//
//	file:///abs/dir/name             the local file system
//	sftp://user@host[:22]/abs/path   SSH file transfer (pkg/sftp), password or key, host key checked
//	ftp://user@host[:21]/path        FTP, passive mode, optionally explicit TLS (jlaffaye/ftp)
//	s3://bucket/key                  S3 or an S3-compatible store (minio-go)
//	http(s)://host/path              a GET; fetching only
//
// Open returns the file as a stream, never reading it whole. Errors say what the run should
// do about them:
//
//   - a file that is not there wraps ErrNotFound (it may arrive later: the job's retry policy
//     decides);
//   - a server that cannot be reached, a connection cut mid-way, a timeout: the network error
//     is wrapped as it is, which libs/fault classifies as transient;
//   - what no retry can fix (an unknown scheme, a refused login, a host key that does not
//     match, access denied) is marked permanent with fault.MarkPermanent.
//
// Put writes a result file so that readers never see half of it: to a temporary name beside
// it, then renamed (S3 objects appear whole by themselves).
package source

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"time"

	"github.com/bcosdata/bcosdata/libs/fault"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
)

// ErrNotFound is wrapped by errors for a file that does not exist.
var ErrNotFound = errors.New("file not found")

// File is an opened business file.
type File struct {
	io.ReadCloser
	// Name is the file's base name, for messages and format detection.
	Name string
	// Size is the length in bytes, -1 when the server does not say.
	Size int64
}

// Config holds what connections need beyond the URI.
type Config struct {
	// S3Endpoint is host[:port] of the S3 service (default s3.amazonaws.com).
	S3Endpoint string
	S3Region   string
	// S3PathStyle forces path-style requests; S3Insecure uses plain HTTP.
	S3PathStyle, S3Insecure bool
	// S3AccessKey and S3SecretKey sign requests; without them requests are anonymous.
	S3AccessKey, S3SecretKey string

	// Password is the SFTP or FTP password when the URI has none.
	Password string
	// KeyFile is an SSH private key (OpenSSH or PEM) for SFTP.
	KeyFile string
	// KnownHosts is an OpenSSH known_hosts file; HostKey a "SHA256:…" fingerprint. One of
	// them is required for SFTP unless InsecureIgnoreHostKey is set (tests only).
	KnownHosts, HostKey   string
	InsecureIgnoreHostKey bool
	// FTPTLS uses explicit FTPS (AUTH TLS).
	FTPTLS bool

	// TLS configures HTTPS, FTPS and S3 over TLS; nil is the system's roots.
	TLS *tls.Config
	// HTTPClient fetches http(s) URIs; nil builds one from TLS.
	HTTPClient *http.Client
	// Timeout bounds connecting and logging in (default 30 s); transfers are bounded by ctx.
	Timeout time.Duration
}

// ConfigOf builds a Config from a job's source options, reading secrets from the environment
// variables they name through getenv (os.Getenv in production).
func ConfigOf(o job.SourceOptions, getenv func(string) string) Config {
	keyEnv, secretEnv := o.AccessKeyEnv, o.SecretKeyEnv
	if keyEnv == "" {
		keyEnv = "AWS_ACCESS_KEY_ID"
	}
	if secretEnv == "" {
		secretEnv = "AWS_SECRET_ACCESS_KEY"
	}
	c := Config{
		S3Endpoint: o.Endpoint, S3Region: o.Region, S3PathStyle: o.PathStyle, S3Insecure: o.Insecure,
		S3AccessKey: getenv(keyEnv), S3SecretKey: getenv(secretEnv),
		KeyFile: o.KeyFile, KnownHosts: o.KnownHosts, HostKey: o.HostKey, FTPTLS: o.TLS,
	}
	if o.PasswordEnv != "" {
		c.Password = getenv(o.PasswordEnv)
	}
	return c
}

// Client opens and writes files on every kind of source. It holds no connections: each Open
// or Put connects, so a client is safe for concurrent use and never holds a stale session.
type Client struct {
	cfg Config
}

// New returns a client with cfg.
func New(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Client{cfg: cfg}
}

// Open opens the file at uri for reading; the caller closes it.
func (c *Client) Open(ctx context.Context, uri string) (*File, error) {
	u, err := parse(uri)
	if err != nil {
		return nil, err
	}
	var f *File
	switch u.Scheme {
	case "file":
		f, err = openLocal(u.Path)
	case "sftp":
		f, err = c.openSFTP(ctx, u)
	case "ftp":
		f, err = c.openFTP(ctx, u)
	case "s3":
		f, err = c.openS3(ctx, u)
	case "http", "https":
		f, err = c.openHTTP(ctx, u)
	default:
		err = fault.MarkPermanent(fmt.Errorf("scheme %q: want file, sftp, ftp, s3, http or https", u.Scheme))
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", redact(u), err)
	}
	if f.Name == "" {
		f.Name = path.Base(u.Path)
	}
	return f, nil
}

// Put writes r to uri, replacing what is there. size is r's length, or -1 if unknown.
func (c *Client) Put(ctx context.Context, uri string, r io.Reader, size int64) error {
	u, err := parse(uri)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "file":
		err = putLocal(u.Path, r)
	case "sftp":
		err = c.putSFTP(ctx, u, r)
	case "ftp":
		err = c.putFTP(ctx, u, r)
	case "s3":
		err = c.putS3(ctx, u, r, size)
	default:
		err = fault.MarkPermanent(fmt.Errorf("scheme %q cannot be written: want file, sftp, ftp or s3", u.Scheme))
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", redact(u), err)
	}
	return nil
}

func parse(uri string) (*url.URL, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fault.MarkPermanent(fmt.Errorf("file URI: %w", err))
	}
	if u.Scheme != "file" && u.Host == "" {
		return nil, fault.MarkPermanent(fmt.Errorf("file URI %s: no host", redact(u)))
	}
	if u.Path == "" || u.Path == "/" {
		return nil, fault.MarkPermanent(fmt.Errorf("file URI %s: no file path", redact(u)))
	}
	return u, nil
}

// redact drops a password from a URI shown in messages.
func redact(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	return c.String()
}

func (c *Client) password(u *url.URL) string {
	if p, ok := u.User.Password(); ok {
		return p
	}
	return c.cfg.Password
}

func openLocal(p string) (*File, error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if err != nil {
		return nil, fault.MarkPermanent(err) // permissions, a directory: an operator must act
	}
	size := int64(-1)
	if st, err := f.Stat(); err == nil {
		if st.IsDir() {
			_ = f.Close()
			return nil, fault.MarkPermanent(fmt.Errorf("%s is a directory", p))
		}
		size = st.Size()
	}
	return &File{ReadCloser: f, Size: size}, nil
}

func putLocal(p string, r io.Reader) error {
	dir := path.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fault.MarkPermanent(err)
	}
	tmp, err := os.CreateTemp(dir, "."+path.Base(p)+".tmp-*")
	if err != nil {
		return fault.MarkPermanent(err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := io.Copy(tmp, r); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// tmpName is the temporary name a remote Put writes before renaming.
func tmpName(p string) string {
	return path.Join(path.Dir(p), fmt.Sprintf(".%s.tmp-%d", path.Base(p), time.Now().UnixNano()))
}

// closer runs extra clean-up after the stream is closed.
type closer struct {
	io.Reader
	close func() error
}

func (c *closer) Close() error { return c.close() }
