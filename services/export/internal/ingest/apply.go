package ingest

import (
	"bytes"
	"context"
	"math"
	"math/big"
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

// decodeBatch decodes a batch's transactions and logs of registered contracts, in tx: it
// learns the deployments the batch makes, decodes calls and logs of every known address, and
// for each deployment that was not known before, decodes the stored history of its address
// (calls and logs other instances stored before the deployment's block came through).
func (p *Pipeline) decodeBatch(ctx context.Context, tx *store.Tx, b *batch) (*decoded, int, error) {
	out := &decoded{}
	if len(p.contracts.list) == 0 {
		return out, 0, nil
	}
	// Deployments first: a call later in the batch may go to one of them.
	var learned []store.Deployment
	creators := map[string]*contract.Contract{}
	for _, x := range b.txs {
		if !isCreation(x.To) {
			continue
		}
		k, ok := p.contracts.matchCreation(x.Input)
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
	fresh, err := tx.AddDeployments(ctx, learned)
	if err != nil {
		return nil, 0, err
	}
	var addrs [][]byte
	for _, x := range b.txs {
		if !isCreation(x.To) {
			addrs = append(addrs, x.To)
		}
	}
	for _, l := range b.logs {
		addrs = append(addrs, l.Address)
	}
	known, err := tx.Deployments(ctx, addrs)
	if err != nil {
		return nil, 0, err
	}
	at := func(addr []byte) (*contract.Contract, bool) {
		name, ok := known[string(addr)]
		if !ok {
			return nil, false
		}
		return p.contracts.Named(name)
	}
	logsOf := map[string][]store.StoredLog{}
	for _, l := range b.logs {
		logsOf[string(l.TxHash)] = append(logsOf[string(l.TxHash)], l)
	}
	for _, x := range b.txs {
		if k, ok := creators[string(x.Hash)]; ok {
			p.dec.call(out, x, k)
		} else if k, ok := at(x.To); ok && !isCreation(x.To) {
			p.dec.call(out, x, k)
		}
		for _, l := range logsOf[string(x.Hash)] {
			if k, ok := at(l.Address); ok {
				p.dec.log(out, l, k)
			}
		}
	}
	backfilled := 0
	if len(fresh) > 0 {
		for _, d := range fresh {
			k, _ := p.contracts.Named(d.Contract)
			n, err := p.decodeHistory(ctx, tx, out, k, [][]byte{d.Address}, store.Range{From: 0, To: math.MaxInt64, Skip: b.numbers()})
			if err != nil {
				return nil, 0, err
			}
			backfilled += n
		}
	}
	return out, backfilled, nil
}

// decodeHistory decodes the stored calls to and logs of addrs, contract k, in r. It returns
// how many calls and logs it decoded.
func (p *Pipeline) decodeHistory(ctx context.Context, tx *store.Tx, out *decoded, k *contract.Contract, addrs [][]byte, r store.Range) (int, error) {
	if len(addrs) == 0 {
		return 0, nil
	}
	txs, err := tx.TxsOf(ctx, addrs, false, r)
	if err != nil {
		return 0, err
	}
	for _, x := range txs {
		p.dec.call(out, x, k)
	}
	logs, err := tx.LogsOf(ctx, addrs, r)
	if err != nil {
		return 0, err
	}
	for _, l := range logs {
		p.dec.log(out, l, k)
	}
	return len(txs) + len(logs), nil
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
