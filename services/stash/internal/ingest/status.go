package ingest

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/services/stash/internal/health"
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
	// Ready is false while the source cannot be read; ReadySince is when that last changed.
	Ready      bool
	ReadySince time.Time
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

	// stored counts blocks and transactions committed by this process, for the progress log.
	storedBlocks, storedTxs atomic.Uint64
}

type sourceTrack struct {
	src      source.Source
	dep      *health.Dep
	verified atomic.Uint64 // block+1 of the last block this source supplied or agreed with; 0 none
}

func (t *tracker) addStored(blocks, txs int) {
	t.storedBlocks.Add(uint64(blocks))
	t.storedTxs.Add(uint64(txs))
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
		if st.dep != nil {
			ds := st.dep.State()
			ss.Ready, ss.ReadySince = ds.Ready, ds.Since
		}
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

// logProgress logs the progress at Info every ProgressEvery until ctx ends: the last stored
// and published block, the rates since the previous line, and how far the furthest source is
// ahead.
func (p *Pipeline) logProgress(ctx context.Context) {
	t := time.NewTicker(p.cfg.ProgressEvery)
	defer t.Stop()
	prevBlocks, prevTxs, prev := p.status.storedBlocks.Load(), p.status.storedTxs.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			blocks, txs := p.status.storedBlocks.Load(), p.status.storedTxs.Load()
			secs := now.Sub(prev).Seconds()
			st := p.status.snapshot()
			var lag uint64
			for _, s := range st.Sources {
				lag = max(lag, s.Lag)
			}
			fields := []zap.Field{
				zap.Float64("blocks_per_s", round1(float64(blocks-prevBlocks)/secs)),
				zap.Float64("txs_per_s", round1(float64(txs-prevTxs)/secs)),
				zap.Uint64("lag", lag),
			}
			if st.HasVerified {
				fields = append(fields, zap.Uint64("last_verified", st.LastVerified))
			}
			if st.HasPublished {
				fields = append(fields, zap.Uint64("last_published", st.LastPublished))
			}
			if st.Failure != nil {
				fields = append(fields, zap.Uint64("stopped_at", st.Failure.Block), zap.String("check", st.Failure.Check))
			}
			p.log.Info("progress", fields...)
			prevBlocks, prevTxs, prev = blocks, txs, now
		}
	}
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
