package api

import (
	"encoding/hex"
	"math/big"

	chainv1 "github.com/bcosdata/bcosdata/proto/bcosdata/chain/v1"
	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
	"github.com/bcosdata/bcosdata/services/stash/internal/state"
)

// The API shows the Kafka payloads (bcosdata.chain.v1, raw bytes) as their stash.v1 views:
// hashes, addresses and byte strings as lowercase 0x hex, 256-bit quantities as decimal
// strings, so that grpcurl and the HTTP gateway print what a person reads instead of base64.

// hexOf is b as 0x hex; an empty byte string is "0x".
func hexOf(b []byte) string { return "0x" + hex.EncodeToString(b) }

// hexOrEmpty is b as 0x hex, or "" when b is empty: for addresses that may be absent (a
// contract creation's to, a receipt's contract address).
func hexOrEmpty(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return hexOf(b)
}

func hexAll(bs [][]byte) []string {
	if len(bs) == 0 {
		return nil
	}
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = hexOf(b)
	}
	return out
}

// decimal is a minimal big-endian unsigned integer (empty = 0) in decimal.
func decimal(b []byte) string { return new(big.Int).SetBytes(b).String() }

// BlockView returns the API view of a blocks.v1 message.
func BlockView(m *chainv1.Block) *stashv1.Block {
	if m == nil {
		return nil
	}
	v := &stashv1.Block{
		Chain:        m.GetChain(),
		Group:        m.GetGroup(),
		Crypto:       m.GetCrypto(),
		Header:       headerView(m.GetHeader()),
		Raw:          hexOf(m.GetRaw()),
		Verification: m.GetVerification(),
	}
	for _, t := range m.GetTransactions() {
		v.Transactions = append(v.Transactions, &stashv1.Transaction{
			Hash:       hexOf(t.GetHash()),
			Index:      t.GetIndex(),
			Nonce:      decimal(t.GetNonce()),
			GasPrice:   decimal(t.GetGasPrice()),
			Gas:        decimal(t.GetGas()),
			BlockLimit: decimal(t.GetBlockLimit()),
			To:         hexOrEmpty(t.GetTo()),
			Value:      decimal(t.GetValue()),
			Input:      hexOf(t.GetInput()),
			ChainId:    decimal(t.GetChainId()),
			GroupId:    decimal(t.GetGroupId()),
			ExtraData:  hexOf(t.GetExtraData()),
			From:       hexOrEmpty(t.GetFrom()),
			Signature:  hexOf(t.GetSignature()),
			Raw:        hexOf(t.GetRaw()),
		})
	}
	for _, r := range m.GetReceipts() {
		rv := &stashv1.Receipt{
			TransactionHash:  hexOf(r.GetTransactionHash()),
			TransactionIndex: r.GetTransactionIndex(),
			StateRoot:        hexOf(r.GetStateRoot()),
			GasUsed:          decimal(r.GetGasUsed()),
			ContractAddress:  hexOrEmpty(r.GetContractAddress()),
			LogsBloom:        hexOf(r.GetLogsBloom()),
			Status:           r.GetStatus(),
			Output:           hexOf(r.GetOutput()),
			Hash:             hexOf(r.GetHash()),
			Raw:              hexOf(r.GetRaw()),
		}
		if r.RemainGas != nil {
			g := decimal(r.GetRemainGas())
			rv.RemainGas = &g
		}
		for _, l := range r.GetLogs() {
			rv.Logs = append(rv.Logs, &stashv1.Log{Address: hexOf(l.GetAddress()), Topics: hexAll(l.GetTopics()), Data: hexOf(l.GetData()), Index: l.GetIndex()})
		}
		v.Receipts = append(v.Receipts, rv)
	}
	for _, s := range m.GetSignatures() {
		v.Signatures = append(v.Signatures, &stashv1.SealerSignature{Index: s.GetIndex(), Signature: hexOf(s.GetSignature()), NodeId: hexOrEmpty(s.GetNodeId())})
	}
	return v
}

func headerView(h *chainv1.BlockHeader) *stashv1.BlockHeader {
	if h == nil {
		return nil
	}
	return &stashv1.BlockHeader{
		Hash:             hexOf(h.GetHash()),
		ParentHash:       hexOf(h.GetParentHash()),
		Number:           h.GetNumber(),
		StateRoot:        hexOf(h.GetStateRoot()),
		TransactionsRoot: hexOf(h.GetTransactionsRoot()),
		ReceiptsRoot:     hexOf(h.GetReceiptsRoot()),
		DbHash:           hexOf(h.GetDbHash()),
		LogsBloom:        hexOf(h.GetLogsBloom()),
		GasLimit:         decimal(h.GetGasLimit()),
		GasUsed:          decimal(h.GetGasUsed()),
		TimestampMs:      h.GetTimestampMs(),
		ExtraData:        hexAll(h.GetExtraData()),
		Sealer:           h.GetSealer(),
		SealerList:       hexAll(h.GetSealerList()),
		Raw:              hexOf(h.GetRaw()),
	}
}

// StateChangeView returns the API view of a state.v1 message.
func StateChangeView(m *chainv1.StateChange) *stashv1.StateChange {
	if m == nil {
		return nil
	}
	v := &stashv1.StateChange{Chain: m.GetChain(), Group: m.GetGroup(), BlockNumber: m.GetBlockNumber(), BlockHash: hexOf(m.GetBlockHash())}
	for _, t := range m.GetTables() {
		tv := &stashv1.TableChange{Name: t.GetName(), KeyField: t.GetKeyField(), ValueFields: t.GetValueFields()}
		for _, r := range t.GetRows() {
			tv.Rows = append(tv.Rows, rowView(r))
		}
		v.Tables = append(v.Tables, tv)
	}
	return v
}

func rowView(r *chainv1.Row) *stashv1.Row {
	v := &stashv1.Row{Id: r.GetId(), Status: r.GetStatus(), Kind: r.GetKind(), Key: hexOf(r.GetKey())}
	for _, f := range r.GetValues() {
		v.Values = append(v.Values, &stashv1.FieldValue{Value: hexOf(f.GetValue()), Present: f.GetPresent()})
	}
	return v
}

// stateRowView is the API view of a stored row version.
func stateRowView(r *state.Row) *stashv1.Row {
	v := &stashv1.Row{Id: r.ID, Status: uint32(r.Status), Kind: chainv1.RowKind(r.Kind), Key: hexOf(r.Key.Data)}
	for _, f := range r.Values {
		v.Values = append(v.Values, &stashv1.FieldValue{Value: hexOf(f.Data), Present: f.Set})
	}
	return v
}
