package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fisco/rpcjson"
)

const decodeAbout = `Decode a FISCO BCOS 2.x block RLP (a _sys_hash_2_block_ value) and print it as indented
JSON: header fields, the computed hash, transactions with hash and recovered sender, receipts
and logs, and each consensus signature with its validity against the header's sealerList.
The argument is the block as hex (0x optional) or @FILE holding hex or raw bytes.`

// BlockDecode implements `bcosdata block decode [--crypto ecdsa|sm] HEX|@FILE`.
func BlockDecode(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("block decode", "bcosdata block decode [flags] HEX|@FILE", decodeAbout, stderr)
	crypto := fs.String("crypto", cryptosuite.NameECDSA, "crypto suite of the chain: ecdsa or sm")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return &app.UsageError{Err: fmt.Errorf("block decode takes one HEX or @FILE, got %d arguments", len(pos))}
	}
	suite, err := cryptosuite.New(*crypto)
	if err != nil {
		return &app.UsageError{Err: fmt.Errorf("--crypto %q: %w", *crypto, err)}
	}
	raw, err := blockInput(pos[0])
	if err != nil {
		return err
	}
	blk, err := block.DecodeBlock(raw)
	if err != nil {
		return fmt.Errorf("decode block: %w", err)
	}
	out, err := json.MarshalIndent(describeBlock(suite, blk), "", "  ")
	if err != nil {
		return fmt.Errorf("encode block json: %w", err)
	}
	if _, err := stdout.Write(append(out, '\n')); err != nil {
		return fmt.Errorf("write block json: %w", err)
	}
	return nil
}

// blockInput reads the block bytes from a hex argument or @FILE (hex text or raw RLP).
func blockInput(arg string) ([]byte, error) {
	if path, ok := strings.CutPrefix(arg, "@"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read block: %w", err)
		}
		if h, err := decodeHex(string(bytes.TrimSpace(b))); err == nil {
			return h, nil
		}
		return b, nil
	}
	b, err := decodeHex(strings.TrimSpace(arg))
	if err != nil {
		return nil, &app.UsageError{Err: fmt.Errorf("block argument: %w", err)}
	}
	return b, nil
}

func decodeHex(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	return hex.DecodeString(s)
}

// The JSON shapes of block decode: a block as stored (RLP), not as the node's JSON-RPC returns
// it (libs/fisco/rpcjson), plus what verification learns. Integers that fit 64 bits are JSON
// numbers; u256 fields are decimal strings so that no consumer loses precision; bytes,
// addresses and hashes are written as the node writes them (rpcjson's helpers).
type (
	blockJSON struct {
		Hash         string          `json:"hash"`
		StoredHash   string          `json:"storedHash"`
		HashValid    bool            `json:"hashValid"`
		Roots        string          `json:"roots"`
		Header       headerJSON      `json:"header"`
		Transactions []txJSON        `json:"transactions"`
		Receipts     []receiptJSON   `json:"receipts"`
		Signatures   []signatureJSON `json:"signatures"`
	}
	headerJSON struct {
		ParentHash       string   `json:"parentHash"`
		StateRoot        string   `json:"stateRoot"`
		TransactionsRoot string   `json:"transactionsRoot"`
		ReceiptsRoot     string   `json:"receiptsRoot"`
		DBHash           string   `json:"dbHash"`
		LogsBloom        string   `json:"logsBloom"`
		Number           uint64   `json:"number"`
		GasLimit         string   `json:"gasLimit"`
		GasUsed          string   `json:"gasUsed"`
		Timestamp        uint64   `json:"timestamp"`
		ExtraData        []string `json:"extraData"`
		Sealer           uint64   `json:"sealer"`
		SealerList       []string `json:"sealerList"`
	}
	txJSON struct {
		Hash        string  `json:"hash"`
		Sender      string  `json:"sender,omitempty"`
		SenderError string  `json:"senderError,omitempty"`
		Nonce       string  `json:"nonce"`
		GasPrice    string  `json:"gasPrice"`
		Gas         string  `json:"gas"`
		BlockLimit  string  `json:"blockLimit"`
		To          *string `json:"to"`
		Value       string  `json:"value"`
		Input       string  `json:"input"`
		ChainID     string  `json:"chainId"`
		GroupID     string  `json:"groupId"`
		ExtraData   string  `json:"extraData"`
		V           string  `json:"v"`
		R           string  `json:"r"`
		S           string  `json:"s"`
	}
	receiptJSON struct {
		StateRoot       string    `json:"stateRoot"`
		GasUsed         string    `json:"gasUsed"`
		ContractAddress string    `json:"contractAddress"`
		LogsBloom       string    `json:"logsBloom"`
		Status          uint64    `json:"status"`
		Output          string    `json:"output"`
		RemainGas       *string   `json:"remainGas,omitempty"`
		Logs            []logJSON `json:"logs"`
	}
	logJSON struct {
		Address string   `json:"address"`
		Topics  []string `json:"topics"`
		Data    string   `json:"data"`
	}
	signatureJSON struct {
		Index     uint64 `json:"index"`
		Signature string `json:"signature"`
		Valid     bool   `json:"valid"`
		Error     string `json:"error,omitempty"`
	}
)

func dec(n *big.Int) string {
	if n == nil {
		return "0"
	}
	return n.String()
}

func describeBlock(s *cryptosuite.Suite, b *block.Block) blockJSON {
	h := b.Header
	hash := h.Hash(s)
	out := blockJSON{
		Hash: rpcjson.Hash(hash), StoredHash: rpcjson.Hash(b.BlockHash), HashValid: hash == b.BlockHash,
		Roots: rootRule(s, b),
		Header: headerJSON{
			ParentHash: rpcjson.Hash(h.ParentHash), StateRoot: rpcjson.Hash(h.StateRoot), TransactionsRoot: rpcjson.Hash(h.TransactionsRoot),
			ReceiptsRoot: rpcjson.Hash(h.ReceiptsRoot), DBHash: rpcjson.Hash(h.DBHash), LogsBloom: rpcjson.Bytes(h.LogsBloom[:]),
			Number: h.Number, GasLimit: dec(h.GasLimit), GasUsed: dec(h.GasUsed), Timestamp: h.Timestamp,
			ExtraData: []string{}, Sealer: h.Sealer, SealerList: []string{},
		},
		Transactions: []txJSON{}, Receipts: []receiptJSON{}, Signatures: []signatureJSON{},
	}
	for _, e := range h.ExtraData {
		out.Header.ExtraData = append(out.Header.ExtraData, rpcjson.Bytes(e))
	}
	for _, k := range h.SealerList {
		out.Header.SealerList = append(out.Header.SealerList, "0x"+k.String())
	}
	for _, tx := range b.Transactions {
		t := txJSON{
			Hash: rpcjson.Hash(tx.Hash(s)), Nonce: dec(tx.Nonce), GasPrice: dec(tx.GasPrice), Gas: dec(tx.Gas),
			BlockLimit: dec(tx.BlockLimit), Value: dec(tx.Value), Input: rpcjson.Bytes(tx.Data), ChainID: dec(tx.ChainID),
			GroupID: dec(tx.GroupID), ExtraData: rpcjson.Bytes(tx.ExtraData), V: rpcjson.Bytes(tx.V), R: dec(tx.R), S: dec(tx.S),
		}
		if tx.To != nil {
			to := rpcjson.Address(*tx.To)
			t.To = &to
		}
		if from, err := tx.Sender(s); err != nil {
			t.SenderError = err.Error()
		} else {
			t.Sender = rpcjson.Address(from)
		}
		out.Transactions = append(out.Transactions, t)
	}
	for _, r := range b.Receipts {
		rj := receiptJSON{
			StateRoot: rpcjson.Hash(r.StateRoot), GasUsed: dec(r.GasUsed), ContractAddress: rpcjson.Address(r.ContractAddress),
			LogsBloom: rpcjson.Bytes(r.Bloom[:]), Status: r.Status, Output: rpcjson.Bytes(r.Output), Logs: []logJSON{},
		}
		if r.HasRemainGas {
			g := dec(r.RemainGas)
			rj.RemainGas = &g
		}
		for _, l := range r.Logs {
			lj := logJSON{Address: rpcjson.Address(l.Address), Topics: []string{}, Data: rpcjson.Bytes(l.Data)}
			for _, t := range l.Topics {
				lj.Topics = append(lj.Topics, rpcjson.Hash(t))
			}
			rj.Logs = append(rj.Logs, lj)
		}
		out.Receipts = append(out.Receipts, rj)
	}
	for _, sg := range b.Signatures {
		sj := signatureJSON{Index: sg.Index, Signature: rpcjson.Bytes(sg.Signature)}
		switch {
		case sg.Index >= uint64(len(h.SealerList)):
			sj.Error = fmt.Sprintf("sealer index %d beyond the %d sealers", sg.Index, len(h.SealerList))
		default:
			if err := s.Verify(h.SealerList[sg.Index], hash, sg.Signature); err != nil {
				sj.Error = err.Error()
			} else {
				sj.Valid = true
			}
		}
		out.Signatures = append(out.Signatures, sj)
	}
	return out
}

// rootRule names the rule the header's roots follow: "zero" (genesis), "merkle", "rc2", or
// "mismatch".
func rootRule(s *cryptosuite.Suite, b *block.Block) string {
	h := b.Header
	if h.Number == 0 && h.TransactionsRoot == (common.Hash{}) && h.ReceiptsRoot == (common.Hash{}) {
		return "zero"
	}
	for _, rule := range []block.RootRule{block.MerkleRoots, block.RC2Roots} {
		if b.VerifyRoots(s, rule) == nil {
			return rule.String()
		}
	}
	return "mismatch"
}
