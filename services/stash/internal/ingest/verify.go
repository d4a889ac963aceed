// Verify: each block's copies are cross-checked and one verified (in parallel, by the
// workers); the sequencer then runs the ordered checks and passes blocks on in order.

package ingest

import (
	"context"
	"errors"
	"sort"

	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// verifyJob cross-checks the copies of a block and verifies one of them.
func (p *Pipeline) verifyJob(j *job) {
	if j.late != nil {
		j.err = j.late
		return
	}
	if len(j.cands) == 0 {
		j.err = j.errs[0]
		return
	}
	// The first configured source's copy is the one stored, so that reruns store and publish
	// the same bytes (sealer signature subsets differ between nodes).
	sort.Sort(bySource{j})
	var eligible []int
	for k, c := range j.cands {
		if !p.stateful || c.HasState() {
			eligible = append(eligible, k)
		}
	}
	if len(eligible) == 0 {
		j.err = &verify.CheckError{Block: j.n, Check: verify.CheckSource, Err: errors.New("no binlog source delivered the block")}
		if len(j.errs) > 0 {
			j.err = j.errs[0]
		}
		return
	}
	var keys []copyKey
	if len(j.cands) > 1 {
		keys = make([]copyKey, len(j.cands))
		for k, c := range j.cands {
			keys[k] = keyOf(c)
		}
		if err := p.compare(j, keys); err != nil {
			j.err = err
			return
		}
	}
	var firstErr error
	for _, k := range eligible {
		b, err := p.verifier.Check(j.cands[k])
		if err != nil {
			p.cfg.Sources[j.srcs[k]].Stats().SetError(err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		j.block = b
		for k2 := range j.cands {
			if keys == nil || keys[k2].hash == b.Hash {
				j.agreed = append(j.agreed, j.srcs[k2])
			}
		}
		return
	}
	j.err = firstErr
}

// sequence runs the ordered checks and hands verified blocks to the applier. It returns the
// failure that stopped the stream, or nil when ctx ended.
func (p *Pipeline) sequence(ctx context.Context, chain *verify.Chain, order <-chan *job, out chan<- *verify.Block) error {
	for {
		var j *job
		select {
		case <-ctx.Done():
			return nil
		case jj, ok := <-order:
			if !ok {
				return nil
			}
			j = jj
		}
		select {
		case <-ctx.Done():
			return nil
		case <-j.done:
		}
		if j.err != nil {
			return j.err
		}
		b := j.block
		if err := chain.Accept(b); err != nil {
			return err
		}
		p.ring.put(b.Number, ringEntry{hash: b.Hash, hasState: b.HasState, digest: b.Digest})
		for _, i := range j.agreed {
			tr := p.status.sources[i]
			tr.verified.Store(b.Number + 1)
			// Its copy was good: a failed check of this block is over (the fault was fixed).
			tr.src.Stats().ClearErrorAt(b.Number)
		}
		p.metrics.blocksVerified.Inc()
		p.metrics.txsVerified.Add(float64(b.TxCount()))
		select {
		case out <- b:
		case <-ctx.Done():
			return nil
		}
	}
}
