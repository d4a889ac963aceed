package export

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/services/export/internal/api"
	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/ingest"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// reexporter runs ReExport requests in the background of Run, one at a time per contract,
// and keeps their progress for GetContract.
type reexporter struct {
	ctx  context.Context
	pipe *ingest.Pipeline
	st   *store.Store
	log  *zap.Logger
	wg   sync.WaitGroup

	mu    sync.Mutex
	state map[string]*api.Backfill
}

// start checks a request and starts decoding the named contracts' stored history in
// [from, to] again (nil ends: the stored range), returning the range.
func (r *reexporter) start(ks []*contract.Contract, from, to *uint64) (uint64, uint64, error) {
	lo, hi, ok, err := r.st.Height(r.ctx)
	if err != nil {
		return 0, 0, err
	}
	if !ok {
		return 0, 0, fmt.Errorf("%w: no block is stored yet", api.ErrNothingToReExport)
	}
	if from != nil {
		lo = max(lo, *from)
	}
	if to != nil {
		hi = min(hi, *to)
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("%w: blocks %d-%d are not stored", api.ErrNothingToReExport, lo, hi)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range ks {
		if b := r.state[k.Name]; b != nil && b.Running {
			return 0, 0, fmt.Errorf("%w: %s (blocks %d-%d)", api.ErrReExportRunning, k.Name, b.From, b.To)
		}
	}
	now := time.Now()
	for _, k := range ks {
		r.state[k.Name] = &api.Backfill{Running: true, Pass: "deployments", From: lo, To: hi, Started: now}
	}
	r.wg.Go(func() {
		for _, k := range ks {
			err := r.pipe.BackfillRange(r.ctx, k, lo, hi, "reexport", func(p ingest.BackfillProgress) {
				r.mu.Lock()
				b := r.state[k.Name]
				b.Pass, b.Done, b.Items = p.Pass, p.Done, uint64(p.Items)
				r.mu.Unlock()
			})
			r.mu.Lock()
			b := r.state[k.Name]
			b.Running, b.Finished, b.Err = false, time.Now(), err
			r.mu.Unlock()
			if err != nil && !errors.Is(err, context.Canceled) {
				r.log.Error("re-export failed", zap.String("contract", k.Name), zap.Error(err))
			}
		}
	})
	return lo, hi, nil
}

// progress returns a contract's last re-export.
func (r *reexporter) progress(name string) (api.Backfill, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.state[name]
	if b == nil {
		return api.Backfill{}, false
	}
	return *b, true
}
