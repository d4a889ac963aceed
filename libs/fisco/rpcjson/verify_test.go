package rpcjson_test

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fisco/rpcjson"
)

// The recorded responses are real node output: rebuilt into libs/fisco/block types, their
// hashes, signatures, senders, roots and blooms recompute (reference §4).

func headerFromRPC(t *testing.T, r *rpcjson.Header) (*block.Header, []block.SigEntry) {
	t.Helper()
	h, err := r.ToHeader()
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := r.Signatures()
	if err != nil {
		t.Fatal(err)
	}
	return h, sigs
}

func txFromRPC(t *testing.T, s *cryptosuite.Suite, r *rpcjson.Transaction) *block.Transaction {
	t.Helper()
	tx, err := r.ToTransaction(s)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func TestRPCHeadersRecomputeAndVerify(t *testing.T) {
	tests := []struct {
		file  string
		suite *cryptosuite.Suite
		sigs  int
	}{
		{"doc_getBlockByHash_includeTx_true.json", cryptosuite.ECDSA(), 1},
		{"doc_getBlockHeaderByHash.json", cryptosuite.ECDSA(), 3},
		{"javasdk_ecdsa_getBlockHeaderByHash.json", cryptosuite.ECDSA(), 3},
		{"javasdk_sm_getBlockHeader.json", cryptosuite.SM(), 3},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var r rpcjson.Header
			decode(t, tt.file, &r)
			h, sigs := headerFromRPC(t, &r)
			want := common.HexToHash(r.Hash)
			if got := h.Hash(tt.suite); got != want {
				t.Fatalf("header hash = %s, want %s", got.Hex(), want.Hex())
			}
			other := cryptosuite.ECDSA()
			if tt.suite.Name() == cryptosuite.NameECDSA {
				other = cryptosuite.SM()
			}
			if h.Hash(other) == want {
				t.Error("the other suite's hash also matches")
			}
			if len(sigs) != tt.sigs {
				t.Fatalf("%d signatures, want %d", len(sigs), tt.sigs)
			}
			b := &block.Block{Header: h, BlockHash: want, Signatures: sigs}
			if err := b.VerifySignatures(tt.suite); err != nil {
				t.Errorf("VerifySignatures: %v", err)
			}
			// Round trip through the RLP codec.
			back, err := block.DecodeHeader(h.Encode())
			if err != nil || back.Hash(tt.suite) != want {
				t.Errorf("decoded header hash %v, %v", back, err)
			}
		})
	}
}

func TestRPCTransactionsRecomputeHashAndSender(t *testing.T) {
	tests := []struct {
		file     string
		suite    *cryptosuite.Suite
		creation bool
	}{
		{"doc_getTransactionByHash.json", cryptosuite.ECDSA(), false},
		{"javasdk_ecdsa_getTransactionByHash.json", cryptosuite.ECDSA(), false},
		{"javasdk_sm_getTransactionByHash_deploy.json", cryptosuite.SM(), true},
		{"javasdk_sm_getTransactionByHash_call.json", cryptosuite.SM(), false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var r rpcjson.Transaction
			decode(t, tt.file, &r)
			tx := txFromRPC(t, tt.suite, &r)
			checkRPCTx(t, tt.suite, tx, &r)
			if tx.IsCreation() != tt.creation {
				t.Errorf("IsCreation = %v, want %v", tx.IsCreation(), tt.creation)
			}
		})
	}
}

func checkRPCTx(t *testing.T, s *cryptosuite.Suite, tx *block.Transaction, r *rpcjson.Transaction) {
	t.Helper()
	if got := tx.Hash(s); got != common.HexToHash(r.Hash) {
		t.Errorf("tx hash = %s, want %s", got.Hex(), r.Hash)
	}
	from, err := tx.Sender(s)
	if err != nil {
		t.Fatalf("sender: %v", err)
	}
	if claimed, err := r.Sender(); err != nil || from != claimed {
		t.Errorf("sender = %s, want %s (%v)", from.Hex(), r.From, err)
	}
	back, err := block.DecodeTransaction(tx.Encode())
	if err != nil {
		t.Fatalf("decode re-encoded tx: %v", err)
	}
	if back.Hash(s) != tx.Hash(s) {
		t.Error("re-decoded tx hashes differently")
	}
	// Changing any signed field changes the recovered sender (or fails recovery).
	tampered := *back
	tampered.Invalidate()
	tampered.Nonce = new(big.Int).Add(tx.Nonce, big.NewInt(1))
	if got, err := tampered.Sender(s); err == nil && got == from {
		t.Error("sender unchanged after altering the nonce")
	}
}

// The block responses carry the transactions that the header's transactionsRoot commits to:
// the 16-ary Merkle root over their recomputed hashes must equal it.
func TestRPCTransactionsRootRecomputes(t *testing.T) {
	s := cryptosuite.ECDSA()
	t.Run("doc_getBlockByHash_includeTx_true", func(t *testing.T) {
		var r rpcjson.Block
		decode(t, "doc_getBlockByHash_includeTx_true.json", &r)
		var txs []*block.Transaction
		for i := range r.Transactions.Full {
			rt := &r.Transactions.Full[i]
			tx := txFromRPC(t, s, rt)
			checkRPCTx(t, s, tx, rt)
			txs = append(txs, tx)
		}
		got, err := block.TransactionsRoot(s, txs, block.MerkleRoots)
		if err != nil || got != common.HexToHash(r.TransactionsRoot) {
			t.Errorf("transactionsRoot = %s, %v; want %s", got.Hex(), err, r.TransactionsRoot)
		}
	})
	t.Run("javasdk_ecdsa header + tx", func(t *testing.T) {
		var hdr rpcjson.Header
		decode(t, "javasdk_ecdsa_getBlockHeaderByHash.json", &hdr)
		var rt rpcjson.Transaction
		decode(t, "javasdk_ecdsa_getTransactionByHash.json", &rt)
		if rt.BlockHash != hdr.Hash {
			t.Fatalf("tx is in block %s, header is %s", rt.BlockHash, hdr.Hash)
		}
		got, _ := block.TransactionsRoot(s, []*block.Transaction{txFromRPC(t, s, &rt)}, block.MerkleRoots)
		if got != common.HexToHash(hdr.TransactionsRoot) {
			t.Errorf("transactionsRoot = %s, want %s", got.Hex(), hdr.TransactionsRoot)
		}
	})
}

func TestRPCReceiptBloomRecomputes(t *testing.T) {
	var r rpcjson.Receipt
	decode(t, "pysdk_receipt_with_logs.json", &r)
	if len(r.Logs) != 2 {
		t.Fatalf("%d logs, want 2", len(r.Logs))
	}
	rc, err := r.ToReceipt(cryptosuite.ECDSA(), common.Hash{}, false)
	if err != nil {
		t.Fatal(err)
	}
	logs := rc.Logs
	got := block.LogsBloom(cryptosuite.ECDSA(), logs)
	if got.String() != r.LogsBloom || rc.Bloom != got {
		t.Errorf("bloom = %s\nwant    %s", got, r.LogsBloom)
	}
	for _, l := range logs {
		if !got.Test(cryptosuite.ECDSA(), l.Address[:]) {
			t.Error("bloom does not contain a log address")
		}
	}
	if got == block.LogsBloom(cryptosuite.SM(), logs) {
		t.Error("SM3 bloom equals the keccak one")
	}
}
