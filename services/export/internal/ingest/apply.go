package ingest

import (
	"bytes"
	"context"
	"maps"
	"math"
	"math/big"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// batch is a batch of blocks as export's base rows, with the decoding inputs.
type batch struct {
	blocks  []store.Block
	txs     []store.StoredTx
	logs    []store.StoredLog
	skipped int
}

func (b *batch) numbers() []uint64 {
	out := make([]uint64, 0, len(b.blocks))
	for _, x := range b.blocks {
		out = append(out, x.Number)
	}
	return out
}

// A batch's transactions and logs of registered contracts are decoded in its transaction:
// lookUp learns the deployments the batch makes and reads the contracts of the addresses it
// calls, and for each deployment that was not known before the stored history of its address
// (calls and logs other instances stored before the deployment's block came through);
// decodeLooked decodes them.

// looked is what decoding a batch reads from the database: the contract of every address
// the batch calls or that logs in it, the deployments it creates, and the stored history of
// those not known before.
type looked struct {
	known    map[string]string
	creators map[string]*contract.Contract
	history  []storedHistory
}

// storedHistory is the stored calls to and logs of a deployment learned by the batch.
type storedHistory struct {
	k    *contract.Contract
	txs  []store.StoredTx
	logs []store.StoredLog
}

// lookUp records the deployments the batch makes and reads what decoding it needs, in tx.
// It does not read the batch's own rows, so it may run before they are written.
func (p *Pipeline) lookUp(ctx context.Context, tx *store.Tx, b *batch) (*looked, error) {
	l := &looked{creators: map[string]*contract.Contract{}}
	if len(p.reg().list) == 0 {
		return l, nil
	}
	// Deployments first: a call later in the batch may go to one of them.
	learned, creators := p.creations(b)
	l.creators = creators
	fresh, err := tx.AddDeployments(ctx, learned)
	if err != nil {
		return nil, err
	}
	if l.known, err = tx.Deployments(ctx, addresses(b)); err != nil {
		return nil, err
	}
	for _, d := range fresh {
		k, _ := p.reg().Named(d.Contract)
		h := storedHistory{k: k}
		r := store.Range{From: 0, To: math.MaxInt64, Skip: b.numbers()}
		if h.txs, err = tx.TxsOf(ctx, [][]byte{d.Address}, false, r); err != nil {
			return nil, err
		}
		if h.logs, err = tx.LogsOf(ctx, [][]byte{d.Address}, r); err != nil {
			return nil, err
		}
		l.history = append(l.history, h)
	}
	return l, nil
}

// creations returns the deployments of registered contracts the batch learns (learn: true)
// and the contract each decodable creation creates, by transaction hash.
func (p *Pipeline) creations(b *batch) ([]store.Deployment, map[string]*contract.Contract) {
	var learned []store.Deployment
	creators := map[string]*contract.Contract{}
	for _, x := range b.txs {
		if !isCreation(x.To) {
			continue
		}
		k, ok := p.reg().matchCreation(x.Input)
		if !ok {
			continue
		}
		if k.Learn && len(x.ContractAddress) > 0 {
			learned = append(learned, store.Deployment{Address: x.ContractAddress, Contract: k.Name, BlockNumber: x.BlockNumber, TxHash: x.Hash, Learned: true})
		}
		if k.Learn || fixedAt(k, x.ContractAddress) {
			creators[string(x.Hash)] = k
		}
	}
	return learned, creators
}

// addresses returns the addresses the batch calls or that log in it, each once: a batch
// calls few contracts many times.
func addresses(b *batch) [][]byte {
	var addrs [][]byte
	seen := map[string]bool{}
	add := func(a []byte) {
		if !seen[string(a)] {
			seen[string(a)] = true
			addrs = append(addrs, a)
		}
	}
	for _, x := range b.txs {
		if !isCreation(x.To) {
			add(x.To)
		}
	}
	for _, lg := range b.logs {
		add(lg.Address)
	}
	return addrs
}

// guess is a batch decoded before its transaction began, from the deployments committed by
// then and those the batch itself learns. Decoding is most of export's own work on a batch;
// done before the write lock, it runs while another partition's batch holds the lock instead
// of holding it. apply uses the guess only when its transaction reads the same deployments
// (see guessed): a deployment another batch recorded in between makes it decode again.
type guess struct {
	contracts *Contracts
	known     map[string]string
	out       *decoded
}

// guess decodes b ahead of its transaction; nil when there is nothing to decode or the
// deployments could not be read (the transaction reads them again and reports).
func (p *Pipeline) guess(ctx context.Context, b *batch) *guess {
	reg := p.reg()
	if len(reg.list) == 0 {
		return nil
	}
	learned, creators := p.creations(b)
	addrs := addresses(b)
	known, err := p.st.Deployments(ctx, addrs)
	if err != nil {
		return nil
	}
	// As the transaction will see them: the batch's own deployments, unless the address
	// already had one (AddDeployments keeps the first).
	asked := map[string]bool{}
	for _, a := range addrs {
		asked[string(a)] = true
	}
	for _, d := range learned {
		if _, ok := known[string(d.Address)]; !ok && asked[string(d.Address)] {
			known[string(d.Address)] = d.Contract
		}
	}
	out, _ := p.decodeLooked(b, &looked{known: known, creators: creators})
	if p.reg() != reg {
		return nil // a registration came in meanwhile: decode in the transaction
	}
	return &guess{contracts: reg, known: known, out: out}
}

// guessed returns the guess's decoding when the transaction's look-up l matches it, with the
// history l read decoded after it, as decodeLooked would have decoded them together.
func (p *Pipeline) guessed(g *guess, l *looked) (*decoded, history, bool) {
	if g == nil || g.contracts != p.reg() || !maps.Equal(g.known, l.known) {
		return nil, history{}, false
	}
	out := &decoded{rows: slices.Clone(g.out.rows), msgs: slices.Clone(g.out.msgs), failures: slices.Clone(g.out.failures)}
	var backfilled history
	for _, h := range l.history {
		got := p.decodeStored(out, h.k, h.txs, h.logs)
		backfilled.items += got.items
		backfilled.blocks += got.blocks
	}
	return out, backfilled, true
}

// decodeLooked decodes the batch and the history lookUp read; it only computes.
func (p *Pipeline) decodeLooked(b *batch, l *looked) (*decoded, history) {
	out := &decoded{}
	if len(p.reg().list) == 0 {
		return out, history{}
	}
	at := func(addr []byte) (*contract.Contract, bool) {
		name, ok := l.known[string(addr)]
		if !ok {
			return nil, false
		}
		return p.reg().Named(name)
	}
	logsOf := map[string][]store.StoredLog{}
	for _, lg := range b.logs {
		logsOf[string(lg.TxHash)] = append(logsOf[string(lg.TxHash)], lg)
	}
	for _, x := range b.txs {
		if k, ok := l.creators[string(x.Hash)]; ok {
			p.dec.call(out, x, k)
		} else if k, ok := at(x.To); ok && !isCreation(x.To) {
			p.dec.call(out, x, k)
		}
		for _, lg := range logsOf[string(x.Hash)] {
			if k, ok := at(lg.Address); ok {
				p.dec.log(out, lg, k)
			}
		}
	}
	var backfilled history
	for _, h := range l.history {
		got := p.decodeStored(out, h.k, h.txs, h.logs)
		backfilled.items += got.items
		backfilled.blocks += got.blocks
	}
	return out, backfilled
}

// history is what decoding stored history again covered: calls and logs, and the distinct
// blocks holding them.
type history struct {
	items, blocks int
}

// decodeHistory decodes the stored calls to and logs of addrs, contract k, in r.
func (p *Pipeline) decodeHistory(ctx context.Context, tx *store.Tx, out *decoded, k *contract.Contract, addrs [][]byte, r store.Range) (history, error) {
	if len(addrs) == 0 {
		return history{}, nil
	}
	txs, err := tx.TxsOf(ctx, addrs, false, r)
	if err != nil {
		return history{}, err
	}
	logs, err := tx.LogsOf(ctx, addrs, r)
	if err != nil {
		return history{}, err
	}
	return p.decodeStored(out, k, txs, logs), nil
}

// decodeStored decodes stored calls and logs of contract k.
func (p *Pipeline) decodeStored(out *decoded, k *contract.Contract, txs []store.StoredTx, logs []store.StoredLog) history {
	blocks := map[uint64]bool{}
	for _, x := range txs {
		p.dec.call(out, x, k)
		blocks[x.BlockNumber] = true
	}
	for _, l := range logs {
		p.dec.log(out, l, k)
		blocks[l.BlockNumber] = true
	}
	return history{items: len(txs) + len(logs), blocks: len(blocks)}
}

// write stores what decoding produced.
func (p *Pipeline) write(ctx context.Context, tx *store.Tx, out *decoded) error {
	if err := tx.WriteTyped(ctx, out.rows); err != nil {
		return err
	}
	if err := tx.WriteFailures(ctx, out.failures); err != nil {
		return err
	}
	return tx.WriteOutbox(ctx, out.msgs)
}

// isCreation reports a transaction without a recipient: a contract creation.
func isCreation(to []byte) bool {
	return len(to) == 0 || bytes.Equal(to, make([]byte, len(to)))
}

func fixedAt(k *contract.Contract, addr []byte) bool {
	if len(addr) != common.AddressLength {
		return false
	}
	for _, a := range k.Addresses {
		if bytes.Equal(a[:], addr) {
			return true
		}
	}
	return false
}

// bigOf reads a minimal big-endian quantity.
func bigOf(b []byte) *big.Int { return new(big.Int).SetBytes(b) }

// msTime converts a block timestamp in milliseconds.
func msTime(ms uint64) time.Time { return time.UnixMilli(int64(ms)).UTC() }

// orEmpty keeps NOT NULL byte columns from getting NULL.
func orEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
