package ingest

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// BackfillChunk is how many blocks one backfill transaction covers.
const BackfillChunk = 10_000

// Sync brings the typed tables in line with the -contracts file before consuming: a contract
// whose entry is new or changed since its tables were built (its Fingerprint differs from the
// stored one) gets its typed tables rebuilt and its stored history decoded again from the
// transactions and logs tables, without reading Kafka. The fingerprint is recorded only once
// its backfill is complete, so a crash midway restarts the backfill at the next start.
// Contracts removed from the file keep their tables.
func (p *Pipeline) Sync(ctx context.Context) error {
	stored, err := p.st.Contracts(ctx)
	if err != nil {
		return err
	}
	var changed []*contract.Contract
	tx, err := p.st.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	for _, k := range p.reg().List() {
		fp := Fingerprint(k)
		rec, ok := stored[k.Name]
		if ok && bytes.Equal(rec.Fingerprint, fp) {
			for _, t := range k.Tables {
				took := time.Now()
				rekeyed, err := tx.CreateTypedTable(ctx, t)
				if err != nil {
					return err
				}
				if rekeyed {
					p.log.Info("typed table rekeyed by block, transaction index and log index, the order pages read it in",
						zap.String("table", t.Name), zap.Duration("took", time.Since(took)))
				}
			}
			continue
		}
		if ok {
			if err := tx.ResetContract(ctx, k.Name, rec.Tables); err != nil {
				return err
			}
		}
		if err := p.register(ctx, tx, k, nil); err != nil {
			return err
		}
		changed = append(changed, k)
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	for _, k := range changed {
		if err := p.Backfill(ctx, k); err != nil {
			return fmt.Errorf("backfill contract %s: %w", k.Name, err)
		}
		tx, err := p.st.Begin(ctx)
		if err != nil {
			return err
		}
		if err := p.register(ctx, tx, k, Fingerprint(k)); err != nil {
			tx.Rollback(ctx)
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
	}
	return nil
}

// register creates a contract's typed tables and fixed-address deployments and records it
// with fingerprint (empty while its backfill is not complete).
func (p *Pipeline) register(ctx context.Context, tx *store.Tx, k *contract.Contract, fingerprint []byte) error {
	rec := store.ContractRecord{Name: k.Name, Fingerprint: fingerprint, Learn: k.Learn, Addresses: [][]byte{}, Tables: []string{}}
	if rec.Fingerprint == nil {
		rec.Fingerprint = []byte{}
	}
	var fixed []store.Deployment
	for _, a := range k.Addresses {
		rec.Addresses = append(rec.Addresses, a.Bytes())
		fixed = append(fixed, store.Deployment{Address: a.Bytes(), Contract: k.Name})
	}
	for _, t := range k.Tables {
		rec.Tables = append(rec.Tables, t.Name)
		if _, err := tx.CreateTypedTable(ctx, t); err != nil {
			return err
		}
	}
	if _, err := tx.AddDeployments(ctx, fixed); err != nil {
		return err
	}
	return tx.SaveContract(ctx, rec)
}

// Backfill decodes a contract's stored history: first its deployments (creation transactions
// whose bytecode is its own), then every stored call to and log of its known addresses,
// BackfillChunk blocks per transaction. Rows already there are left as they are.
func (p *Pipeline) Backfill(ctx context.Context, k *contract.Contract) error {
	lo, hi, ok, err := p.st.Height(ctx)
	if err != nil || !ok {
		return err
	}
	return p.BackfillRange(ctx, k, lo, hi, "contract", nil)
}

// BackfillProgress is how far a backfill got.
type BackfillProgress struct {
	// Pass is "deployments", then "calls and logs".
	Pass string
	// Done is the last block of the pass decoded; Items the calls and logs decoded so far.
	Done  uint64
	Items int
}

// BackfillRange is Backfill over blocks [lo, hi]: kind labels its metrics ("contract" for a
// contract's history, "reexport" for ReExport), progress (nil for none) is told of each
// committed chunk. It may run beside the consumer: both write under the export write lock and
// leave stored rows as they are.
func (p *Pipeline) BackfillRange(ctx context.Context, k *contract.Contract, lo, hi uint64, kind string, progress func(BackfillProgress)) error {
	p.metrics.Backfills.WithLabelValues(kind).Inc()
	p.metrics.BackfillBlocks.WithLabelValues(kind).Add(float64(hi - lo + 1))
	began := time.Now()
	p.log.Info("backfill started", zap.String("contract", k.Name), zap.Uint64("from", lo), zap.Uint64("to", hi))
	items := 0
	chunks := func(pass string, fn func(*store.Tx, store.Range, *decoded) (int, error)) error {
		for from := lo; from <= hi; from += BackfillChunk {
			r := store.Range{From: from, To: min(hi, from+BackfillChunk-1)}
			tx, err := p.st.Begin(ctx)
			if err != nil {
				return err
			}
			out := &decoded{}
			n, err := fn(tx, r, out)
			if err == nil {
				err = p.write(ctx, tx, out)
			}
			if err == nil {
				err = tx.Commit(ctx)
			}
			tx.Rollback(ctx)
			if err != nil {
				return err
			}
			p.observe(tx, out)
			items += n
			p.metrics.BackfillRows.WithLabelValues(k.Name).Add(float64(n))
			if len(out.msgs) > 0 {
				p.notify()
			}
			p.log.Info("backfill progress", zap.String("contract", k.Name), zap.String("pass", pass), zap.Uint64("to", r.To), zap.Uint64("of", hi), zap.Int("items", items))
			if progress != nil {
				progress(BackfillProgress{Pass: pass, Done: r.To, Items: items})
			}
		}
		return nil
	}
	err := chunks("deployments", func(tx *store.Tx, r store.Range, out *decoded) (int, error) {
		creations, err := tx.TxsOf(ctx, nil, true, r)
		if err != nil {
			return 0, err
		}
		var learned []store.Deployment
		n := 0
		for _, x := range creations {
			m, ok := p.reg().matchCreation(x.Input)
			if !ok || m.Name != k.Name || (!k.Learn && !fixedAt(k, x.ContractAddress)) {
				continue
			}
			if k.Learn && len(x.ContractAddress) > 0 {
				learned = append(learned, store.Deployment{Address: x.ContractAddress, Contract: k.Name, BlockNumber: x.BlockNumber, TxHash: x.Hash, Learned: true})
			}
			p.dec.call(out, x, k)
			n++
		}
		_, err = tx.AddDeployments(ctx, learned)
		return n, err
	})
	if err != nil {
		return err
	}
	err = chunks("calls and logs", func(tx *store.Tx, r store.Range, out *decoded) (int, error) {
		addrs, err := tx.KnownAddresses(ctx, k.Name)
		if err != nil {
			return 0, err
		}
		h, err := p.decodeHistory(ctx, tx, out, k, addrs, r)
		return h.items, err
	})
	if err != nil {
		return err
	}
	p.log.Info("backfill done", zap.String("contract", k.Name), zap.Int("items", items), zap.Duration("took", time.Since(began)))
	return nil
}
