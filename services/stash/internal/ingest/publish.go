// Publish: committed batches go to Kafka in order, and the publication is recorded; at start
// what was stored but not published is republished from the store.

package ingest

import (
	"context"

	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/services/stash/internal/store"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// publishLoop publishes committed batches in order and records each as published.
func (p *Pipeline) publishLoop(ctx context.Context, in <-chan []*verify.Block) {
	for batch := range in {
		// Take whatever else is already committed, so a slow broker gets bigger writes.
	more:
		for len(batch) < 4*p.cfg.MaxBatchBlocks {
			select {
			case nb, ok := <-in:
				if !ok {
					break more
				}
				batch = append(batch, nb...)
			default:
				break more
			}
		}
		if err := p.publishBlocks(ctx, batch); err != nil {
			// Shutting down: what is stored but not published goes out at the next start.
			for range in {
			}
			return
		}
	}
}

func (p *Pipeline) publishBlocks(ctx context.Context, batch []*verify.Block) error {
	msgs, err := p.cfg.Chain.BatchMessages(batch)
	if err != nil {
		return err
	}
	txs := 0
	for _, b := range batch {
		txs += b.TxCount()
	}
	last := batch[len(batch)-1].Number
	if err := p.retry(ctx, p.broker, "publish blocks", func(ctx context.Context) error { return p.pub.Publish(ctx, msgs) }); err != nil {
		return err
	}
	if err := p.retry(ctx, p.db, "record publication", func(ctx context.Context) error { return p.store.SetPublished(ctx, last) }); err != nil {
		return err
	}
	p.status.setPublished(last)
	p.metrics.lastPublished.Set(float64(last))
	p.metrics.blocksPublished.Add(float64(len(batch)))
	p.metrics.txsPublished.Add(float64(txs))
	return nil
}

// republish publishes the blocks stored but not yet published, rebuilt from the store.
func (p *Pipeline) republish(ctx context.Context, prog store.Progress) error {
	if !prog.HasVerified {
		return nil
	}
	next := prog.FirstBlock
	if prog.HasPublished {
		next = prog.LastPublished + 1
	}
	if next > prog.LastVerified {
		return nil
	}
	p.log.Info("republishing stored blocks", zap.Uint64("from", next), zap.Uint64("to", prog.LastVerified))
	for next <= prog.LastVerified {
		var batch []*verify.Block
		for n := next; n <= prog.LastVerified && len(batch) < p.cfg.MaxBatchBlocks; n++ {
			b, err := retryValue(p, ctx, p.db, "load stored block", func(ctx context.Context) (*verify.Block, error) { return p.store.Load(ctx, n) })
			if err != nil {
				return err
			}
			p.verifier.Rehash(b)
			batch = append(batch, b)
		}
		if err := p.publishBlocks(ctx, batch); err != nil {
			return err
		}
		next = batch[len(batch)-1].Number + 1
	}
	return nil
}

// retry calls fn until it succeeds, backing off between attempts and marking the pipeline
