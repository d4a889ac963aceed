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

// register registers a contract over the API (every instance decodes with it from its next
// batch) and decodes its stored history in the background, its progress kept like a
// re-export's.
func (r *reexporter) register(ctx context.Context, reg contract.Registered) (*contract.Contract, error) {
	k, isNew, err := r.pipe.Register(ctx, reg)
	switch {
	case errors.Is(err, ingest.ErrBadRegistration):
		return nil, fmt.Errorf("%w: %w", api.ErrBadContract, err)
	case errors.Is(err, ingest.ErrRegistered):
		return nil, fmt.Errorf("%w: %w", api.ErrContractExists, err)
	case err != nil || !isNew:
		return k, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b := &api.Backfill{Running: true, Started: time.Now()}
	r.state[k.Name] = b
	r.wg.Go(func() {
		err := r.pipe.BackfillRegistered(r.ctx, k, func(p ingest.BackfillProgress) {
			r.mu.Lock()
			b.Pass, b.Done, b.Items = p.Pass, p.Done, uint64(p.Items)
			b.To = max(b.To, p.Done)
			r.mu.Unlock()
		})
		r.mu.Lock()
		b.Running, b.Finished, b.Err = false, time.Now(), err
		r.mu.Unlock()
		if err != nil && !errors.Is(err, context.Canceled) {
			r.log.Error("backfill of a registered contract failed; it is done again at the next start", zap.String("contract", k.Name), zap.Error(err))
		}
	})
	return k, nil
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
