package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/retry"
)

// HTTP reads a node's binlog directory served as an nginx-style autoindex: it lists the
// directory, downloads the files into a local cache with Range requests (so a growing file is
// topped up, never fetched twice) and reads the cache like a local directory. The cache keeps
// at most CacheMaxBytes: files the stream has read past are deleted, and downloading pauses
// while the files still ahead fill the budget.
type HTTP struct {
	name   string
	base   *url.URL
	cache  string
	opts   Options
	client *http.Client
	stats  Stats
}

// NewHTTP returns a source for the autoindex at raw (a directory URL; a trailing slash is
// added).
func NewHTTP(raw string, opts Options) (*HTTP, error) {
	opts.defaults()
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse source %q: %w", raw, err)
	}
	if u.Path == "" || u.Path[len(u.Path)-1] != '/' {
		u.Path += "/"
	}
	dir := opts.CacheDir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "bcosdata", "stash")
	}
	sum := sha256.Sum256([]byte(u.String()))
	return &HTTP{
		name:  raw,
		base:  u,
		cache: filepath.Join(dir, hex.EncodeToString(sum[:8])),
		opts:  opts,
		// No overall timeout: a download of a large file may take long; the dialer and
		// header timeouts catch a dead server, and reads are bounded by the context.
		client: &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			ResponseHeaderTimeout: opts.HTTPTimeout,
			IdleConnTimeout:       time.Minute,
		}},
	}, nil
}

// Name implements Source.
func (h *HTTP) Name() string { return h.name }

// Stats implements Source.
func (h *HTTP) Stats() *Stats { return &h.stats }

// Open implements Source: it starts the downloader and a stream over the cache.
func (h *HTTP) Open(ctx context.Context, from uint64) (Stream, error) {
	if err := os.MkdirAll(h.cache, 0o755); err != nil {
		return nil, fmt.Errorf("create cache for %s: %w", h.name, err)
	}
	ds := newDirStream(h.name, h.cache, from, h.opts, &h.stats)
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &httpStream{dirStream: ds, h: h, cancel: cancel, done: make(chan struct{})}
	d := &downloader{h: h, from: from, stream: ds}
	go func() {
		defer close(s.done)
		d.run(dctx)
	}()
	return s, nil
}

type httpStream struct {
	*dirStream
	h      *HTTP
	cancel context.CancelFunc
	done   chan struct{}
}

// Close stops the downloader and closes the stream. Idle connections are closed too: a
// connection dialled for a request that was then cancelled would otherwise linger unused.
func (s *httpStream) Close() error {
	s.cancel()
	<-s.done
	s.h.client.CloseIdleConnections()
	return s.dirStream.Close()
}

// downloader keeps the cache in step with the remote directory.
type downloader struct {
	h      *HTTP
	from   uint64
	stream *dirStream
}

// remoteFile is an entry of the remote listing.
type remoteFile struct {
	name  string
	first uint64
}

// hrefPattern finds binlog links in an autoindex page, whatever its layout (nginx's HTML, its
// exact-size variant, Go's FileServer): only the link target matters.
var hrefPattern = regexp.MustCompile(`href="(?:\./)?([0-9]+)\.binlog"`)

func (d *downloader) run(ctx context.Context) {
	for {
		err := d.pass(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d.h.stats.SetError(err)
			d.h.stats.Unreachable(err)
		}
		if !retry.Sleep(ctx, d.h.opts.Poll) {
			return
		}
	}
}

// pass lists the remote directory and tops up the cache, oldest needed file first. A file is
// created locally only after the one before it was topped up in the same pass that saw the
// newer file, so the local stream may treat "a newer file exists" as "this one is complete".
func (d *downloader) pass(ctx context.Context) error {
	remote, err := d.list(ctx)
	if err != nil {
		return err
	}
	if len(remote) == 0 {
		return nil
	}
	d.h.stats.SeeHead(remote[len(remote)-1].first)
	pos := d.stream.position.Load()
	start := 0
	for i, f := range remote {
		if f.first <= pos {
			start = i
		}
	}
	if err := d.clean(pos); err != nil {
		return err
	}
	for _, f := range remote[start:] {
		used, err := d.cacheBytes()
		if err != nil {
			return err
		}
		path := filepath.Join(d.h.cache, f.name)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && used >= d.h.opts.CacheMaxBytes {
			// Full: the reader must consume (and clean) before more is fetched.
			return nil
		}
		if err := d.fetch(ctx, f, path); err != nil {
			return err
		}
	}
	d.h.stats.SetError(nil)
	d.h.stats.Reachable()
	return nil
}

func (d *downloader) list(ctx context.Context) ([]remoteFile, error) {
	lctx, cancel := context.WithTimeout(ctx, d.h.opts.HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(lctx, http.MethodGet, d.h.base.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.h.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list %s: status %s", d.h.base, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.h.base, err)
	}
	seen := map[uint64]bool{}
	var out []remoteFile
	for _, m := range hrefPattern.FindAllSubmatch(body, -1) {
		n, err := strconv.ParseUint(string(m[1]), 10, 64)
		if err != nil || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, remoteFile{name: binlog.FileName(n), first: n})
	}
	slices.SortFunc(out, func(a, b remoteFile) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	return out, nil
}

// fetch appends to the local copy whatever the remote file has beyond it.
func (d *downloader) fetch(ctx context.Context, f remoteFile, path string) error {
	local, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open cache file: %w", err)
	}
	defer local.Close()
	st, err := local.Stat()
	if err != nil {
		return fmt.Errorf("stat cache file: %w", err)
	}
	have := st.Size()
	u := d.h.base.ResolveReference(&url.URL{Path: f.name})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	resp, err := d.h.client.Do(req)
	if err != nil {
		return fmt.Errorf("download %s from byte %d: %w", u, have, err)
	}
	defer resp.Body.Close()
	body := io.Reader(resp.Body)
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusRequestedRangeNotSatisfiable:
		return nil
	case http.StatusOK:
		// The server ignored the Range header: skip what we already have.
		if _, err := io.CopyN(io.Discard, resp.Body, have); err != nil {
			return fmt.Errorf("download %s: skip %d cached bytes: %w", u, have, err)
		}
	default:
		return fmt.Errorf("download %s from byte %d: status %s", u, have, resp.Status)
	}
	n, err := io.Copy(local, body)
	d.h.stats.AddDownload(n)
	if err != nil {
		return fmt.Errorf("download %s at byte %d: %w", u, have+n, err)
	}
	return nil
}

// clean deletes cached files whose every block precedes pos: those followed by a file that
// starts at or before pos.
func (d *downloader) clean(pos uint64) error {
	files, err := binlog.ListDir(d.h.cache)
	if err != nil {
		return err
	}
	for i := 0; i+1 < len(files); i++ {
		if files[i+1].FirstBlock <= pos {
			if err := os.Remove(files[i].Path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("clean cache: %w", err)
			}
		}
	}
	return nil
}

func (d *downloader) cacheBytes() (int64, error) {
	files, err := binlog.ListDir(d.h.cache)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, f := range files {
		n += f.Size
	}
	return n, nil
}

var _ Stream = (*httpStream)(nil)
