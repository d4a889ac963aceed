package source

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/FISCO-BCOS/go-sdk/conn"
	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
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
				if n > head && !Wait(ctx, s.r.opts.Poll) {
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
	n, err := parseUint(h)
	if err != nil {
		return 0, fmt.Errorf("getBlockNumber on %s: %w", s.r.endpoint, err)
	}
	return n, nil
}

// JSON shapes of the node's responses (reference fisco-rpc-and-gosdk.md §2.3).
type (
	rpcSig struct {
		Index     string `json:"index"`
		Signature string `json:"signature"`
	}
	rpcHeader struct {
		Number           json.RawMessage `json:"number"`
		Hash             string          `json:"hash"`
		ParentHash       string          `json:"parentHash"`
		StateRoot        string          `json:"stateRoot"`
		TransactionsRoot string          `json:"transactionsRoot"`
		ReceiptsRoot     string          `json:"receiptsRoot"`
		DBHash           string          `json:"dbHash"`
		LogsBloom        string          `json:"logsBloom"`
		GasLimit         string          `json:"gasLimit"`
		GasUsed          string          `json:"gasUsed"`
		Timestamp        string          `json:"timestamp"`
		ExtraData        []string        `json:"extraData"`
		Sealer           string          `json:"sealer"`
		SealerList       []string        `json:"sealerList"`
		SignatureList    []rpcSig        `json:"signatureList"`
	}
	rpcTxSig struct {
		R string `json:"r"`
		S string `json:"s"`
		V string `json:"v"`
	}
	rpcTx struct {
		Hash       string    `json:"hash"`
		Nonce      string    `json:"nonce"`
		GasPrice   string    `json:"gasPrice"`
		Gas        string    `json:"gas"`
		BlockLimit string    `json:"blockLimit"`
		To         *string   `json:"to"`
		Value      string    `json:"value"`
		Input      string    `json:"input"`
		ChainID    string    `json:"chainId"`
		GroupID    string    `json:"groupId"`
		ExtraData  string    `json:"extraData"`
		From       string    `json:"from"`
		Signature  *rpcTxSig `json:"signature"`
	}
	rpcBlock struct {
		Number       string  `json:"number"`
		Hash         string  `json:"hash"`
		Transactions []rpcTx `json:"transactions"`
	}
	rpcLog struct {
		Address string   `json:"address"`
		Data    string   `json:"data"`
		Topics  []string `json:"topics"`
	}
	rpcReceipt struct {
		ContractAddress string   `json:"contractAddress"`
		GasUsed         string   `json:"gasUsed"`
		Logs            []rpcLog `json:"logs"`
		Output          string   `json:"output"`
		Status          string   `json:"status"`
		TransactionHash string   `json:"transactionHash"`
		RemainGas       *string  `json:"remainGas"`
	}
	rpcBatchReceipts struct {
		TransactionReceipts []rpcReceipt `json:"transactionReceipts"`
	}
)

// fetch rebuilds block n.
func (s *rpcStream) fetch(ctx context.Context, n uint64) (*verify.Candidate, error) {
	num := strconv.FormatUint(n, 10)
	var hdr rpcHeader
	if err := s.call(ctx, &hdr, "getBlockHeaderByNumber", s.r.group, num, true); err != nil {
		return nil, err
	}
	var blk rpcBlock
	if err := s.call(ctx, &blk, "getBlockByNumber", s.r.group, num, true); err != nil {
		return nil, err
	}
	failB := func(err error) error {
		return &verify.CheckError{Block: n, Check: verify.CheckDecode, Source: s.r.name, Err: err}
	}
	h, err := buildHeader(&hdr)
	if err != nil {
		return nil, failB(fmt.Errorf("rebuild header: %w", err))
	}
	if h.Number != n {
		return nil, &verify.CheckError{Block: n, Check: verify.CheckNumber, Source: s.r.name, Err: fmt.Errorf("node answered with block %d", h.Number)}
	}
	hash, err := hash32(hdr.Hash)
	if err != nil {
		return nil, failB(fmt.Errorf("header hash: %w", err))
	}
	sigs := make([]block.SigEntry, len(hdr.SignatureList))
	for i, sg := range hdr.SignatureList {
		if sigs[i].Index, err = parseUint(sg.Index); err != nil {
			return nil, failB(fmt.Errorf("signature %d index: %w", i, err))
		}
		if sigs[i].Signature, err = hexBytes(sg.Signature); err != nil {
			return nil, failB(fmt.Errorf("signature %d: %w", i, err))
		}
	}
	suite := s.r.opts.Suite
	txs := make([]*block.Transaction, len(blk.Transactions))
	claimed := make([]common.Address, len(blk.Transactions))
	for i := range blk.Transactions {
		if txs[i], err = buildTx(suite, &blk.Transactions[i]); err != nil {
			return nil, failB(fmt.Errorf("rebuild transaction %d: %w", i, err))
		}
		if claimed[i], err = addr(blk.Transactions[i].From); err != nil {
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
	var raw []rpcReceipt
	if !withRemain {
		var batch rpcBatchReceipts
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
	raw = make([]rpcReceipt, len(txs))
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

func buildHeader(j *rpcHeader) (*block.Header, error) {
	h := &block.Header{}
	var err error
	for _, f := range []struct {
		dst *common.Hash
		src string
	}{{&h.ParentHash, j.ParentHash}, {&h.StateRoot, j.StateRoot}, {&h.TransactionsRoot, j.TransactionsRoot}, {&h.ReceiptsRoot, j.ReceiptsRoot}, {&h.DBHash, j.DBHash}} {
		if *f.dst, err = hash32(f.src); err != nil {
			return nil, err
		}
	}
	bloom, err := hexBytes(j.LogsBloom)
	if err != nil {
		return nil, fmt.Errorf("logsBloom %.20q: %w", j.LogsBloom, err)
	}
	if len(bloom) != block.BloomLen {
		return nil, fmt.Errorf("logsBloom %.20q: %d bytes, want %d", j.LogsBloom, len(bloom), block.BloomLen)
	}
	copy(h.LogsBloom[:], bloom)
	if h.Number, err = parseNumber(j.Number); err != nil {
		return nil, fmt.Errorf("number: %w", err)
	}
	if h.GasLimit, err = parseBig(j.GasLimit); err != nil {
		return nil, fmt.Errorf("gasLimit: %w", err)
	}
	if h.GasUsed, err = parseBig(j.GasUsed); err != nil {
		return nil, fmt.Errorf("gasUsed: %w", err)
	}
	if h.Timestamp, err = parseUint(j.Timestamp); err != nil {
		return nil, fmt.Errorf("timestamp: %w", err)
	}
	for i, e := range j.ExtraData {
		b, err := hexBytes(e)
		if err != nil {
			return nil, fmt.Errorf("extraData %d: %w", i, err)
		}
		h.ExtraData = append(h.ExtraData, b)
	}
	if h.Sealer, err = parseUint(j.Sealer); err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	for i, id := range j.SealerList {
		pk, err := cryptosuite.ParsePublicKey(strings.TrimPrefix(id, "0x"))
		if err != nil {
			return nil, fmt.Errorf("sealerList %d: %w", i, err)
		}
		h.SealerList = append(h.SealerList, pk)
	}
	return h, nil
}

func buildTx(suite *cryptosuite.Suite, j *rpcTx) (*block.Transaction, error) {
	if j.Signature == nil {
		return nil, errors.New("no signature in the response (node older than 2.7.0?)")
	}
	t := &block.Transaction{}
	var err error
	for _, f := range []struct {
		dst **big.Int
		src string
		nm  string
	}{{&t.Nonce, j.Nonce, "nonce"}, {&t.GasPrice, j.GasPrice, "gasPrice"}, {&t.Gas, j.Gas, "gas"}, {&t.BlockLimit, j.BlockLimit, "blockLimit"},
		{&t.Value, j.Value, "value"}, {&t.ChainID, j.ChainID, "chainId"}, {&t.GroupID, j.GroupID, "groupId"},
		{&t.R, j.Signature.R, "r"}, {&t.S, j.Signature.S, "s"}} {
		if *f.dst, err = parseBig(f.src); err != nil {
			return nil, fmt.Errorf("%s: %w", f.nm, err)
		}
	}
	if t.Data, err = hexBytes(j.Input); err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	if t.ExtraData, err = hexBytes(j.ExtraData); err != nil {
		return nil, fmt.Errorf("extraData: %w", err)
	}
	if suite.Name() == cryptosuite.NameSM {
		if t.V, err = hexBytes(j.Signature.V); err != nil {
			return nil, fmt.Errorf("v: %w", err)
		}
	} else {
		v, err := parseUint(j.Signature.V)
		if err != nil {
			return nil, fmt.Errorf("v: %w", err)
		}
		if v > 1 {
			return nil, fmt.Errorf("v %q: want 0 or 1", j.Signature.V)
		}
		t.V = []byte{byte(27 + v)}
	}
	want, err := hash32(j.Hash)
	if err != nil {
		return nil, fmt.Errorf("hash: %w", err)
	}
	// 2.7.0+ nodes report a contract creation's empty "to" as the zero address: the hash says
	// which it was.
	if j.To != nil && *j.To != "" {
		a, err := addr(*j.To)
		if err != nil {
			return nil, fmt.Errorf("to: %w", err)
		}
		t.To = &a
	}
	if t.Hash(suite) == want {
		return t, nil
	}
	if t.To != nil && *t.To == (common.Address{}) {
		t.To = nil
		t.Invalidate()
		if t.Hash(suite) == want {
			return t, nil
		}
	}
	return nil, fmt.Errorf("rebuilt transaction hashes to %s, node says %s", t.Hash(suite).Hex(), want.Hex())
}

func buildReceipts(suite *cryptosuite.Suite, h *block.Header, js []rpcReceipt, withRemain bool) ([]*block.Receipt, error) {
	out := make([]*block.Receipt, len(js))
	for i := range js {
		j := &js[i]
		r := &block.Receipt{StateRoot: h.StateRoot, HasRemainGas: withRemain && j.RemainGas != nil}
		var err error
		if r.GasUsed, err = parseBig(j.GasUsed); err != nil {
			return nil, fmt.Errorf("receipt %d gasUsed: %w", i, err)
		}
		if j.ContractAddress != "" {
			if r.ContractAddress, err = addr(j.ContractAddress); err != nil {
				return nil, fmt.Errorf("receipt %d contractAddress: %w", i, err)
			}
		}
		if r.Status, err = parseUint(j.Status); err != nil {
			return nil, fmt.Errorf("receipt %d status: %w", i, err)
		}
		if r.Output, err = hexBytes(j.Output); err != nil {
			return nil, fmt.Errorf("receipt %d output: %w", i, err)
		}
		if r.HasRemainGas {
			if r.RemainGas, err = parseBig(*j.RemainGas); err != nil {
				return nil, fmt.Errorf("receipt %d remainGas: %w", i, err)
			}
		}
		for k, l := range j.Logs {
			var lg block.Log
			if lg.Address, err = addr(l.Address); err != nil {
				return nil, fmt.Errorf("receipt %d log %d address: %w", i, k, err)
			}
			if lg.Data, err = hexBytes(l.Data); err != nil {
				return nil, fmt.Errorf("receipt %d log %d data: %w", i, k, err)
			}
			for _, tp := range l.Topics {
				th, err := hash32(tp)
				if err != nil {
					return nil, fmt.Errorf("receipt %d log %d topic: %w", i, k, err)
				}
				lg.Topics = append(lg.Topics, th)
			}
			r.Logs = append(r.Logs, lg)
		}
		r.Bloom = block.LogsBloom(suite, r.Logs)
		out[i] = r
	}
	return out, nil
}

func hexBytes(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return hex.DecodeString(s)
}

func hash32(s string) (common.Hash, error) {
	b, err := hexBytes(s)
	if err != nil {
		return common.Hash{}, err
	}
	if len(b) != common.HashLength {
		return common.Hash{}, fmt.Errorf("%q: %d bytes, want 32", s, len(b))
	}
	return common.BytesToHash(b), nil
}

func addr(s string) (common.Address, error) {
	b, err := hexBytes(s)
	if err != nil {
		return common.Address{}, err
	}
	if len(b) != common.AddressLength {
		return common.Address{}, fmt.Errorf("%q: %d bytes, want 20", s, len(b))
	}
	return common.BytesToAddress(b), nil
}

// parseBig reads a JSON-RPC quantity: 0x-hex, or decimal.
func parseBig(s string) (*big.Int, error) {
	x := new(big.Int)
	switch {
	case s == "":
		return x, nil
	case strings.HasPrefix(s, "0x"), strings.HasPrefix(s, "0X"):
		if len(s) == 2 {
			return x, nil
		}
		if _, ok := x.SetString(s[2:], 16); !ok {
			return nil, fmt.Errorf("quantity %q", s)
		}
	default:
		if _, ok := x.SetString(s, 10); !ok {
			return nil, fmt.Errorf("quantity %q", s)
		}
	}
	return x, nil
}

func parseUint(s string) (uint64, error) {
	x, err := parseBig(s)
	if err != nil {
		return 0, err
	}
	if !x.IsUint64() {
		return 0, fmt.Errorf("quantity %q out of range", s)
	}
	return x.Uint64(), nil
}

// parseNumber reads the header's number: a JSON integer (getBlockHeaderBy*) or a string.
func parseNumber(raw json.RawMessage) (uint64, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return parseUint(s)
	}
	var n uint64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("%s: %w", raw, err)
	}
	return n, nil
}
