package rpcjson

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// Sealed is a block with what a node knows about it besides its RLP: its hash and, per
// transaction, the hash and the recovered sender.
type Sealed struct {
	Block    *block.Block
	Hash     common.Hash
	TxHashes []common.Hash
	Senders  []common.Address
}

func (s *Sealed) number() uint64 { return s.Block.Header.Number }

// Shape is what the node writes, which depends on its version and crypto suite (reference
// fisco-rpc-and-gosdk.md §2.4).
type Shape struct {
	// Suite is the chain's crypto suite: an ECDSA signature's v is the recovery id, an SM2
	// one's the public key.
	Suite *cryptosuite.Suite
	// V270 is set for nodes from 2.7.0: transactions carry blockLimit, chainId, groupId,
	// extraData and signature, a creation's to is the zero address instead of null, blocks
	// with transactions carry the signatureList, receipts a statusMsg.
	V270 bool
	// V290 is set for nodes from 2.9.0: receipts carry remainGas.
	V290 bool
}

func sigList(b *block.Block) []SigEntry {
	out := make([]SigEntry, len(b.Signatures))
	for i, s := range b.Signatures {
		out[i] = SigEntry{Index: Uint(s.Index), Signature: Bytes(s.Signature)}
	}
	return out
}

// NewHeader returns the getBlockHeaderBy* result for a block; the signatureList only with
// includeSigs.
func (sh Shape) NewHeader(s *Sealed, includeSigs bool) *Header {
	h := s.Block.Header
	out := &Header{
		DBHash: Hash(h.DBHash), ExtraData: make([]string, len(h.ExtraData)), GasLimit: Big(h.GasLimit),
		GasUsed: Big(h.GasUsed), Hash: Hash(s.Hash), LogsBloom: h.LogsBloom.String(),
		Number: Number{Value: h.Number, Integer: true}, ParentHash: Hash(h.ParentHash),
		ReceiptsRoot: Hash(h.ReceiptsRoot), Sealer: Uint(h.Sealer), SealerList: make([]string, len(h.SealerList)),
		StateRoot: Hash(h.StateRoot), Timestamp: Uint(h.Timestamp), TransactionsRoot: Hash(h.TransactionsRoot),
	}
	for i, e := range h.ExtraData {
		out.ExtraData[i] = Bytes(e)
	}
	for i, id := range h.SealerList {
		out.SealerList[i] = id.String() // node ids: 128 hex digits, no 0x
	}
	if includeSigs {
		out.SignatureList = sigList(s.Block)
	}
	return out
}

// NewBlock returns the getBlockBy* result: transactions as objects with includeTx, as hashes
// otherwise; the signatureList only with objects, from 2.7.0.
func (sh Shape) NewBlock(s *Sealed, includeTx bool) *Block {
	h := sh.NewHeader(s, false)
	out := &Block{
		DBHash: h.DBHash, ExtraData: h.ExtraData, GasLimit: h.GasLimit, GasUsed: h.GasUsed, Hash: h.Hash,
		LogsBloom: h.LogsBloom, Number: Number{Value: h.Number.Value}, ParentHash: h.ParentHash,
		ReceiptsRoot: h.ReceiptsRoot, Sealer: h.Sealer, SealerList: h.SealerList, StateRoot: h.StateRoot,
		Timestamp: h.Timestamp, TransactionsRoot: h.TransactionsRoot,
	}
	n := len(s.Block.Transactions)
	if includeTx {
		out.Transactions.Full = make([]Transaction, n)
		for i := range n {
			out.Transactions.Full[i] = *sh.NewTransaction(s, i)
		}
		if sh.V270 {
			out.SignatureList = sigList(s.Block)
		}
	} else {
		out.Transactions.Hashes = make([]string, n)
		for i := range n {
			out.Transactions.Hashes[i] = Hash(s.TxHashes[i])
		}
	}
	return out
}

// to is the "to" of a transaction or receipt: the zero address for a creation from 2.7.0,
// null before.
func (sh Shape) to(to *common.Address) *string {
	var a string
	switch {
	case to != nil:
		a = Address(*to)
	case sh.V270:
		a = Address(common.Address{})
	default:
		return nil
	}
	return &a
}

// NewTransaction returns the transaction object of transaction i of a block.
func (sh Shape) NewTransaction(s *Sealed, i int) *Transaction {
	tx := s.Block.Transactions[i]
	out := &Transaction{
		BlockHash: Hash(s.Hash), BlockNumber: Uint(s.number()), From: Address(s.Senders[i]), Gas: Big(tx.Gas),
		GasPrice: Big(tx.GasPrice), Hash: Hash(s.TxHashes[i]), Input: Bytes(tx.Data), Nonce: Big(tx.Nonce),
		To: sh.to(tx.To), TransactionIndex: Uint(uint64(i)), Value: Big(tx.Value),
	}
	if sh.V270 {
		out.BlockLimit, out.ChainID, out.GroupID = Big(tx.BlockLimit), Big(tx.ChainID), Big(tx.GroupID)
		out.ExtraData = Bytes(tx.ExtraData)
		out.Signature = sh.txSignature(tx)
	}
	return out
}

// txSignature is r, s, v and their concatenation: v is the recovery id (0/1) for ECDSA and
// the public key for SM2.
func (sh Shape) txSignature(tx *block.Transaction) *TxSignature {
	r := common.LeftPadBytes(bigBytes(tx.R), 32)
	sv := common.LeftPadBytes(bigBytes(tx.S), 32)
	v := tx.V
	if (sh.Suite == nil || sh.Suite.Name() == cryptosuite.NameECDSA) && len(v) == 1 && v[0] >= 27 {
		v = []byte{v[0] - 27}
	}
	sig := append(append(append([]byte(nil), r...), sv...), v...)
	vJSON := Bytes(v)
	if len(v) == 1 {
		vJSON = Uint(uint64(v[0]))
	}
	return &TxSignature{R: Bytes(r), S: Bytes(sv), Signature: Bytes(sig), V: vJSON}
}

func bigBytes(x *big.Int) []byte {
	if x == nil {
		return nil
	}
	return x.Bytes()
}

func logs(r *block.Receipt) []Log {
	out := make([]Log, len(r.Logs))
	for i, l := range r.Logs {
		topics := make([]string, len(l.Topics))
		for j, t := range l.Topics {
			topics[j] = Hash(t)
		}
		out[i] = Log{Address: Address(l.Address), Data: Bytes(l.Data), Topics: topics}
	}
	return out
}

// NewReceipt returns the getTransactionReceipt result of transaction i of a block.
func (sh Shape) NewReceipt(s *Sealed, i int) *Receipt {
	out := sh.NewBatchReceipt(s, i)
	r := s.Block.Receipts[i]
	out.BlockHash, out.BlockNumber = Hash(s.Hash), Uint(s.number())
	out.Input = Bytes(s.Block.Transactions[i].Data)
	out.LogsBloom = r.Bloom.String()
	out.Root = Hash(r.StateRoot)
	if sh.V270 {
		out.StatusMsg = StatusMsg(r.Status)
	}
	if sh.V290 {
		out.RemainGas = Big(r.RemainGas)
	}
	return out
}

// NewBatchReceipt returns entry i of getBatchReceipts*: no block fields, input, bloom, root,
// statusMsg or remainGas.
func (sh Shape) NewBatchReceipt(s *Sealed, i int) *Receipt {
	r := s.Block.Receipts[i]
	return &Receipt{
		ContractAddress: Address(r.ContractAddress), From: Address(s.Senders[i]), GasUsed: Big(r.GasUsed),
		Logs: logs(r), Output: Bytes(r.Output), Status: Uint(r.Status), To: sh.to(s.Block.Transactions[i].To),
		TransactionHash: Hash(s.TxHashes[i]), TransactionIndex: Uint(uint64(i)),
	}
}

// NewBlockInfo returns the blockInfo of getBatchReceipts*.
func NewBlockInfo(s *Sealed) BlockInfo {
	return BlockInfo{
		BlockHash: Hash(s.Hash), BlockNumber: Uint(s.number()), ReceiptRoot: Hash(s.Block.Header.ReceiptsRoot),
		ReceiptsCount: Uint(uint64(len(s.Block.Receipts))),
	}
}

// StatusMsg names a receipt status (libethcore/TransactionException.h). The node prints
// "StackUnderflow" for AlreadyKnown (10000), an upstream bug kept here.
func StatusMsg(status uint64) string {
	if status < uint64(len(statusNames)) {
		return statusNames[status]
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

var statusNames = []string{
	"None", "Unknown", "BadRLP", "InvalidFormat", "OutOfGasIntrinsic", "InvalidSignature",
	"InvalidNonce", "NotEnoughCash", "OutOfGasBase", "BlockGasLimitReached", "BadInstruction",
	"BadJumpDestination", "OutOfGas", "OutOfStack", "StackUnderflow", "NonceCheckFail",
	"BlockLimitCheckFail", "FilterCheckFail", "NoDeployPermission", "NoCallPermission",
	"NoTxPermission", "PrecompiledError", "RevertInstruction", "InvalidZeroSignatureFormat",
	"AddressAlreadyUsed", "PermissionDenied", "CallAddressError", "GasOverflow",
	"TxPoolIsFull", "TransactionRefused", "ContractFrozen", "AccountFrozen",
	"NotEnoughRemainGas",
}

// ToHeader rebuilds the block header. The hash is not checked here: Hash(header) is the
// verifier's business.
func (j *Header) ToHeader() (*block.Header, error) {
	h := &block.Header{Number: j.Number.Value}
	var err error
	for _, f := range []struct {
		dst  *common.Hash
		src  string
		name string
	}{{&h.ParentHash, j.ParentHash, "parentHash"}, {&h.StateRoot, j.StateRoot, "stateRoot"}, {&h.TransactionsRoot, j.TransactionsRoot, "transactionsRoot"},
		{&h.ReceiptsRoot, j.ReceiptsRoot, "receiptsRoot"}, {&h.DBHash, j.DBHash, "dbHash"}} {
		if *f.dst, err = ParseHash(f.src); err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	bloom, err := ParseBytes(j.LogsBloom)
	if err != nil {
		return nil, fmt.Errorf("logsBloom %.20q: %w", j.LogsBloom, err)
	}
	if len(bloom) != block.BloomLen {
		return nil, fmt.Errorf("logsBloom %.20q: %d bytes, want %d", j.LogsBloom, len(bloom), block.BloomLen)
	}
	copy(h.LogsBloom[:], bloom)
	if h.GasLimit, err = ParseBig(j.GasLimit); err != nil {
		return nil, fmt.Errorf("gasLimit: %w", err)
	}
	if h.GasUsed, err = ParseBig(j.GasUsed); err != nil {
		return nil, fmt.Errorf("gasUsed: %w", err)
	}
	if h.Timestamp, err = ParseUint(j.Timestamp); err != nil {
		return nil, fmt.Errorf("timestamp: %w", err)
	}
	for i, e := range j.ExtraData {
		b, err := ParseBytes(e)
		if err != nil {
			return nil, fmt.Errorf("extraData %d: %w", i, err)
		}
		h.ExtraData = append(h.ExtraData, b)
	}
	if h.Sealer, err = ParseUint(j.Sealer); err != nil {
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

// Signatures rebuilds the signatureList.
func (j *Header) Signatures() ([]block.SigEntry, error) {
	sigs := make([]block.SigEntry, len(j.SignatureList))
	var err error
	for i, sg := range j.SignatureList {
		if sigs[i].Index, err = ParseUint(sg.Index); err != nil {
			return nil, fmt.Errorf("signature %d index: %w", i, err)
		}
		if sigs[i].Signature, err = ParseBytes(sg.Signature); err != nil {
			return nil, fmt.Errorf("signature %d: %w", i, err)
		}
	}
	return sigs, nil
}

// ToTransaction rebuilds the signed transaction, which needs the 2.7.0+ fields. The node
// reports a creation's empty "to" as the zero address from 2.7.0; the transaction hash says
// which it was, so the rebuilt transaction must hash to Hash.
func (j *Transaction) ToTransaction(suite *cryptosuite.Suite) (*block.Transaction, error) {
	if suite == nil {
		return nil, errors.New("no crypto suite")
	}
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
		if *f.dst, err = ParseBig(f.src); err != nil {
			return nil, fmt.Errorf("%s: %w", f.nm, err)
		}
	}
	if t.Data, err = ParseBytes(j.Input); err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	if t.ExtraData, err = ParseBytes(j.ExtraData); err != nil {
		return nil, fmt.Errorf("extraData: %w", err)
	}
	if suite.Name() == cryptosuite.NameSM {
		if t.V, err = ParseBytes(j.Signature.V); err != nil {
			return nil, fmt.Errorf("v: %w", err)
		}
	} else {
		v, err := ParseUint(j.Signature.V)
		if err != nil {
			return nil, fmt.Errorf("v: %w", err)
		}
		if v > 1 {
			return nil, fmt.Errorf("v %q: want 0 or 1", j.Signature.V)
		}
		t.V = []byte{byte(27 + v)}
	}
	want, err := ParseHash(j.Hash)
	if err != nil {
		return nil, fmt.Errorf("hash: %w", err)
	}
	if j.To != nil && *j.To != "" {
		a, err := ParseAddress(*j.To)
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

// Sender returns the transaction's "from" as the node reported it.
func (j *Transaction) Sender() (common.Address, error) { return ParseAddress(j.From) }

// ToReceipt rebuilds a receipt. The JSON does not carry everything the receipt RLP holds:
// stateRoot is the block's (2.2.0+), the bloom is recomputed from the logs, and remainGas is
// only kept with withRemainGas (8-field receipts, supported_version ≥ 2.9.0) when present.
func (j *Receipt) ToReceipt(suite *cryptosuite.Suite, stateRoot common.Hash, withRemainGas bool) (*block.Receipt, error) {
	if suite == nil {
		return nil, errors.New("no crypto suite")
	}
	r := &block.Receipt{StateRoot: stateRoot, HasRemainGas: withRemainGas && j.RemainGas != ""}
	var err error
	if r.GasUsed, err = ParseBig(j.GasUsed); err != nil {
		return nil, fmt.Errorf("gasUsed: %w", err)
	}
	if j.ContractAddress != "" {
		if r.ContractAddress, err = ParseAddress(j.ContractAddress); err != nil {
			return nil, fmt.Errorf("contractAddress: %w", err)
		}
	}
	if r.Status, err = ParseUint(j.Status); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	if r.Output, err = ParseBytes(j.Output); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	if r.HasRemainGas {
		if r.RemainGas, err = ParseBig(j.RemainGas); err != nil {
			return nil, fmt.Errorf("remainGas: %w", err)
		}
	}
	for k, l := range j.Logs {
		lg, err := l.ToLog()
		if err != nil {
			return nil, fmt.Errorf("log %d %w", k, err)
		}
		r.Logs = append(r.Logs, lg)
	}
	r.Bloom = block.LogsBloom(suite, r.Logs)
	return r, nil
}

// ToLog rebuilds a log.
func (l *Log) ToLog() (block.Log, error) {
	var lg block.Log
	var err error
	if lg.Address, err = ParseAddress(l.Address); err != nil {
		return lg, fmt.Errorf("address: %w", err)
	}
	if lg.Data, err = ParseBytes(l.Data); err != nil {
		return lg, fmt.Errorf("data: %w", err)
	}
	for _, tp := range l.Topics {
		th, err := ParseHash(tp)
		if err != nil {
			return lg, fmt.Errorf("topic: %w", err)
		}
		lg.Topics = append(lg.Topics, th)
	}
	return lg, nil
}
