package source

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/jlaffaye/ftp"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/bcosdata/bcosdata/libs/fault"
)

// --- SFTP ---

func (c *Client) sshConfig(u *url.URL) (*ssh.ClientConfig, error) {
	var auth []ssh.AuthMethod
	if c.cfg.KeyFile != "" {
		pem, err := os.ReadFile(c.cfg.KeyFile)
		if err != nil {
			return nil, fault.MarkPermanent(fmt.Errorf("ssh key: %w", err))
		}
		signer, err := ssh.ParsePrivateKey(pem)
		if err != nil {
			return nil, fault.MarkPermanent(fmt.Errorf("ssh key %s: %w", c.cfg.KeyFile, err))
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	if p := c.password(u); p != "" {
		auth = append(auth, ssh.Password(p))
	}
	var hostKey ssh.HostKeyCallback
	switch {
	case c.cfg.KnownHosts != "":
		cb, err := knownhosts.New(c.cfg.KnownHosts)
		if err != nil {
			return nil, fault.MarkPermanent(fmt.Errorf("known_hosts: %w", err))
		}
		hostKey = cb
	case c.cfg.HostKey != "":
		want := c.cfg.HostKey
		hostKey = func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if got := ssh.FingerprintSHA256(key); got != want {
				return fmt.Errorf("host key %s, want %s", got, want)
			}
			return nil
		}
	case c.cfg.InsecureIgnoreHostKey:
		hostKey = ssh.InsecureIgnoreHostKey() //nolint:gosec // only when configured so, for tests
	default:
		return nil, fault.MarkPermanent(errors.New("sftp needs known_hosts or host_key to check the server"))
	}
	user := u.User.Username()
	if user == "" {
		return nil, fault.MarkPermanent(errors.New("sftp URI names no user (sftp://user@host/path)"))
	}
	return &ssh.ClientConfig{User: user, Auth: auth, HostKeyCallback: hostKey, Timeout: c.cfg.Timeout}, nil
}

// sftpSession connects and opens an SFTP session; closing the session closes the connection,
// and so does ctx ending, so a stalled transfer cannot outlive its run.
type sftpSession struct {
	*sftp.Client
	conn *ssh.Client
	stop func() bool
}

func (s *sftpSession) close() error {
	s.stop()
	err := s.Close()
	if cerr := s.conn.Close(); err == nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	return err
}

func (c *Client) dialSFTP(ctx context.Context, u *url.URL) (*sftpSession, error) {
	cfg, err := c.sshConfig(u)
	if err != nil {
		return nil, err
	}
	addr := hostPort(u, "22")
	d := net.Dialer{Timeout: c.cfg.Timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if err != nil {
		_ = nc.Close()
		if _, isNet := errors.AsType[net.Error](err); isNet || errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, fault.MarkPermanent(fmt.Errorf("ssh: %w", err)) // authentication or host key
	}
	conn := ssh.NewClient(sc, chans, reqs)
	cl, err := sftp.NewClient(conn)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("sftp session: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	return &sftpSession{Client: cl, conn: conn, stop: stop}, nil
}

func (c *Client) openSFTP(ctx context.Context, u *url.URL) (*File, error) {
	s, err := c.dialSFTP(ctx, u)
	if err != nil {
		return nil, err
	}
	f, err := s.Open(u.Path)
	if err != nil {
		_ = s.close()
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fault.MarkPermanent(err)
		}
		return nil, err
	}
	size := int64(-1)
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	return &File{Size: size, ReadCloser: &closer{Reader: f, close: func() error {
		err := f.Close()
		if cerr := s.close(); err == nil {
			err = cerr
		}
		return err
	}}}, nil
}

func (c *Client) putSFTP(ctx context.Context, u *url.URL, r io.Reader) error {
	s, err := c.dialSFTP(ctx, u)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.MkdirAll(path.Dir(u.Path)); err != nil {
		return fmt.Errorf("mkdir %s: %w", path.Dir(u.Path), err)
	}
	tmp := tmpName(u.Path)
	f, err := s.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := f.ReadFrom(r); err != nil {
		_ = f.Close()
		_ = s.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		_ = s.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	// posix-rename@openssh.com replaces the target; plain SFTP rename refuses to.
	if err := s.PosixRename(tmp, u.Path); err != nil {
		_ = s.Remove(u.Path)
		if err := s.Rename(tmp, u.Path); err != nil {
			_ = s.Remove(tmp)
			return fmt.Errorf("rename to %s: %w", u.Path, err)
		}
	}
	return nil
}

// --- FTP ---

func (c *Client) dialFTP(ctx context.Context, u *url.URL) (*ftp.ServerConn, func() bool, error) {
	opts := []ftp.DialOption{ftp.DialWithContext(ctx), ftp.DialWithTimeout(c.cfg.Timeout)}
	if c.cfg.FTPTLS {
		tc := c.cfg.TLS
		if tc == nil {
			tc = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
		}
		opts = append(opts, ftp.DialWithExplicitTLS(tc))
	}
	conn, err := ftp.Dial(hostPort(u, "21"), opts...)
	if err != nil {
		return nil, nil, ftpError(err)
	}
	user := u.User.Username()
	pass := c.password(u)
	if user == "" {
		user, pass = "anonymous", "anonymous"
	}
	if err := conn.Login(user, pass); err != nil {
		_ = conn.Quit()
		return nil, nil, ftpError(err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Quit() })
	return conn, stop, nil
}

// ftpError classifies an FTP reply: 550 is a missing file, 530 a refused login, other 5xx
// permanent, 4xx transient by nature.
func ftpError(err error) error {
	te, ok := errors.AsType[*textproto.Error](err)
	if !ok {
		return err
	}
	switch {
	case te.Code == ftp.StatusFileUnavailable:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case te.Code >= 500:
		return fault.MarkPermanent(err)
	}
	return err
}

func (c *Client) openFTP(ctx context.Context, u *url.URL) (*File, error) {
	conn, stop, err := c.dialFTP(ctx, u)
	if err != nil {
		return nil, err
	}
	size, err := conn.FileSize(u.Path)
	if err != nil {
		size = -1 // SIZE is optional; RETR says whether the file is there
	}
	resp, err := conn.Retr(u.Path)
	if err != nil {
		err = ftpError(err)
		if !errors.Is(err, ErrNotFound) && fault.IsPermanent(err) && !ftpExists(conn, u.Path) {
			// Servers answer a missing file with 550, 551, 450 …: the listing tells for sure.
			err = fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		stop()
		_ = conn.Quit()
		return nil, err
	}
	return &File{Size: size, ReadCloser: &closer{Reader: resp, close: func() error {
		err := resp.Close()
		stop()
		_ = conn.Quit()
		return err
	}}}, nil
}

// ftpExists reports whether the directory listing shows p; a directory that cannot be listed
// counts as absent.
func ftpExists(conn *ftp.ServerConn, p string) bool {
	names, err := conn.NameList(path.Dir(p))
	if err != nil {
		return false
	}
	for _, n := range names {
		if path.Base(n) == path.Base(p) {
			return true
		}
	}
	return false
}

func (c *Client) putFTP(ctx context.Context, u *url.URL, r io.Reader) error {
	conn, stop, err := c.dialFTP(ctx, u)
	if err != nil {
		return err
	}
	defer func() {
		stop()
		_ = conn.Quit()
	}()
	// Make the directories; existing ones answer 550, which is fine.
	dir := path.Dir(u.Path)
	for i := 1; i <= len(dir); i++ {
		if i == len(dir) || dir[i] == '/' {
			_ = conn.MakeDir(dir[:i])
		}
	}
	tmp := tmpName(u.Path)
	if err := conn.Stor(tmp, r); err != nil {
		_ = conn.Delete(tmp)
		return ftpError(err)
	}
	if err := conn.Rename(tmp, u.Path); err != nil {
		// Some servers refuse to rename onto an existing file.
		_ = conn.Delete(u.Path)
		if err := conn.Rename(tmp, u.Path); err != nil {
			_ = conn.Delete(tmp)
			return ftpError(err)
		}
	}
	return nil
}

// --- S3 ---

func (c *Client) s3Client(u *url.URL) (*minio.Client, string, string, error) {
	endpoint := c.cfg.S3Endpoint
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	creds := credentials.NewStatic("", "", "", credentials.SignatureAnonymous)
	if c.cfg.S3AccessKey != "" {
		creds = credentials.NewStaticV4(c.cfg.S3AccessKey, c.cfg.S3SecretKey, "")
	}
	opts := &minio.Options{Creds: creds, Secure: !c.cfg.S3Insecure, Region: c.cfg.S3Region}
	if c.cfg.S3PathStyle {
		opts.BucketLookup = minio.BucketLookupPath
	}
	if c.cfg.TLS != nil {
		opts.Transport = &http.Transport{TLSClientConfig: c.cfg.TLS}
	}
	cl, err := minio.New(endpoint, opts)
	if err != nil {
		return nil, "", "", fault.MarkPermanent(fmt.Errorf("s3 endpoint %q: %w", endpoint, err))
	}
	return cl, u.Host, strings.TrimPrefix(u.Path, "/"), nil
}

func s3Error(err error) error {
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case minio.NoSuchKey, minio.NoSuchBucket:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case minio.AccessDenied, "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidBucketName":
		return fault.MarkPermanent(err)
	}
	return err
}

func (c *Client) openS3(ctx context.Context, u *url.URL) (*File, error) {
	cl, bucket, key, err := c.s3Client(u)
	if err != nil {
		return nil, err
	}
	obj, err := cl.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Error(err)
	}
	st, err := obj.Stat() // GetObject is lazy: Stat makes the request and tells a missing key
	if err != nil {
		_ = obj.Close()
		return nil, s3Error(err)
	}
	return &File{ReadCloser: obj, Size: st.Size}, nil
}

func (c *Client) putS3(ctx context.Context, u *url.URL, r io.Reader, size int64) error {
	cl, bucket, key, err := c.s3Client(u)
	if err != nil {
		return err
	}
	// An unsigned payload rather than aws-chunked streaming signatures, which not every
	// S3-compatible store decodes; TLS keeps the body intact on the way.
	opts := minio.PutObjectOptions{DisableContentSha256: true}
	if size < 0 {
		// Unknown length is a multipart upload whose part is buffered in memory; minio-go
		// would size parts for a 5 TiB object (over 500 MiB each). 16 MiB parts allow 160 GB.
		opts.PartSize = 16 << 20
	}
	_, err = cl.PutObject(ctx, bucket, key, r, size, opts)
	if err != nil {
		return s3Error(err)
	}
	return nil
}

// --- HTTP ---

func (c *Client) openHTTP(ctx context.Context, u *url.URL) (*File, error) {
	hc := c.cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: c.cfg.TLS, Proxy: http.ProxyFromEnvironment,
			ResponseHeaderTimeout: c.cfg.Timeout}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fault.MarkPermanent(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return &File{ReadCloser: resp.Body, Size: resp.ContentLength}, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	err = fmt.Errorf("HTTP %s", resp.Status)
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		return nil, err // the server's trouble: retried
	}
	return nil, fault.MarkPermanent(err)
}

func hostPort(u *url.URL, port string) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), port)
}
