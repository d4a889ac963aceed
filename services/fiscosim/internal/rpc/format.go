package rpc

import (
	"encoding/hex"
	"math/big"
	"strconv"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/chain"
	"github.com/ethereum/go-ethereum/common"
)

// Value encoding of the node (libdevcore/CommonJS.h toJS): integers as minimal lowercase hex,
// hashes and addresses full width lowercase, bytes 0x-prefixed ("0x" when empty), node ids as
// 128 hex digits without 0x.

func hexUint(n uint64) string { return "0x" + strconv.FormatUint(n, 16) }

func hexBig(n *big.Int) string {
	if n == nil {
		return "0x0"
	}
	return "0x" + n.Text(16)
}

func hexBytes(b []byte) string { return "0x" + hex.EncodeToString(b) }

func hexHash(h common.Hash) string { return "0x" + hex.EncodeToString(h[:]) }

func hexAddr(a common.Address) string { return "0x" + hex.EncodeToString(a[:]) }

// statusMsg names a receipt status (libethcore/TransactionException.h). The node prints
// "StackUnderflow" for AlreadyKnown (10000), an upstream bug kept here.
func statusMsg(status uint64) string {
	names := []string{
		"None", "Unknown", "BadRLP", "InvalidFormat", "OutOfGasIntrinsic", "InvalidSignature",
		"InvalidNonce", "NotEnoughCash", "OutOfGasBase", "BlockGasLimitReached", "BadInstruction",
		"BadJumpDestination", "OutOfGas", "OutOfStack", "StackUnderflow", "NonceCheckFail",
		"BlockLimitCheckFail", "FilterCheckFail", "NoDeployPermission", "NoCallPermission",
		"NoTxPermission", "PrecompiledError", "RevertInstruction", "InvalidZeroSignatureFormat",
		"AddressAlreadyUsed", "PermissionDenied", "CallAddressError", "GasOverflow",
		"TxPoolIsFull", "TransactionRefused", "ContractFrozen", "AccountFrozen",
		"NotEnoughRemainGas",
	}
	if status < uint64(len(names)) {
		return names[status]
	}
	switch status {
	case 10000:
		return "StackUnderflow"
	case 10001:
		return "AlreadyInChain"
	case 10002:
		return "InvalidChainId"
	case 10003:
		return "InvalidGroupId"
	case 10004:
		return "RequestNotBelongToTheGroup"
	case 10005:
		return "MalformedTx"
	case 10006:
		return "OverGroupMemoryLimit"
	}
	return "Unknown"
}

type formatter struct {
	version chain.Version
	suite   *cryptosuite.Suite
}

func (f formatter) sealerList(h *block.Header) []string {
	out := make([]string, len(h.SealerList))
	for i, id := range h.SealerList {
		out[i] = id.String()
	}
	return out
}

func (f formatter) signatureList(b *block.Block) []any {
	out := make([]any, len(b.Signatures))
	for i, s := range b.Signatures {
		out[i] = map[string]any{"index": hexUint(s.Index), "signature": hexBytes(s.Signature)}
	}
	return out
}

// header returns the fields getBlockBy* and getBlockHeaderBy* share.
func (f formatter) header(s *chain.Sealed) map[string]any {
	h := s.Block.Header
	extra := make([]string, len(h.ExtraData))
	for i, e := range h.ExtraData {
		extra[i] = hexBytes(e)
	}
	return map[string]any{
		"dbHash":           hexHash(h.DBHash),
		"extraData":        extra,
		"gasLimit":         hexBig(h.GasLimit),
		"gasUsed":          hexBig(h.GasUsed),
		"hash":             hexHash(s.Hash),
		"logsBloom":        h.LogsBloom.String(),
		"number":           hexUint(h.Number),
		"parentHash":       hexHash(h.ParentHash),
		"receiptsRoot":     hexHash(h.ReceiptsRoot),
		"sealer":           hexUint(h.Sealer),
		"sealerList":       f.sealerList(h),
		"stateRoot":        hexHash(h.StateRoot),
		"timestamp":        hexUint(h.Timestamp),
		"transactionsRoot": hexHash(h.TransactionsRoot),
	}
}

// block is the getBlockByNumber/ByHash result: transactions as objects or hashes; the
// signature list only with objects, from 2.7.0.
func (f formatter) block(s *chain.Sealed, includeTx bool) map[string]any {
	m := f.header(s)
	txs := make([]any, len(s.Block.Transactions))
	for i := range s.Block.Transactions {
		if includeTx {
			txs[i] = f.transaction(s, i)
		} else {
			txs[i] = hexHash(s.TxHashes[i])
		}
	}
	m["transactions"] = txs
	if includeTx && f.version.AtLeast(chain.V2_7_0) {
		m["signatureList"] = f.signatureList(s.Block)
	}
	return m
}

// blockHeader is the getBlockHeaderBy* result: number as a JSON integer.
func (f formatter) blockHeader(s *chain.Sealed, includeSigs bool) map[string]any {
	m := f.header(s)
	m["number"] = s.Block.Header.Number
	if includeSigs {
		m["signatureList"] = f.signatureList(s.Block)
	}
	return m
}

// txTo is the "to" of a transaction or receipt: the zero address for a deploy from 2.7.0,
// null before.
func (f formatter) txTo(to *common.Address) any {
	if to != nil {
		return hexAddr(*to)
	}
	if f.version.AtLeast(chain.V2_7_0) {
		return hexAddr(common.Address{})
	}
	return nil
}

// transaction is the transaction object (Rpc::parseTransactionIntoResponse).
func (f formatter) transaction(s *chain.Sealed, i int) map[string]any {
	tx := s.Block.Transactions[i]
	m := map[string]any{
		"blockHash":        hexHash(s.Hash),
		"blockNumber":      hexUint(s.Number()),
		"from":             hexAddr(s.Senders[i]),
		"gas":              hexBig(tx.Gas),
		"gasPrice":         hexBig(tx.GasPrice),
		"hash":             hexHash(s.TxHashes[i]),
		"input":            hexBytes(tx.Data),
		"nonce":            hexBig(tx.Nonce),
		"to":               f.txTo(tx.To),
		"transactionIndex": hexUint(uint64(i)),
		"value":            hexBig(tx.Value),
	}
	if f.version.AtLeast(chain.V2_7_0) {
		m["blockLimit"] = hexBig(tx.BlockLimit)
		m["chainId"] = hexBig(tx.ChainID)
		m["groupId"] = hexBig(tx.GroupID)
		m["extraData"] = hexBytes(tx.ExtraData)
		m["signature"] = f.txSignature(tx)
	}
	return m
}

// txSignature is r, s, v and their concatenation: v is the recovery id (0/1) for ECDSA and
// the public key for SM2.
func (f formatter) txSignature(tx *block.Transaction) map[string]any {
	r := common.LeftPadBytes(bigBytes(tx.R), 32)
	sv := common.LeftPadBytes(bigBytes(tx.S), 32)
	v := tx.V
	if f.suite.Name() == cryptosuite.NameECDSA && len(v) == 1 && v[0] >= 27 {
		v = []byte{v[0] - 27}
	}
	sig := append(append(append([]byte(nil), r...), sv...), v...)
	vJSON := hexBytes(v)
	if len(v) == 1 {
		vJSON = hexUint(uint64(v[0]))
	}
	return map[string]any{"r": hexBytes(r), "s": hexBytes(sv), "signature": hexBytes(sig), "v": vJSON}
}

func bigBytes(x *big.Int) []byte {
	if x == nil {
		return nil
	}
	return x.Bytes()
}

func logsJSON(r *block.Receipt) []any {
	out := make([]any, len(r.Logs))
	for i, l := range r.Logs {
		topics := make([]string, len(l.Topics))
		for j, t := range l.Topics {
			topics[j] = hexHash(t)
		}
		out[i] = map[string]any{"address": hexAddr(l.Address), "data": hexBytes(l.Data), "topics": topics}
	}
	return out
}

// receipt is the getTransactionReceipt result (Rpc::parseReceiptIntoResponse).
func (f formatter) receipt(s *chain.Sealed, i int) map[string]any {
	r := s.Block.Receipts[i]
	tx := s.Block.Transactions[i]
	m := map[string]any{
		"blockHash":        hexHash(s.Hash),
		"blockNumber":      hexUint(s.Number()),
		"contractAddress":  hexAddr(r.ContractAddress),
		"from":             hexAddr(s.Senders[i]),
		"gasUsed":          hexBig(r.GasUsed),
		"input":            hexBytes(tx.Data),
		"logs":             logsJSON(r),
		"logsBloom":        r.Bloom.String(),
		"output":           hexBytes(r.Output),
		"root":             hexHash(r.StateRoot),
		"status":           hexUint(r.Status),
		"to":               f.txTo(tx.To),
		"transactionHash":  hexHash(s.TxHashes[i]),
		"transactionIndex": hexUint(uint64(i)),
	}
	if f.version.AtLeast(chain.V2_7_0) {
		m["statusMsg"] = statusMsg(r.Status)
	}
	if f.version.AtLeast(chain.V2_9_0) {
		m["remainGas"] = hexBig(r.RemainGas)
	}
	return m
}

// batchReceipt is one entry of getBatchReceipts*: no block fields, input, bloom or root.
func (f formatter) batchReceipt(s *chain.Sealed, i int) map[string]any {
	r := s.Block.Receipts[i]
	tx := s.Block.Transactions[i]
	return map[string]any{
		"contractAddress":  hexAddr(r.ContractAddress),
		"from":             hexAddr(s.Senders[i]),
		"gasUsed":          hexBig(r.GasUsed),
		"logs":             logsJSON(r),
		"output":           hexBytes(r.Output),
		"status":           hexUint(r.Status),
		"to":               f.txTo(tx.To),
		"transactionHash":  hexHash(s.TxHashes[i]),
		"transactionIndex": hexUint(uint64(i)),
	}
}
