// Package publish turns verified blocks into the bus messages of the blocks.v1 and state.v1
// topics and writes them to Kafka.
//
// Messages are a pure function of the stored block (its bytes, senders, change-set and
// verification record) and are marshalled deterministically, so a block republished after a
// crash yields byte-identical messages.
package publish

import (
	"fmt"
	"math/big"
	"slices"

	kafkago "github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/kafka"
	chainv1 "github.com/bcosdata/bcosdata/proto/bcosdata/chain/v1"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// Chain identifies the chain group messages belong to.
type Chain struct {
	Name  string
	Group uint
	Suite *cryptosuite.Suite
}

// GroupName is the group part of topic names: "group1".
func (c Chain) GroupName() string { return fmt.Sprintf("group%d", c.Group) }

// BlocksTopic returns bcos.<chain>.group<N>.blocks.v1.
func (c Chain) BlocksTopic() string { return kafka.TopicName(c.Name, c.GroupName(), "blocks") }

// StateTopic returns bcos.<chain>.group<N>.state.v1.
func (c Chain) StateTopic() string { return kafka.TopicName(c.Name, c.GroupName(), "state") }

func (c Chain) cryptoSuite() chainv1.CryptoSuite {
	if c.Suite != nil && c.Suite.Name() == cryptosuite.NameSM {
		return chainv1.CryptoSuite_CRYPTO_SUITE_SM
	}
	return chainv1.CryptoSuite_CRYPTO_SUITE_ECDSA
}

// BlockMessage returns the blocks.v1 payload of a verified block (TxHashes and ReceiptHashes
// must be set).
func (c Chain) BlockMessage(b *verify.Block) *chainv1.Block {
	h := b.Block.Header
	m := &chainv1.Block{
		Chain:  c.Name,
		Group:  uint32(c.Group),
		Crypto: c.cryptoSuite(),
		Header: &chainv1.BlockHeader{
			Hash:             b.Hash.Bytes(),
			ParentHash:       h.ParentHash.Bytes(),
			Number:           h.Number,
			StateRoot:        h.StateRoot.Bytes(),
			TransactionsRoot: h.TransactionsRoot.Bytes(),
			ReceiptsRoot:     h.ReceiptsRoot.Bytes(),
			DbHash:           h.DBHash.Bytes(),
			LogsBloom:        slices.Clone(h.LogsBloom[:]),
			GasLimit:         intBytes(h.GasLimit),
			GasUsed:          intBytes(h.GasUsed),
			TimestampMs:      h.Timestamp,
			ExtraData:        h.ExtraData,
			Sealer:           h.Sealer,
			Raw:              h.Bytes(),
		},
		Raw: b.Raw,
	}
	for _, id := range h.SealerList {
		m.Header.SealerList = append(m.Header.SealerList, id.Bytes())
	}
	for _, s := range b.Block.Signatures {
		sig := &chainv1.SealerSignature{Index: uint32(s.Index), Signature: s.Signature}
		if s.Index < uint64(len(h.SealerList)) {
			sig.NodeId = h.SealerList[s.Index].Bytes()
		}
		m.Signatures = append(m.Signatures, sig)
	}
	for i, t := range b.Block.Transactions {
		tx := &chainv1.Transaction{
			Hash:       b.TxHashes[i].Bytes(),
			Index:      uint32(i),
			Nonce:      intBytes(t.Nonce),
			GasPrice:   intBytes(t.GasPrice),
			Gas:        intBytes(t.Gas),
			BlockLimit: intBytes(t.BlockLimit),
			Value:      intBytes(t.Value),
			Input:      t.Data,
			ChainId:    intBytes(t.ChainID),
			GroupId:    intBytes(t.GroupID),
			ExtraData:  t.ExtraData,
			Signature:  txSignature(t),
			Raw:        t.Bytes(),
		}
		if t.To != nil {
			tx.To = t.To.Bytes()
		}
		if i < len(b.Senders) {
			tx.From = b.Senders[i].Bytes()
		}
		m.Transactions = append(m.Transactions, tx)
	}
	for i, r := range b.Block.Receipts {
		rc := &chainv1.Receipt{
			TransactionIndex: uint32(i),
			StateRoot:        r.StateRoot.Bytes(),
			GasUsed:          intBytes(r.GasUsed),
			LogsBloom:        slices.Clone(r.Bloom[:]),
			Status:           uint32(r.Status),
			Output:           r.Output,
			Hash:             b.ReceiptHashes[i].Bytes(),
			Raw:              r.Bytes(),
		}
		if i < len(b.TxHashes) {
			rc.TransactionHash = b.TxHashes[i].Bytes()
		}
		if r.ContractAddress != ([20]byte{}) {
			rc.ContractAddress = r.ContractAddress.Bytes()
		}
		if r.HasRemainGas {
			rc.RemainGas = intBytes(r.RemainGas)
			if rc.RemainGas == nil {
				rc.RemainGas = []byte{}
			}
		}
		for k, l := range r.Logs {
			lg := &chainv1.Log{Address: l.Address.Bytes(), Data: l.Data, Index: uint32(k)}
			for _, tp := range l.Topics {
				lg.Topics = append(lg.Topics, tp.Bytes())
			}
			rc.Logs = append(rc.Logs, lg)
		}
		m.Receipts = append(m.Receipts, rc)
	}
	m.Verification = &chainv1.Verification{
		Verified:        true,
		RootRule:        rootRule(b),
		ValidSignatures: uint32(b.ValidSignatures),
		SealerCount:     uint32(b.SealerCount),
		Checks:          b.Checks,
		Source:          b.Source,
	}
	return m
}

func rootRule(b *verify.Block) chainv1.RootRule {
	if !slices.Contains(b.Checks, verify.CheckTxRoot) {
		return chainv1.RootRule_ROOT_RULE_UNSPECIFIED
	}
	if b.RootRule == block.RC2Roots {
		return chainv1.RootRule_ROOT_RULE_RC2
	}
	return chainv1.RootRule_ROOT_RULE_MERKLE
}

// txSignature is r‖s‖v with v the recovery id (ECDSA) or r‖s‖public key (SM2).
func txSignature(t *block.Transaction) []byte {
	out := make([]byte, 64, 64+len(t.V))
	if t.R != nil && t.R.BitLen() <= 256 {
		t.R.FillBytes(out[:32])
	}
	if t.S != nil && t.S.BitLen() <= 256 {
		t.S.FillBytes(out[32:])
	}
	if len(t.V) == 1 && t.V[0] >= 27 {
		return append(out, t.V[0]-27)
	}
	return append(out, t.V...)
}

// intBytes is the minimal big-endian form of a non-negative integer (empty for 0 and nil).
func intBytes(x *big.Int) []byte {
	if x == nil || x.Sign() == 0 {
		return nil
	}
	return x.Bytes()
}

// StateMessage returns the state.v1 payload of a block with a change-set.
func (c Chain) StateMessage(b *verify.Block) *chainv1.StateChange {
	m := &chainv1.StateChange{Chain: c.Name, Group: uint32(c.Group), BlockNumber: b.Number, BlockHash: b.Hash.Bytes()}
	for i := range b.State {
		t := &b.State[i]
		tc := &chainv1.TableChange{Name: t.Name, KeyField: t.KeyField, ValueFields: t.Fields}
		for j := range t.Rows {
			r := &t.Rows[j]
			row := &chainv1.Row{Id: r.ID, Status: uint32(r.Status), Kind: chainv1.RowKind(r.Kind), Key: r.Key.Data}
			for _, v := range r.Values {
				row.Values = append(row.Values, &chainv1.FieldValue{Value: v.Data, Present: v.Set})
			}
			tc.Rows = append(tc.Rows, row)
		}
		m.Tables = append(m.Tables, tc)
	}
	return m
}

var marshal = proto.MarshalOptions{Deterministic: true}

// Messages returns the Kafka messages of a block: its blocks.v1 message and, for a block with a
// change-set, its state.v1 message.
//
// The blocks.v1 message leaves the whole block RLP (Block.raw) out: the header's, every
// transaction's and every receipt's raw bytes and the signatures are in it anyway, they
// re-verify the block on their own and rebuild its RLP byte for byte, and the whole RLP would
// add a third of the message again for every consumer. GetBlock still returns it.
func (c Chain) Messages(b *verify.Block) ([]kafkago.Message, error) {
	m := c.BlockMessage(b)
	m.Raw = nil
	bm, err := marshal.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal block %d: %w", b.Number, err)
	}
	out := []kafkago.Message{{
		Topic:   c.BlocksTopic(),
		Key:     kafka.BlockKey(b.Number),
		Value:   bm,
		Headers: kafka.Headers(kafka.ContentTypeProtobuf, string((&chainv1.Block{}).ProtoReflect().Descriptor().FullName()), b.Number),
	}}
	if !b.HasState {
		return out, nil
	}
	sm, err := marshal.Marshal(c.StateMessage(b))
	if err != nil {
		return nil, fmt.Errorf("marshal state of block %d: %w", b.Number, err)
	}
	return append(out, kafkago.Message{
		Topic:   c.StateTopic(),
		Key:     kafka.BlockKey(b.Number),
		Value:   sm,
		Headers: kafka.Headers(kafka.ContentTypeProtobuf, string((&chainv1.StateChange{}).ProtoReflect().Descriptor().FullName()), b.Number),
	}), nil
}

// BatchMessages returns the messages of blocks, in block order, ready for one write.
func (c Chain) BatchMessages(blocks []*verify.Block) ([]kafkago.Message, error) {
	msgs := make([]kafkago.Message, 0, 2*len(blocks))
	for _, b := range blocks {
		m, err := c.Messages(b)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m...)
	}
	return msgs, nil
}
