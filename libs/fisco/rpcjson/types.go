// Package rpcjson holds the JSON shapes of FISCO BCOS 2.x JSON-RPC blocks, block headers,
// transactions and receipts, the node's hex encoding of their values, and conversions to and
// from the libs/fisco/block types. It is used on both sides of the wire: the simulator
// (services/fiscosim) produces these shapes, readers (stash's JSON-RPC source) parse them, so
// both agree with each other and with a real node.
//
// Struct fields are declared in the order of their JSON keys, which the node sorts, so that
// encoding/json writes a result byte for byte as the node does. Fields that only some node
// versions write are omitted when empty (reference fisco-rpc-and-gosdk.md §2.4).
package rpcjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// SigEntry is one consensus signature of a header's signatureList.
type SigEntry struct {
	Index     string `json:"index"`
	Signature string `json:"signature"`
}

// Number is a block number: a hex string in getBlockBy* results, a JSON integer in
// getBlockHeaderBy* results. It keeps the form it was read in.
type Number struct {
	Value uint64
	// Integer selects the JSON integer form.
	Integer bool
}

// MarshalJSON writes the number in its form.
func (n Number) MarshalJSON() ([]byte, error) {
	if n.Integer {
		return strconv.AppendUint(nil, n.Value, 10), nil
	}
	return json.Marshal(Uint(n.Value))
}

// UnmarshalJSON reads either form (a string may be hex or decimal).
func (n *Number) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := ParseUint(s)
		if err != nil {
			return err
		}
		*n = Number{Value: v}
		return nil
	}
	var v uint64
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("block number %s: %w", b, err)
	}
	*n = Number{Value: v, Integer: true}
	return nil
}

// Header is the getBlockHeaderByNumber/ByHash result (node 2.6.0+): the header fields, the
// computed hash and, when asked for, the signatureList.
type Header struct {
	DBHash           string     `json:"dbHash"`
	ExtraData        []string   `json:"extraData"`
	GasLimit         string     `json:"gasLimit"`
	GasUsed          string     `json:"gasUsed"`
	Hash             string     `json:"hash"`
	LogsBloom        string     `json:"logsBloom"`
	Number           Number     `json:"number"`
	ParentHash       string     `json:"parentHash"`
	ReceiptsRoot     string     `json:"receiptsRoot"`
	Sealer           string     `json:"sealer"`
	SealerList       []string   `json:"sealerList"`
	SignatureList    []SigEntry `json:"signatureList,omitzero"` // nil: not asked for
	StateRoot        string     `json:"stateRoot"`
	Timestamp        string     `json:"timestamp"`
	TransactionsRoot string     `json:"transactionsRoot"`
}

// Block is the getBlockByNumber/ByHash result: the header's fields (number as hex), the
// transactions, and from 2.7.0 the signatureList when the transactions are included.
type Block struct {
	DBHash           string       `json:"dbHash"`
	ExtraData        []string     `json:"extraData"`
	GasLimit         string       `json:"gasLimit"`
	GasUsed          string       `json:"gasUsed"`
	Hash             string       `json:"hash"`
	LogsBloom        string       `json:"logsBloom"`
	Number           Number       `json:"number"`
	ParentHash       string       `json:"parentHash"`
	ReceiptsRoot     string       `json:"receiptsRoot"`
	Sealer           string       `json:"sealer"`
	SealerList       []string     `json:"sealerList"`
	SignatureList    []SigEntry   `json:"signatureList,omitzero"` // nil: not written
	StateRoot        string       `json:"stateRoot"`
	Timestamp        string       `json:"timestamp"`
	Transactions     Transactions `json:"transactions"`
	TransactionsRoot string       `json:"transactionsRoot"`
}

// Header returns the block's header fields as a Header (number kept in its form).
func (b *Block) Header() *Header {
	return &Header{
		DBHash: b.DBHash, ExtraData: b.ExtraData, GasLimit: b.GasLimit, GasUsed: b.GasUsed, Hash: b.Hash,
		LogsBloom: b.LogsBloom, Number: b.Number, ParentHash: b.ParentHash, ReceiptsRoot: b.ReceiptsRoot,
		Sealer: b.Sealer, SealerList: b.SealerList, SignatureList: b.SignatureList, StateRoot: b.StateRoot,
		Timestamp: b.Timestamp, TransactionsRoot: b.TransactionsRoot,
	}
}

// Transactions is a block's transactions member: objects when the transactions were asked
// for (Full), their hashes otherwise (Hashes). Exactly one of the two is used; with neither
// it is an empty array.
type Transactions struct {
	Full   []Transaction
	Hashes []string
}

// MarshalJSON writes the objects or the hashes.
func (t Transactions) MarshalJSON() ([]byte, error) {
	switch {
	case t.Hashes != nil:
		return json.Marshal(t.Hashes)
	case t.Full != nil:
		return json.Marshal(t.Full)
	}
	return []byte("[]"), nil
}

// UnmarshalJSON reads an array of hashes or of transaction objects.
func (t *Transactions) UnmarshalJSON(b []byte) error {
	*t = Transactions{}
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(bytes.TrimSpace(b), []byte("[")), " \t\r\n")
	if bytes.HasPrefix(trimmed, []byte(`"`)) {
		return json.Unmarshal(b, &t.Hashes)
	}
	if err := json.Unmarshal(b, &t.Full); err != nil {
		return err
	}
	if t.Full == nil && !bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		t.Full = []Transaction{}
	}
	return nil
}

// TxSignature is a transaction's signature (2.7.0+): r, s and v, and their concatenation.
// v is the recovery id (0/1) for ECDSA, the signer's 64-byte public key for SM2.
type TxSignature struct {
	R         string `json:"r"`
	S         string `json:"s"`
	Signature string `json:"signature"`
	V         string `json:"v"`
}

// Transaction is the transaction object (Rpc::parseTransactionIntoResponse), in blocks and
// from getTransactionBy*. blockLimit, chainId, extraData, groupId and signature come from
// 2.7.0; to is null for a contract creation before 2.7.0, the zero address from 2.7.0.
type Transaction struct {
	BlockHash        string       `json:"blockHash,omitempty"`
	BlockLimit       string       `json:"blockLimit,omitempty"`
	BlockNumber      string       `json:"blockNumber,omitempty"`
	ChainID          string       `json:"chainId,omitempty"`
	ExtraData        string       `json:"extraData,omitempty"`
	From             string       `json:"from"`
	Gas              string       `json:"gas"`
	GasPrice         string       `json:"gasPrice"`
	GroupID          string       `json:"groupId,omitempty"`
	Hash             string       `json:"hash"`
	Input            string       `json:"input"`
	Nonce            string       `json:"nonce"`
	Signature        *TxSignature `json:"signature,omitempty"`
	To               *string      `json:"to"`
	TransactionIndex string       `json:"transactionIndex,omitempty"`
	Value            string       `json:"value"`
}

// Log is one event log of a receipt.
type Log struct {
	Address string   `json:"address"`
	Data    string   `json:"data"`
	Topics  []string `json:"topics"`
}

// Receipt is the getTransactionReceipt result (Rpc::parseReceiptIntoResponse), and with fewer
// fields an entry of getBatchReceipts*: those carry no blockHash, blockNumber, input,
// logsBloom, remainGas, root or statusMsg. statusMsg comes from 2.7.0, remainGas from 2.9.0.
type Receipt struct {
	BlockHash        string  `json:"blockHash,omitempty"`
	BlockNumber      string  `json:"blockNumber,omitempty"`
	ContractAddress  string  `json:"contractAddress"`
	From             string  `json:"from"`
	GasUsed          string  `json:"gasUsed"`
	Input            string  `json:"input,omitempty"`
	Logs             []Log   `json:"logs"`
	LogsBloom        string  `json:"logsBloom,omitempty"`
	Output           string  `json:"output"`
	RemainGas        string  `json:"remainGas,omitempty"`
	Root             string  `json:"root,omitempty"`
	Status           string  `json:"status"`
	StatusMsg        string  `json:"statusMsg,omitempty"`
	To               *string `json:"to"`
	TransactionHash  string  `json:"transactionHash"`
	TransactionIndex string  `json:"transactionIndex"`
}

// BlockInfo is the blockInfo member of getBatchReceipts*.
type BlockInfo struct {
	BlockHash     string `json:"blockHash"`
	BlockNumber   string `json:"blockNumber"`
	ReceiptRoot   string `json:"receiptRoot"`
	ReceiptsCount string `json:"receiptsCount"`
}

// BatchReceipts is the getBatchReceiptsByBlockNumberAndRange/ByBlockHashAndRange result
// (2.7.0+) when not compressed. A count of 0 leaves out transactionReceipts.
type BatchReceipts struct {
	BlockInfo           BlockInfo `json:"blockInfo"`
	TransactionReceipts []Receipt `json:"transactionReceipts,omitzero"`
}
