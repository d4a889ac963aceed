package ingest

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bcosdata/bcosdata/services/stash/internal/source"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// Failure describes the block the stream stopped at.
type Failure struct {
	Block   uint64
	Check   string
	Message string
	Source  string
	File    string
	Offset  int64
	Time    time.Time
}

// SourceStatus is one source's progress.
type SourceStatus struct {
	Name          string
	Head          uint64
	HasHead       bool
	LastVerified  uint64
	HasVerified   bool
	LastPublished uint64
	HasPublished  bool
	Lag           uint64
	LastError     string
	LastErrorTime time.Time
	DownloadBytes int64
}

// Status is a snapshot of the pipeline.
type Status struct {
	LastVerified  uint64
	HasVerified   bool
	LastPublished uint64
	HasPublished  bool
	Checkpoint    [32]byte
	Failure       *Failure
	Sources       []SourceStatus
}

// tracker holds the live status. Safe for concurrent use.
type tracker struct {
	mu            sync.Mutex
	lastVerified  uint64
	hasVerified   bool
	lastPublished uint64
	hasPublished  bool
	checkpoint    [32]byte
	failure       *Failure
	sources       []*sourceTrack
}

type sourceTrack struct {
	src      source.Source
	verified atomic.Uint64 // block+1 of the last block this source supplied or agreed with; 0 none
}

func (t *tracker) setVerified(n uint64, cp [32]byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastVerified, t.hasVerified, t.checkpoint = n, true, cp
	if t.failure != nil && t.failure.Block <= n {
		t.failure = nil
	}
}

func (t *tracker) setPublished(n uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastPublished, t.hasPublished = n, true
}

func (t *tracker) fail(err error) *Failure {
	f := &Failure{Message: err.Error(), Time: time.Now(), Check: verify.CheckSource}
	var ce *verify.CheckError
	if errors.As(err, &ce) {
		f.Block, f.Check, f.Source, f.File, f.Offset = ce.Block, ce.Check, ce.Source, ce.File, ce.Offset
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failure = f
	return f
}

func (t *tracker) snapshot() Status {
	t.mu.Lock()
	s := Status{LastVerified: t.lastVerified, HasVerified: t.hasVerified, LastPublished: t.lastPublished,
		HasPublished: t.hasPublished, Checkpoint: t.checkpoint}
	if t.failure != nil {
		f := *t.failure
		s.Failure = &f
	}
	t.mu.Unlock()
	for _, st := range t.sources {
		stats := st.src.Stats()
		ss := SourceStatus{Name: st.src.Name(), DownloadBytes: stats.Downloaded()}
		ss.Head, ss.HasHead = stats.Head()
		if v := st.verified.Load(); v > 0 {
			ss.LastVerified, ss.HasVerified = v-1, true
			if s.HasPublished {
				ss.LastPublished, ss.HasPublished = min(ss.LastVerified, s.LastPublished), true
			}
		}
		ss.LastError, ss.LastErrorTime = stats.LastError()
		if ss.HasHead {
			switch {
			case !s.HasVerified:
				ss.Lag = ss.Head + 1
			case ss.Head > s.LastVerified:
				ss.Lag = ss.Head - s.LastVerified
			}
		}
		s.Sources = append(s.Sources, ss)
	}
	return s
}
