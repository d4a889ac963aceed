// Package source reads blocks from FISCO BCOS 2.x nodes: a node's binlog directory on the
// local file system (tailing the newest, growing file), the same directory served over HTTP as
// an nginx-style autoindex (downloaded with Range requests into a bounded local cache), or the
// node's JSON-RPC through go-sdk for nodes without binlog.
//
// A source opens a Stream at a block number; the Stream delivers one verify.Candidate per
// block, in order, and blocks while the node has nothing new. A block the source cannot
// deliver intact (a bad CRC, a record cut short with a newer file behind it, a gap) comes back
// as a *verify.CheckError for that block; any other error means the stream is broken and should
// be reopened.
package source

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// ErrUnsupported reports a source URL whose scheme or form the stash does not read.
var ErrUnsupported = errors.New("unsupported source")

// Source is one node's blocks.
type Source interface {
	// Name is the source URL as configured, used in logs, Status and metrics.
	Name() string
	// Open starts a stream at block from.
	Open(ctx context.Context, from uint64) (Stream, error)
	// Stats returns the source's counters.
	Stats() *Stats
}

// Stream delivers a source's blocks in order.
type Stream interface {
	// Next blocks until the next block is there or ctx ends.
	Next(ctx context.Context) (*verify.Candidate, error)
	// Close releases the stream's files and connections.
	Close() error
}

// Stats are a source's counters, shared with the status API. Safe for concurrent use.
type Stats struct {
	head     atomic.Uint64
	hasHead  atomic.Bool
	download atomic.Int64
	// hasErr mirrors lastErr != "", so ClearErrorAt costs one atomic load on the hot path.
	hasErr atomic.Bool
	watch  atomic.Pointer[watcher]

	mu      sync.Mutex
	lastErr string
	errTime time.Time
	// errBlock is the block a failed check was about (with errAtBlock).
	errBlock   uint64
	errAtBlock bool
}

type watcher struct {
	up   func()
	down func(error)
}

// Watch sets the functions the source calls when it found the node there, even with nothing
// new to read (a binlog directory listed, a remote listing downloaded), and when it could not
// reach it in the background (an HTTP source's downloads). Errors of Open and Next are the
// caller's to see.
func (s *Stats) Watch(up func(), down func(error)) { s.watch.Store(&watcher{up: up, down: down}) }

// Reachable reports that the node was found there.
func (s *Stats) Reachable() {
	if w := s.watch.Load(); w != nil {
		w.up()
	}
}

// Unreachable reports that the node could not be reached.
func (s *Stats) Unreachable(err error) {
	if w := s.watch.Load(); w != nil {
		w.down(err)
	}
}

// SeeHead records a block number the node is known to have.
func (s *Stats) SeeHead(n uint64) {
	for {
		cur := s.head.Load()
		if s.hasHead.Load() && cur >= n {
			return
		}
		if s.head.CompareAndSwap(cur, n) {
			s.hasHead.Store(true)
			return
		}
	}
}

// Head returns the highest block number seen and whether any was.
func (s *Stats) Head() (uint64, bool) { return s.head.Load(), s.hasHead.Load() }

// AddDownload counts bytes downloaded from the node.
func (s *Stats) AddDownload(n int64) { s.download.Add(n) }

// Downloaded returns the bytes downloaded so far.
func (s *Stats) Downloaded() int64 { return s.download.Load() }

// SetError records the source's latest error; nil clears it.
func (s *Stats) SetError(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.lastErr, s.errAtBlock = "", false
		s.hasErr.Store(false)
		return
	}
	s.lastErr, s.errTime = err.Error(), time.Now()
	var ce *verify.CheckError
	s.errBlock, s.errAtBlock = 0, false
	if errors.As(err, &ce) {
		s.errBlock, s.errAtBlock = ce.Block, true
	}
	s.hasErr.Store(true)
}

// ClearErrorAt clears the latest error if it was a failed check of block n: the source's copy
// of n was good after all (the fault was fixed). Errors about other blocks stay.
func (s *Stats) ClearErrorAt(n uint64) {
	if !s.hasErr.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errAtBlock && s.errBlock == n {
		s.lastErr, s.errAtBlock = "", false
		s.hasErr.Store(false)
	}
}

// LastError returns the latest error and when it happened ("" when none).
func (s *Stats) LastError() (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr, s.errTime
}

// Options are shared by the sources Parse builds.
type Options struct {
	// Suite is the chain's crypto suite (RPC sources rebuild and hash blocks).
	Suite *cryptosuite.Suite
	// Group is the default group of rpc:// sources without ?group=.
	Group uint
	// Poll is how often a source looks for new data when it has none; default 500ms.
	Poll time.Duration
	// TruncatedGrace is how long a record may stay cut short at the end of the newest file
	// before it is reported as a failure (the node may be writing it); default 10s.
	TruncatedGrace time.Duration
	// CacheDir holds the local copies of HTTP sources (one subdirectory per source).
	CacheDir string
	// CacheMaxBytes bounds each HTTP source's cache; default 1 GiB.
	CacheMaxBytes int64
	// HTTPTimeout bounds one HTTP request; default 30s for RPC and listings. Downloads are
	// bounded by it between bytes, not in total.
	HTTPTimeout time.Duration
	// Prefetch is how many blocks an RPC source fetches ahead; default 8.
	Prefetch int
}

func (o *Options) defaults() {
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.TruncatedGrace <= 0 {
		o.TruncatedGrace = 10 * time.Second
	}
	if o.CacheMaxBytes <= 0 {
		o.CacheMaxBytes = 1 << 30
	}
	if o.HTTPTimeout <= 0 {
		o.HTTPTimeout = 30 * time.Second
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 8
	}
}

// Parse builds the source a URL names:
//
//	file:///data/node0/group1/BinaryLogs     a local binlog directory
//	http://node0:8546/group1/BinaryLogs/     an nginx-style autoindex of one (https too)
//	rpc://node0:8545?group=1                 JSON-RPC over HTTP
func Parse(raw string, opts Options) (Source, error) {
	opts.defaults()
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse source %q: %w", raw, err)
	}
	switch u.Scheme {
	case "file":
		if u.Path == "" {
			return nil, fmt.Errorf("source %q: %w: file URL without a path", raw, ErrUnsupported)
		}
		return NewFile(raw, u.Path, opts), nil
	case "http", "https":
		return NewHTTP(raw, opts)
	case "rpc":
		group := opts.Group
		if g := u.Query().Get("group"); g != "" {
			n, err := strconv.ParseUint(g, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("source %q: group %q: %w", raw, g, err)
			}
			group = uint(n)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("source %q: %w: rpc URL without host:port", raw, ErrUnsupported)
		}
		endpoint := "http://" + u.Host + strings.TrimSuffix(u.Path, "/")
		return NewRPC(raw, endpoint, int(group), opts), nil
	}
	return nil, fmt.Errorf("source %q: %w: scheme %q, want file, http or rpc", raw, ErrUnsupported, u.Scheme)
}
