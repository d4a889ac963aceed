package rpc

import (
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fisco/rpcjson"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/chain"
)

// formatter writes the node's JSON shapes (libs/fisco/rpcjson) for the simulated version.
type formatter struct {
	shape rpcjson.Shape
}

func newFormatter(v chain.Version, suite *cryptosuite.Suite) formatter {
	return formatter{shape: rpcjson.Shape{Suite: suite, V270: v.AtLeast(chain.V2_7_0), V290: v.AtLeast(chain.V2_9_0)}}
}

func sealed(s *chain.Sealed) *rpcjson.Sealed {
	return &rpcjson.Sealed{Block: s.Block, Hash: s.Hash, TxHashes: s.TxHashes, Senders: s.Senders}
}

// block is the getBlockByNumber/ByHash result.
func (f formatter) block(s *chain.Sealed, includeTx bool) *rpcjson.Block {
	return f.shape.NewBlock(sealed(s), includeTx)
}

// blockHeader is the getBlockHeaderBy* result.
func (f formatter) blockHeader(s *chain.Sealed, includeSigs bool) *rpcjson.Header {
	return f.shape.NewHeader(sealed(s), includeSigs)
}

// transaction is the transaction object (Rpc::parseTransactionIntoResponse).
func (f formatter) transaction(s *chain.Sealed, i int) *rpcjson.Transaction {
	return f.shape.NewTransaction(sealed(s), i)
}

// receipt is the getTransactionReceipt result (Rpc::parseReceiptIntoResponse).
func (f formatter) receipt(s *chain.Sealed, i int) *rpcjson.Receipt {
	return f.shape.NewReceipt(sealed(s), i)
}
