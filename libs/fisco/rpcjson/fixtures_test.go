package rpcjson_test

import (
	"bytes"
	"encoding/json"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fisco/rpcjson"
	"github.com/bcosdata/bcosdata/libs/fixtures"
)

// result returns .response.result of a recorded response (fixtures/rpc), compacted: the bytes
// the node sent, up to whitespace. Some fixtures hold a bare result as .response.
func result(t testing.TB, file string) []byte {
	t.Helper()
	var doc struct {
		Response json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(fixtures.Read(t, "rpc", file), &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var env struct {
		Result json.RawMessage `json:"result"`
	}
	body := doc.Response
	if err := json.Unmarshal(body, &env); err == nil && len(env.Result) > 0 {
		body = env.Result
	}
	var out bytes.Buffer
	if err := json.Compact(&out, body); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func decode(t *testing.T, file string, out any) []byte {
	t.Helper()
	raw := result(t, file)
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return raw
}

// encode marshals as a node does (no HTML escaping, no newline).
func encode(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the node's bytes\n got %s\nwant %s", what, got, want)
	}
}

// Every recorded block, header, transaction and receipt decodes into the shapes and encodes
// back to the node's bytes: same keys, same order, same JSON types.
func TestShapesRoundTripFixtures(t *testing.T) {
	cases := []struct {
		file string
		into func() any
	}{
		{"doc_getBlockByHash_includeTx_true.json", func() any { return new(rpcjson.Block) }},
		{"doc_getBlockByHash_includeTx_false.json", func() any { return new(rpcjson.Block) }},
		{"doc_getBlockHeaderByHash.json", func() any { return new(rpcjson.Header) }},
		{"javasdk_ecdsa_getBlockHeaderByHash.json", func() any { return new(rpcjson.Header) }},
		{"javasdk_sm_getBlockHeader.json", func() any { return new(rpcjson.Header) }},
		{"doc_getTransactionByHash.json", func() any { return new(rpcjson.Transaction) }},
		{"javasdk_ecdsa_getTransactionByHash.json", func() any { return new(rpcjson.Transaction) }},
		{"javasdk_sm_getTransactionByHash_deploy.json", func() any { return new(rpcjson.Transaction) }},
		{"javasdk_sm_getTransactionByHash_call.json", func() any { return new(rpcjson.Transaction) }},
		{"pysdk_getTransactionByHash_simpleinfo_set.json", func() any { return new(rpcjson.Transaction) }},
		{"doc_getTransactionReceipt.json", func() any { return new(rpcjson.Receipt) }},
		{"pysdk_receipt_with_logs.json", func() any { return new(rpcjson.Receipt) }},
		{"javasdk_getBatchReceiptsByBlockNumberAndRange_plain.json", func() any { return new(rpcjson.BatchReceipts) }},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			v := tc.into()
			raw := decode(t, tc.file, v)
			sameBytes(t, tc.file, encode(t, v), raw)
		})
	}
}

// sealedFromBlock rebuilds a block from its getBlockBy* result, with hashes and senders as a
// node knows them.
func sealedFromBlock(t *testing.T, s *cryptosuite.Suite, j *rpcjson.Block) *rpcjson.Sealed {
	t.Helper()
	h, err := j.Header().ToHeader()
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := j.Header().Signatures()
	if err != nil {
		t.Fatal(err)
	}
	out := &rpcjson.Sealed{Block: &block.Block{Header: h, Signatures: sigs}, Hash: mustHash(t, j.Hash)}
	for i := range j.Transactions.Full {
		tx, err := j.Transactions.Full[i].ToTransaction(s)
		if err != nil {
			t.Fatal(err)
		}
		from, err := tx.Sender(s)
		if err != nil {
			t.Fatal(err)
		}
		out.Block.Transactions = append(out.Block.Transactions, tx)
		out.TxHashes = append(out.TxHashes, tx.Hash(s))
		out.Senders = append(out.Senders, from)
	}
	return out
}

func mustHash(t *testing.T, s string) common.Hash {
	t.Helper()
	h, err := rpcjson.ParseHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// The producing side: a block, header and transaction rebuilt from the recorded responses
// into libs/fisco/block types (with recovered senders and recomputed hashes) is written back
// byte for byte as the node wrote it.
func TestProducesNodeBytes(t *testing.T) {
	v27 := rpcjson.Shape{Suite: cryptosuite.ECDSA(), V270: true}
	t.Run("getBlockByHash with transactions", func(t *testing.T) {
		var j rpcjson.Block
		raw := decode(t, "doc_getBlockByHash_includeTx_true.json", &j)
		s := sealedFromBlock(t, cryptosuite.ECDSA(), &j)
		sameBytes(t, "block", encode(t, v27.NewBlock(s, true)), raw)
		// Without transactions: hashes, and no signatureList.
		var without rpcjson.Block
		rawWithout := decode(t, "doc_getBlockByHash_includeTx_false.json", &without)
		sameBytes(t, "block without transactions", encode(t, v27.NewBlock(s, false)), rawWithout)
	})
	for _, tc := range []struct {
		file  string
		suite *cryptosuite.Suite
	}{
		{"javasdk_ecdsa_getBlockHeaderByHash.json", cryptosuite.ECDSA()},
		{"javasdk_sm_getBlockHeader.json", cryptosuite.SM()},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var j rpcjson.Header
			raw := decode(t, tc.file, &j)
			h, err := j.ToHeader()
			if err != nil {
				t.Fatal(err)
			}
			sigs, err := j.Signatures()
			if err != nil {
				t.Fatal(err)
			}
			s := &rpcjson.Sealed{Block: &block.Block{Header: h, Signatures: sigs}, Hash: h.Hash(tc.suite)}
			sameBytes(t, "header", encode(t, rpcjson.Shape{Suite: tc.suite, V270: true}.NewHeader(s, true)), raw)
		})
	}
	for _, tc := range []struct {
		file  string
		suite *cryptosuite.Suite
	}{
		{"doc_getTransactionByHash.json", cryptosuite.ECDSA()},
		{"javasdk_ecdsa_getTransactionByHash.json", cryptosuite.ECDSA()},
		{"javasdk_sm_getTransactionByHash_deploy.json", cryptosuite.SM()},
		{"javasdk_sm_getTransactionByHash_call.json", cryptosuite.SM()},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var j rpcjson.Transaction
			raw := decode(t, tc.file, &j)
			tx, err := j.ToTransaction(tc.suite)
			if err != nil {
				t.Fatal(err)
			}
			from, err := tx.Sender(tc.suite)
			if err != nil {
				t.Fatal(err)
			}
			idx, _ := rpcjson.ParseUint(j.TransactionIndex)
			n, _ := rpcjson.ParseUint(j.BlockNumber)
			// Put the transaction at its index of a block with that number.
			txs := make([]*block.Transaction, idx+1)
			hashes := make([]common.Hash, idx+1)
			senders := make([]common.Address, idx+1)
			txs[idx], hashes[idx], senders[idx] = tx, tx.Hash(tc.suite), from
			s := &rpcjson.Sealed{Block: &block.Block{Header: &block.Header{Number: n}, Transactions: txs}, Hash: mustHash(t, j.BlockHash), TxHashes: hashes, Senders: senders}
			sameBytes(t, "transaction", encode(t, rpcjson.Shape{Suite: tc.suite, V270: true}.NewTransaction(s, int(idx))), raw)
		})
	}
	t.Run("getTransactionReceipt before 2.7", func(t *testing.T) {
		var j rpcjson.Receipt
		raw := decode(t, "doc_getTransactionReceipt.json", &j)
		s := sealedFromReceipts(t, cryptosuite.ECDSA(), j.BlockHash, j.BlockNumber, []rpcjson.Receipt{j}, []string{j.Input})
		sameBytes(t, "receipt", encode(t, rpcjson.Shape{Suite: cryptosuite.ECDSA()}.NewReceipt(s, 0)), raw)
	})
	t.Run("getBatchReceiptsByBlockNumberAndRange", func(t *testing.T) {
		var j rpcjson.BatchReceipts
		raw := decode(t, "javasdk_getBatchReceiptsByBlockNumberAndRange_plain.json", &j)
		s := sealedFromReceipts(t, cryptosuite.ECDSA(), j.BlockInfo.BlockHash, j.BlockInfo.BlockNumber, j.TransactionReceipts, nil)
		s.Block.Header.ReceiptsRoot = mustHash(t, j.BlockInfo.ReceiptRoot)
		out := rpcjson.BatchReceipts{BlockInfo: rpcjson.NewBlockInfo(s)}
		for i := range j.TransactionReceipts {
			out.TransactionReceipts = append(out.TransactionReceipts, *v27.NewBatchReceipt(s, i))
		}
		sameBytes(t, "batch receipts", encode(t, out), raw)
	})
}

// sealedFromReceipts builds a block holding the given receipts and, for their "to" and input,
// stand-in transactions.
func sealedFromReceipts(t *testing.T, s *cryptosuite.Suite, blockHash, number string, rs []rpcjson.Receipt, inputs []string) *rpcjson.Sealed {
	t.Helper()
	n, err := rpcjson.ParseUint(number)
	if err != nil {
		t.Fatal(err)
	}
	out := &rpcjson.Sealed{Block: &block.Block{Header: &block.Header{Number: n}}, Hash: mustHash(t, blockHash)}
	for i := range rs {
		j := &rs[i]
		root := common.Hash{}
		if j.Root != "" {
			root = mustHash(t, j.Root)
		}
		r, err := j.ToReceipt(s, root, false)
		if err != nil {
			t.Fatal(err)
		}
		tx := &block.Transaction{Nonce: big.NewInt(0)}
		if j.To != nil {
			to, err := rpcjson.ParseAddress(*j.To)
			if err != nil {
				t.Fatal(err)
			}
			tx.To = &to
		}
		if inputs != nil {
			if tx.Data, err = rpcjson.ParseBytes(inputs[i]); err != nil {
				t.Fatal(err)
			}
		}
		from, err := rpcjson.ParseAddress(j.From)
		if err != nil {
			t.Fatal(err)
		}
		out.Block.Transactions = append(out.Block.Transactions, tx)
		out.Block.Receipts = append(out.Block.Receipts, r)
		out.TxHashes = append(out.TxHashes, mustHash(t, j.TransactionHash))
		out.Senders = append(out.Senders, from)
	}
	return out
}
