// Commit: verified blocks are stored in PostgreSQL in batches, one transaction each, with
// the progress row.

package ingest

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// apply commits blocks in batches and passes each committed batch to the publisher. When no
// block has come for CaughtUpAfter, the stash has caught up and builds its key indexes.
func (p *Pipeline) apply(ctx context.Context, in <-chan *verify.Block, out chan<- []*verify.Block) {
	defer close(out)
	idle := time.NewTimer(p.cfg.CaughtUpAfter)
	defer idle.Stop()
	for {
		var b *verify.Block
		select {
		case nb, ok := <-in:
			if !ok {
				return
			}
			b = nb
		case <-idle.C:
			if !p.buildKeyIndexes(ctx) {
				idle.Reset(p.cfg.RetryMax)
			}
			continue
		}
		batch := []*verify.Block{b}
		txs, bytes := b.TxCount(), len(b.Raw)
	fill:
		for len(batch) < p.cfg.MaxBatchBlocks && txs < p.cfg.MaxBatchTxs && bytes < p.cfg.MaxBatchBytes {
			select {
			case nb, ok := <-in:
				if !ok {
					break fill
				}
				batch = append(batch, nb)
				txs += nb.TxCount()
				bytes += len(nb.Raw)
			default:
				break fill
			}
		}
		last := batch[len(batch)-1]
		err := p.retry(ctx, p.db, "store blocks", func(ctx context.Context) error { return p.store.Apply(ctx, batch) })
		if err != nil {
			return
		}
		p.status.setVerified(last.Number, last.Checkpoint)
		p.metrics.lastVerified.Set(float64(last.Number))
		p.metrics.blocksIngested.Add(float64(len(batch)))
		p.metrics.txsIngested.Add(float64(txs))
		p.status.addStored(len(batch), txs)
		p.log.Debug("stored blocks", zap.Uint64("from", batch[0].Number), zap.Uint64("to", last.Number))
		out <- batch
		idle.Reset(p.cfg.CaughtUpAfter)
	}
}

// buildKeyIndexes builds the key indexes the store left out while catching up, and reports
// whether it succeeded. A failure is logged and the build tried again later (after RetryMax,
// or at the next pause): the indexes serve lookups by key, not ingestion.
func (p *Pipeline) buildKeyIndexes(ctx context.Context) bool {
	ix, ok := p.store.(KeyIndexer)
	if !ok || ctx.Err() != nil {
		return true
	}
	start := time.Now()
	n, err := ix.BuildKeyIndexes(ctx)
	if n > 0 {
		p.log.Info("key indexes built", zap.Int("indexes", n), zap.Duration("took", time.Since(start)))
	}
	if err != nil && ctx.Err() == nil {
		p.log.Warn("build key indexes", zap.Error(err))
		return false
	}
	return true
}
