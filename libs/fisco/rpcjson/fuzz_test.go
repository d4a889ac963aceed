package rpcjson_test

import (
	"encoding/json"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fisco/rpcjson"
)

// FuzzParse feeds arbitrary JSON to the shapes and their conversions, as a reader does with a
// node's answer: nothing may panic.
func FuzzParse(f *testing.F) {
	for _, file := range []string{"doc_getBlockByHash_includeTx_true.json", "javasdk_sm_getBlockHeader.json",
		"javasdk_sm_getTransactionByHash_deploy.json", "pysdk_receipt_with_logs.json", "javasdk_getBatchReceiptsByBlockNumberAndRange_plain.json"} {
		f.Add(result(f, file))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, s := range []*cryptosuite.Suite{cryptosuite.ECDSA(), cryptosuite.SM()} {
			var b rpcjson.Block
			if json.Unmarshal(in, &b) == nil {
				_, _ = b.Header().ToHeader()
				_, _ = b.Header().Signatures()
				for i := range b.Transactions.Full {
					_, _ = b.Transactions.Full[i].ToTransaction(s)
					_, _ = b.Transactions.Full[i].Sender()
				}
			}
			var tx rpcjson.Transaction
			if json.Unmarshal(in, &tx) == nil {
				_, _ = tx.ToTransaction(s)
			}
			var br rpcjson.BatchReceipts
			if json.Unmarshal(in, &br) == nil {
				for i := range br.TransactionReceipts {
					_, _ = br.TransactionReceipts[i].ToReceipt(s, common.Hash{}, true)
				}
			}
			var r rpcjson.Receipt
			if json.Unmarshal(in, &r) == nil {
				_, _ = r.ToReceipt(s, common.Hash{}, true)
			}
		}
	})
}
