// Gather: one reader per source feeds its blocks to the gatherer, which collects each block
// from every source, in order, and hands it to the verifiers.

package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/retry"
	"github.com/bcosdata/bcosdata/services/stash/internal/source"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// event is what a source reader hands the gatherer.
type event struct {
	src  int
	num  uint64
	cand *verify.Candidate
	// err is a *verify.CheckError about block num, or any other error: the source is down.
	err error
}

func (e *event) down() bool {
	if e.err == nil {
		return false
	}
	var ce *verify.CheckError
	return !errors.As(e.err, &ce)
}

// job is one block on its way through verification.
type job struct {
	n     uint64
	cands []*verify.Candidate
	srcs  []int // source index of each candidate
	errs  []error
	done  chan struct{}
	block *verify.Block
	err   error
	// agreed lists the sources whose copy matched the stored one.
	agreed []int
	// late is a lagging source's disagreement with an already stored block.
	late error
}

// readSource feeds one source's blocks to the gatherer, reopening the source after errors
// with a backoff. Every event holds one of the source's credits until the gatherer takes it,
// which bounds how far a fast source reads ahead of a slow one. An error other than a failed
// check (the source cannot be read at all) makes the source not ready until it delivers again.
func (p *Pipeline) readSource(ctx context.Context, i int, s source.Source, from uint64, want *atomic.Uint64, events chan<- event, credit chan struct{}) {
	pos := from
	dep := p.srcs[i]
	backoff := retry.Policy{Min: p.cfg.RetryMin, Max: p.cfg.RetryMax}.NewBackoff()
	failed := false
	acquire := func() bool {
		select {
		case credit <- struct{}{}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	emit := func(ev event) bool {
		select {
		case events <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		pos = max(pos, want.Load())
		st, err := s.Open(ctx, pos)
		if err != nil {
			s.Stats().SetError(err)
			dep.Fail(err)
			if !acquire() || !emit(event{src: i, num: pos, err: err}) || !backoff.Wait(ctx) {
				return
			}
			failed = true
			continue
		}
		for {
			if !acquire() {
				st.Close()
				return
			}
			c, err := st.Next(ctx)
			if ctx.Err() != nil {
				st.Close()
				return
			}
			if err == nil {
				p.metrics.blocksRead.WithLabelValues(s.Name()).Inc()
				dep.OK()
				if failed {
					backoff.Reset()
					failed = false
				}
				if !emit(event{src: i, num: c.Number, cand: c}) {
					st.Close()
					return
				}
				pos = c.Number + 1
				continue
			}
			st.Close()
			s.Stats().SetError(err)
			var ce *verify.CheckError
			if errors.As(err, &ce) {
				if !emit(event{src: i, num: ce.Block, err: err}) {
					return
				}
				pos = max(pos, ce.Block+1)
			} else {
				dep.Fail(err)
				if !emit(event{src: i, num: pos, err: err}) {
					return
				}
			}
			if !backoff.Wait(ctx) {
				return
			}
			failed = true
			break
		}
	}
}

// gather collects each block from every source and hands it to the verifiers, in order.
func (p *Pipeline) gather(ctx context.Context, from uint64, want *atomic.Uint64, events <-chan event, credit []chan struct{}, order, jobs chan<- *job) {
	ns := len(credit)
	queue := make([][]event, ns)
	down := make([]bool, ns)
	lagging := make([]bool, ns)
	pop := func(i int) event {
		ev := queue[i][0]
		queue[i] = queue[i][1:]
		<-credit[i]
		return ev
	}
	for n := from; ; n++ {
		want.Store(n)
		j := &job{n: n, done: make(chan struct{})}
		resolved := make([]bool, ns)
		var timer <-chan time.Time
		for {
			for i := range ns {
				for !resolved[i] && len(queue[i]) > 0 {
					ev := &queue[i][0]
					switch {
					case ev.down():
						pop(i)
						down[i] = true
					case ev.num < n:
						e := pop(i)
						if e.cand != nil && j.late == nil {
							j.late = p.checkLate(e.cand)
						}
					case ev.num == n:
						e := pop(i)
						down[i], lagging[i], resolved[i] = false, false, true
						if e.cand != nil {
							j.cands, j.srcs = append(j.cands, e.cand), append(j.srcs, i)
						} else {
							j.errs = append(j.errs, e.err)
						}
					default:
						// The source skipped block n.
						down[i], lagging[i], resolved[i] = false, false, true
						j.errs = append(j.errs, &verify.CheckError{Block: n, Check: verify.CheckGap, Source: p.cfg.Sources[i].Name(),
							Err: fmt.Errorf("source went from before block %d to block %d", n, ev.num)})
					}
				}
			}
			valid := false
			for _, c := range j.cands {
				if !p.stateful || c.HasState() {
					valid = true
				}
			}
			all := true
			for i := range ns {
				if !resolved[i] && !down[i] && !lagging[i] {
					all = false
				}
			}
			if all && (valid || len(j.errs) > 0 || len(j.cands) > 0 || j.late != nil) {
				break
			}
			if valid && timer == nil {
				timer = time.After(p.cfg.SourceWait)
			}
			select {
			case ev := <-events:
				queue[ev.src] = append(queue[ev.src], ev)
				continue
			case <-timer:
				for i := range ns {
					if !resolved[i] && !down[i] {
						lagging[i] = true
						p.log.Warn("source lags", zap.String("source", p.cfg.Sources[i].Name()), zap.Uint64("block", n))
					}
				}
			case <-ctx.Done():
				return
			}
			break
		}
		select {
		case order <- j:
		case <-ctx.Done():
			return
		}
		select {
		case jobs <- j:
		case <-ctx.Done():
			return
		}
	}
}
