package rpc

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bcosdata/bcosdata/libs/fisco/rpcjson"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/chain"
	"github.com/ethereum/go-ethereum/common"
)

// method is one RPC: the JSON types of its positional params ('g' the group id, an integer;
// 's' string; 'b' bool; 'o' object), the first version that has it, and the handler.
type method struct {
	params string
	since  chain.Version
	fn     func(ctx context.Context, p params) (any, *Error)
}

type params []json.RawMessage

func (p params) str(i int) string {
	var s string
	_ = json.Unmarshal(p[i], &s) // type checked by parseParams
	return s
}

func (p params) boolean(i int) bool {
	var b bool
	_ = json.Unmarshal(p[i], &b)
	return b
}

func (h *Handler) table() map[string]method {
	return map[string]method{
		"getClientVersion":                      {"", 0, h.clientVersion},
		"getBlockNumber":                        {"g", 0, h.blockNumber},
		"getPbftView":                           {"g", 0, h.pbftView},
		"getSealerList":                         {"g", 0, h.sealerList},
		"getObserverList":                       {"g", 0, h.observerList},
		"getNodeIDList":                         {"g", 0, h.nodeIDList},
		"getGroupList":                          {"", 0, h.groupList},
		"getSyncStatus":                         {"g", 0, h.syncStatus},
		"getTotalTransactionCount":              {"g", 0, h.totalTxCount},
		"getPendingTxSize":                      {"g", 0, h.pendingTxSize},
		"getSystemConfigByKey":                  {"gs", 0, h.systemConfig},
		"getBlockByNumber":                      {"gsb", 0, h.blockByNumber},
		"getBlockByHash":                        {"gsb", 0, h.blockByHash},
		"getBlockHeaderByNumber":                {"gsb", chain.V2_6_0, h.headerByNumber},
		"getBlockHeaderByHash":                  {"gsb", chain.V2_6_0, h.headerByHash},
		"getBlockHashByNumber":                  {"gs", 0, h.blockHashByNumber},
		"getTransactionByHash":                  {"gs", 0, h.txByHash},
		"getTransactionByBlockHashAndIndex":     {"gss", 0, h.txByBlockHashAndIndex},
		"getTransactionByBlockNumberAndIndex":   {"gss", 0, h.txByBlockNumberAndIndex},
		"getTransactionReceipt":                 {"gs", 0, h.receipt},
		"getBatchReceiptsByBlockNumberAndRange": {"gsssb", chain.V2_7_0, h.batchByNumber},
		"getBatchReceiptsByBlockHashAndRange":   {"gsssb", chain.V2_7_0, h.batchByHash},
		"getCode":                               {"gs", 0, h.code},
		"call":                                  {"go", 0, h.callContract},
		"sendRawTransaction":                    {"gs", 0, h.sendRawTransaction},
	}
}

// dispatch runs one method after checking its params the way libjson-rpc-cpp does (exact
// count, declared JSON types) and the group id the way the node does.
func (h *Handler) dispatch(ctx context.Context, name string, raw json.RawMessage) (any, *Error) {
	m, ok := h.methods[name]
	if !ok || !h.cfg.Info.SupportedVersion.AtLeast(m.since) {
		return nil, newError(CodeMethodNotFound)
	}
	p, err := parseParams(raw, m.params)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(m.params, "g") {
		g, _ := strconv.ParseInt(string(p[0]), 10, 64)
		if g != h.cfg.Info.GroupID {
			return nil, newError(CodeGroupID)
		}
	}
	return m.fn(ctx, p)
}

func parseParams(raw json.RawMessage, kinds string) (params, *Error) {
	var p params
	raw = bytes.TrimSpace(raw)
	if len(raw) != 0 && !bytes.Equal(raw, []byte("null")) {
		if raw[0] != '[' {
			return nil, newError(CodeInvalidParams)
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, newError(CodeInvalidParams)
		}
	}
	if len(p) != len(kinds) {
		return nil, newError(CodeInvalidParams)
	}
	for i, k := range kinds {
		v := bytes.TrimSpace(p[i])
		p[i] = v
		ok := false
		switch k {
		case 'g':
			_, err := strconv.ParseInt(string(v), 10, 32)
			ok = err == nil
		case 's':
			ok = len(v) > 0 && v[0] == '"'
		case 'b':
			ok = string(v) == "true" || string(v) == "false"
		case 'o':
			ok = len(v) > 0 && v[0] == '{'
		}
		if !ok {
			return nil, newError(CodeInvalidParams)
		}
	}
	return p, nil
}

// parseNumber reads a block number or index given as decimal or 0x-hex.
func parseNumber(s string) (uint64, *Error) {
	var (
		n   uint64
		err error
	)
	if rest, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		n, err = strconv.ParseUint(rest, 16, 64)
	} else {
		n, err = strconv.ParseUint(s, 10, 64)
	}
	if err != nil {
		return 0, internalError(fmt.Sprintf("parse number %q: %v", s, err))
	}
	return n, nil
}

func parseHash(s string) (common.Hash, bool) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil || len(b) != common.HashLength {
		return common.Hash{}, false
	}
	return common.BytesToHash(b), true
}

func (h *Handler) formatter() formatter {
	return newFormatter(h.cfg.Info.SupportedVersion, h.cfg.Chain.Suite())
}

func (h *Handler) clientVersion(context.Context, params) (any, *Error) {
	v := h.cfg.Info.Version
	if h.cfg.Info.SM {
		v += " gm"
	}
	return map[string]any{
		"Build Time":         "20240101 00:00:00",
		"Build Type":         "Linux/clang/Release",
		"Chain Id":           strconv.FormatInt(h.cfg.Info.ChainID, 10),
		"FISCO-BCOS Version": v,
		"Git Branch":         "fiscosim",
		"Git Commit Hash":    "0000000000000000000000000000000000000000",
		"Supported Version":  h.cfg.Info.SupportedVersion.String(),
	}, nil
}

func (h *Handler) blockNumber(context.Context, params) (any, *Error) {
	return rpcjson.Uint(h.cfg.Chain.HeadNumber()), nil
}

func (h *Handler) pbftView(context.Context, params) (any, *Error) {
	// The view advances with every round; the head number is a faithful stand-in.
	return rpcjson.Uint(h.cfg.Chain.HeadNumber()), nil
}

func (h *Handler) sealerList(context.Context, params) (any, *Error) {
	ids := h.cfg.Chain.SealerList()
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out, nil
}

func (h *Handler) observerList(context.Context, params) (any, *Error) { return []string{}, nil }

func (h *Handler) nodeIDList(ctx context.Context, p params) (any, *Error) {
	return h.sealerList(ctx, p)
}

func (h *Handler) groupList(context.Context, params) (any, *Error) {
	return []int64{h.cfg.Info.GroupID}, nil
}

func (h *Handler) syncStatus(context.Context, params) (any, *Error) {
	c := h.cfg.Chain
	head := c.Head()
	genesis, err := c.BlockByNumber(0)
	genesisHash := ""
	if err == nil {
		genesisHash = rpcjson.Hash(genesis.Hash)
	}
	var peers []any
	for _, id := range c.SealerList() {
		if id.String() == h.cfg.Info.NodeID {
			continue
		}
		peers = append(peers, map[string]any{
			"blockNumber": head.Number(), "genesisHash": genesisHash,
			"latestHash": rpcjson.Hash(head.Hash), "nodeId": id.String(),
		})
	}
	if peers == nil {
		peers = []any{}
	}
	return map[string]any{
		"blockNumber":        head.Number(),
		"genesisHash":        genesisHash,
		"isSyncing":          false,
		"knownHighestNumber": head.Number(),
		"knownLatestHash":    rpcjson.Hash(head.Hash),
		"latestHash":         rpcjson.Hash(head.Hash),
		"nodeId":             h.cfg.Info.NodeID,
		"peers":              peers,
		"protocolId":         h.cfg.Info.GroupID<<8 | 9, // group << 8 | SyncModule, as the node
		"txPoolSize":         strconv.Itoa(c.Pending()),
	}, nil
}

func (h *Handler) totalTxCount(context.Context, params) (any, *Error) {
	total, failed := h.cfg.Chain.Counts()
	return map[string]any{
		"blockNumber": rpcjson.Uint(h.cfg.Chain.HeadNumber()),
		"failedTxSum": rpcjson.Uint(failed),
		"txSum":       rpcjson.Uint(total),
	}, nil
}

func (h *Handler) pendingTxSize(context.Context, params) (any, *Error) {
	return rpcjson.Uint(uint64(h.cfg.Chain.Pending())), nil
}

func (h *Handler) systemConfig(_ context.Context, p params) (any, *Error) {
	cp := h.cfg.Chain.Params()
	switch p.str(1) {
	case "tx_count_limit":
		return strconv.FormatUint(cp.TxCountLimit, 10), nil
	case "tx_gas_limit":
		return strconv.FormatUint(cp.TxGasLimit, 10), nil
	case "consensus_timeout":
		if cp.Version.AtLeast(chain.V2_6_0) {
			return strconv.Itoa(chain.DefaultConsensusTimeout), nil
		}
	}
	return nil, newError(CodeInvalidSysCfg)
}

func (h *Handler) byNumber(s string) (*chain.Sealed, *Error) {
	n, err := parseNumber(s)
	if err != nil {
		return nil, err
	}
	b, gerr := h.cfg.Chain.BlockByNumber(n)
	if gerr != nil {
		return nil, newError(CodeBlockNumber)
	}
	return b, nil
}

func (h *Handler) byHash(s string) (*chain.Sealed, *Error) {
	hash, ok := parseHash(s)
	if !ok {
		return nil, newError(CodeBlockHash)
	}
	b, err := h.cfg.Chain.BlockByHash(hash)
	if err != nil {
		return nil, newError(CodeBlockHash)
	}
	return b, nil
}

func (h *Handler) blockByNumber(_ context.Context, p params) (any, *Error) {
	b, err := h.byNumber(p.str(1))
	if err != nil {
		return nil, err
	}
	return h.formatter().block(b, p.boolean(2)), nil
}

func (h *Handler) blockByHash(_ context.Context, p params) (any, *Error) {
	b, err := h.byHash(p.str(1))
	if err != nil {
		return nil, err
	}
	return h.formatter().block(b, p.boolean(2)), nil
}

func (h *Handler) headerByNumber(_ context.Context, p params) (any, *Error) {
	b, err := h.byNumber(p.str(1))
	if err != nil {
		return nil, err
	}
	return h.formatter().blockHeader(b, p.boolean(2)), nil
}

func (h *Handler) headerByHash(_ context.Context, p params) (any, *Error) {
	b, err := h.byHash(p.str(1))
	if err != nil {
		return nil, err
	}
	return h.formatter().blockHeader(b, p.boolean(2)), nil
}

func (h *Handler) blockHashByNumber(_ context.Context, p params) (any, *Error) {
	b, err := h.byNumber(p.str(1))
	if err != nil {
		return nil, err
	}
	return rpcjson.Hash(b.Hash), nil
}

// lookupTx returns the block and index of a transaction, ok false when unknown.
func (h *Handler) lookupTx(s string) (*chain.Sealed, int, bool) {
	hash, ok := parseHash(s)
	if !ok {
		return nil, 0, false
	}
	b, i, err := h.cfg.Chain.Transaction(hash)
	if err != nil {
		return nil, 0, false
	}
	return b, i, true
}

func (h *Handler) txByHash(_ context.Context, p params) (any, *Error) {
	b, i, ok := h.lookupTx(p.str(1))
	if !ok {
		return nil, nil // unknown transaction: result null
	}
	return h.formatter().transaction(b, i), nil
}

func (h *Handler) txAt(b *chain.Sealed, index string) (any, *Error) {
	i, err := parseNumber(index)
	if err != nil {
		return nil, err
	}
	if i >= uint64(len(b.Block.Transactions)) {
		return nil, newError(CodeTxIndex)
	}
	return h.formatter().transaction(b, int(i)), nil
}

func (h *Handler) txByBlockHashAndIndex(_ context.Context, p params) (any, *Error) {
	b, err := h.byHash(p.str(1))
	if err != nil {
		return nil, err
	}
	return h.txAt(b, p.str(2))
}

func (h *Handler) txByBlockNumberAndIndex(_ context.Context, p params) (any, *Error) {
	b, err := h.byNumber(p.str(1))
	if err != nil {
		return nil, err
	}
	return h.txAt(b, p.str(2))
}

func (h *Handler) receipt(_ context.Context, p params) (any, *Error) {
	b, i, ok := h.lookupTx(p.str(1))
	if !ok {
		return nil, nil
	}
	return h.formatter().receipt(b, i), nil
}

func (h *Handler) batchByNumber(_ context.Context, p params) (any, *Error) {
	b, err := h.byNumber(p.str(1))
	if err != nil {
		return nil, err
	}
	return h.batch(b, p)
}

func (h *Handler) batchByHash(_ context.Context, p params) (any, *Error) {
	b, err := h.byHash(p.str(1))
	if err != nil {
		return nil, err
	}
	return h.batch(b, p)
}

// batch answers getBatchReceipts*: receipts [from, from+count) ("-1" = to the end), compressed
// as base64(zlib(JSON + "\n")) when asked.
func (h *Handler) batch(b *chain.Sealed, p params) (any, *Error) {
	total := uint64(len(b.Block.Receipts))
	from, err := parseNumber(p.str(2))
	if err != nil {
		return nil, err
	}
	countStr := p.str(3)
	count := total
	if countStr != "-1" {
		if count, err = parseNumber(countStr); err != nil {
			return nil, err
		}
	}
	if from >= total {
		return nil, &Error{Code: CodeIndexOutOfRange, Message: fmt.Sprintf("start index out of range, the number of receipt is %d", total)}
	}
	end := min(from+count, total)
	f := h.formatter()
	sb := sealed(b)
	result := rpcjson.BatchReceipts{BlockInfo: rpcjson.NewBlockInfo(sb)}
	if count > 0 {
		result.TransactionReceipts = make([]rpcjson.Receipt, 0, end-from)
		for i := from; i < end; i++ {
			result.TransactionReceipts = append(result.TransactionReceipts, *f.shape.NewBatchReceipt(sb, int(i)))
		}
	}
	if !p.boolean(4) {
		return result, nil
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, werr := zw.Write(encode(result)); werr != nil {
		return nil, internalError(werr.Error())
	}
	if werr := zw.Close(); werr != nil {
		return nil, internalError(werr.Error())
	}
	return base64.StdEncoding.EncodeToString(z.Bytes()), nil
}

func (h *Handler) code(_ context.Context, p params) (any, *Error) {
	addr, ok := parseAddress(p.str(1))
	if !ok {
		return nil, internalError("invalid address " + p.str(1))
	}
	return rpcjson.Bytes(h.cfg.Chain.Code(addr)), nil
}

func parseAddress(s string) (common.Address, bool) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil || len(b) != common.AddressLength {
		return common.Address{}, false
	}
	return common.BytesToAddress(b), true
}

func (h *Handler) callContract(_ context.Context, p params) (any, *Error) {
	var req struct {
		From  *string `json:"from"`
		To    *string `json:"to"`
		Data  string  `json:"data"`
		Value string  `json:"value"`
	}
	if err := json.Unmarshal(p[1], &req); err != nil {
		return nil, newError(CodeInvalidParams)
	}
	if req.From == nil {
		return nil, newError(CodeCallFrom)
	}
	from, ok := parseAddress(*req.From)
	if !ok {
		return nil, internalError("invalid from " + *req.From)
	}
	var to *common.Address
	if req.To != nil && *req.To != "" {
		a, ok := parseAddress(*req.To)
		if !ok {
			return nil, internalError("invalid to " + *req.To)
		}
		to = &a
	}
	data, err := hex.DecodeString(strings.TrimPrefix(req.Data, "0x"))
	if err != nil {
		return nil, internalError("invalid data: " + err.Error())
	}
	res, head, cerr := h.cfg.Chain.Call(from, to, data)
	if cerr != nil {
		return nil, internalError(cerr.Error())
	}
	return map[string]any{
		"currentBlockNumber": rpcjson.Uint(head),
		"output":             rpcjson.Bytes(res.Output),
		"status":             rpcjson.Uint(res.Status),
	}, nil
}

func (h *Handler) sendRawTransaction(_ context.Context, p params) (any, *Error) {
	raw, err := hex.DecodeString(strings.TrimPrefix(p.str(1), "0x"))
	if err != nil {
		return nil, internalError("decode transaction hex: " + err.Error())
	}
	hash, serr := h.cfg.Chain.Submit(raw)
	if serr != nil {
		var re *chain.RejectError
		if errors.As(serr, &re) {
			return nil, internalError(re.Reason + ", txHash=" + hex.EncodeToString(re.Hash[:4]) + "…")
		}
		return nil, internalError(serr.Error())
	}
	return rpcjson.Hash(hash), nil
}
