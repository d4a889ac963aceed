package source

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/FISCO-BCOS/go-sdk/conn"
	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fisco/rpcjson"
	"github.com/bcosdata/bcosdata/libs/retry"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// RPC reads blocks from a node's JSON-RPC over HTTP with go-sdk's connection: the block with
// its transactions (getBlockByNumber), the header with its sealer signatures
// (getBlockHeaderByNumber) and the receipts (getBatchReceiptsByBlockNumberAndRange), from which
// it rebuilds the block RLP the node would have stored. Such blocks carry no storage
// change-set. Nodes older than 2.7.0 do not return what a rebuild needs.
type RPC struct {
	name     string
	endpoint string
	group    int
	opts     Options
	stats    Stats

	// remainGas is set once the chain is seen to use 8-field receipts (supported_version
	// ≥ 2.9.0), which the batch receipts call does not return in full.
	mu        sync.Mutex
	remainGas bool
}

// NewRPC returns a source for the node's JSON-RPC at endpoint (http://host:port).
func NewRPC(name, endpoint string, group int, opts Options) *RPC {
	opts.defaults()
	if opts.Suite == nil {
		opts.Suite = cryptosuite.ECDSA()
	}
	return &RPC{name: name, endpoint: endpoint, group: group, opts: opts}
}

// Name implements Source.
func (r *RPC) Name() string { return r.name }

// Stats implements Source.
func (r *RPC) Stats() *Stats { return &r.stats }

// Open implements Source: it starts fetching from block from, up to Prefetch blocks ahead.
func (r *RPC) Open(ctx context.Context, from uint64) (Stream, error) {
	// A transport of the stream's own, closed with it, rather than the process-wide default.
	client := &http.Client{Timeout: r.opts.HTTPTimeout, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, IdleConnTimeout: time.Minute}}
	c, err := conn.DialHTTPWithClient(r.endpoint, client)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", r.endpoint, err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &rpcStream{r: r, c: c, client: client, cancel: cancel, out: make(chan rpcResult, r.opts.Prefetch), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(s.out)
		s.run(sctx, from)
	}()
	return s, nil
}

type rpcResult struct {
	c   *verify.Candidate
	err error
}

type rpcStream struct {
	r      *RPC
	c      *conn.Connection
	client *http.Client
	cancel context.CancelFunc
	out    chan rpcResult
	done   chan struct{}
}

// Next implements Stream.
func (s *rpcStream) Next(ctx context.Context) (*verify.Candidate, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res, ok := <-s.out:
		if !ok {
			return nil, errors.New("rpc stream closed")
		}
		return res.c, res.err
	}
}

// Close implements Stream.
func (s *rpcStream) Close() error {
	s.cancel()
	for range s.out {
	}
	<-s.done
	s.c.Close()
	s.client.CloseIdleConnections()
	return nil
}

// run fetches blocks in order, several at once, and delivers them in order. It stops at the
// first error, which it delivers.
func (s *rpcStream) run(ctx context.Context, from uint64) {
	type slot struct {
		n    uint64
		done chan rpcResult
	}
	pending := make(chan slot, s.r.opts.Prefetch)
	var wg sync.WaitGroup
	// Every goroutine ends once ctx is cancelled (Close), before run returns.
	defer wg.Wait()
	wg.Go(func() {
		defer close(pending)
		head, hasHead := uint64(0), false
		for n := from; ; n++ {
			for !hasHead || n > head {
				h, err := s.blockNumber(ctx)
				if err != nil {
					sl := slot{n: n, done: make(chan rpcResult, 1)}
					sl.done <- rpcResult{err: err}
					select {
					case pending <- sl:
					case <-ctx.Done():
					}
					return
				}
				s.r.stats.SeeHead(h)
				head, hasHead = h, true
				if n > head && !retry.Sleep(ctx, s.r.opts.Poll) {
					return
				}
			}
			sl := slot{n: n, done: make(chan rpcResult, 1)}
			select {
			case pending <- sl:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				c, err := s.fetch(ctx, sl.n)
				sl.done <- rpcResult{c: c, err: err}
			})
		}
	})
	for sl := range pending {
		var res rpcResult
		select {
		case res = <-sl.done:
		case <-ctx.Done():
			return
		}
		select {
		case s.out <- res:
		case <-ctx.Done():
			return
		}
		if res.err != nil {
			s.r.stats.SetError(res.err)
			// Wait to be closed; the reader reopens the stream.
			<-ctx.Done()
			return
		}
	}
}

func (s *rpcStream) call(ctx context.Context, out any, method string, args ...any) error {
	if err := s.c.CallContext(ctx, out, method, args...); err != nil {
		return fmt.Errorf("call %s on %s: %w", method, s.r.endpoint, err)
	}
	return nil
}

func (s *rpcStream) blockNumber(ctx context.Context) (uint64, error) {
	var h string
	if err := s.call(ctx, &h, "getBlockNumber", s.r.group); err != nil {
		return 0, err
	}
	n, err := rpcjson.ParseUint(h)
	if err != nil {
		return 0, fmt.Errorf("getBlockNumber on %s: %w", s.r.endpoint, err)
	}
	return n, nil
}

// fetch rebuilds block n.
func (s *rpcStream) fetch(ctx context.Context, n uint64) (*verify.Candidate, error) {
	num := strconv.FormatUint(n, 10)
	var hdr rpcjson.Header
	if err := s.call(ctx, &hdr, "getBlockHeaderByNumber", s.r.group, num, true); err != nil {
		return nil, err
	}
	var blk rpcjson.Block
	if err := s.call(ctx, &blk, "getBlockByNumber", s.r.group, num, true); err != nil {
		return nil, err
	}
	failB := func(err error) error {
		return &verify.CheckError{Block: n, Check: verify.CheckDecode, Source: s.r.name, Err: err}
	}
	h, err := hdr.ToHeader()
	if err != nil {
		return nil, failB(fmt.Errorf("rebuild header: %w", err))
	}
	if h.Number != n {
		return nil, &verify.CheckError{Block: n, Check: verify.CheckNumber, Source: s.r.name, Err: fmt.Errorf("node answered with block %d", h.Number)}
	}
	hash, err := rpcjson.ParseHash(hdr.Hash)
	if err != nil {
		return nil, failB(fmt.Errorf("header hash: %w", err))
	}
	sigs, err := hdr.Signatures()
	if err != nil {
		return nil, failB(err)
	}
	suite := s.r.opts.Suite
	jtxs := blk.Transactions.Full
	txs := make([]*block.Transaction, len(jtxs))
	claimed := make([]common.Address, len(jtxs))
	for i := range jtxs {
		if txs[i], err = jtxs[i].ToTransaction(suite); err != nil {
			return nil, failB(fmt.Errorf("rebuild transaction %d: %w", i, err))
		}
		if claimed[i], err = jtxs[i].Sender(); err != nil {
			return nil, failB(fmt.Errorf("transaction %d from: %w", i, err))
		}
	}
	receipts, err := s.receipts(ctx, n, h, txs)
	if err != nil {
		return nil, err
	}
	b := &block.Block{Header: h, Transactions: txs, BlockHash: hash, Signatures: sigs, Receipts: receipts}
	raw, err := b.Encode()
	if err != nil {
		return nil, failB(err)
	}
	// Decode the rebuilt RLP, so the candidate is exactly what a later decode of the stored
	// bytes gives.
	decoded, err := block.DecodeBlock(raw)
	if err != nil {
		return nil, failB(fmt.Errorf("decode rebuilt block: %w", err))
	}
	return &verify.Candidate{Number: n, Source: s.r.name, Block: decoded, Raw: raw, ClaimedSenders: claimed}, nil
}

// receipts fetches and rebuilds the block's receipts. The batch call leaves out remainGas, so
// when the roots say the chain uses 8-field receipts each one is fetched on its own.
func (s *rpcStream) receipts(ctx context.Context, n uint64, h *block.Header, txs []*block.Transaction) ([]*block.Receipt, error) {
	if len(txs) == 0 {
		return nil, nil
	}
	suite := s.r.opts.Suite
	s.r.mu.Lock()
	withRemain := s.r.remainGas
	s.r.mu.Unlock()
	var raw []rpcjson.Receipt
	if !withRemain {
		var batch rpcjson.BatchReceipts
		if err := s.call(ctx, &batch, "getBatchReceiptsByBlockNumberAndRange", s.r.group, strconv.FormatUint(n, 10), "0", "-1", false); err != nil {
			return nil, err
		}
		raw = batch.TransactionReceipts
		rs, err := buildReceipts(suite, h, raw, false)
		if err != nil {
			return nil, &verify.CheckError{Block: n, Check: verify.CheckDecode, Source: s.r.name, Err: err}
		}
		if len(rs) != len(txs) || receiptsMatch(suite, h, rs) {
			return rs, nil
		}
	}
	raw = make([]rpcjson.Receipt, len(txs))
	for i, t := range txs {
		if err := s.call(ctx, &raw[i], "getTransactionReceipt", s.r.group, t.Hash(suite).Hex()); err != nil {
			return nil, err
		}
	}
	rs, err := buildReceipts(suite, h, raw, true)
	if err != nil {
		return nil, &verify.CheckError{Block: n, Check: verify.CheckDecode, Source: s.r.name, Err: err}
	}
	if !withRemain && receiptsMatch(suite, h, rs) {
		s.r.mu.Lock()
		s.r.remainGas = true
		s.r.mu.Unlock()
	}
	return rs, nil
}

func receiptsMatch(suite *cryptosuite.Suite, h *block.Header, rs []*block.Receipt) bool {
	return block.ReceiptsRoot(suite, rs, block.MerkleRoots) == h.ReceiptsRoot ||
		block.ReceiptsRoot(suite, rs, block.RC2Roots) == h.ReceiptsRoot
}

// buildReceipts rebuilds the block's receipts; remainGas is kept only with withRemain.
func buildReceipts(suite *cryptosuite.Suite, h *block.Header, js []rpcjson.Receipt, withRemain bool) ([]*block.Receipt, error) {
	out := make([]*block.Receipt, len(js))
	for i := range js {
		r, err := js[i].ToReceipt(suite, h.StateRoot, withRemain)
		if err != nil {
			return nil, fmt.Errorf("receipt %d %w", i, err)
		}
		out[i] = r
	}
	return out, nil
}
