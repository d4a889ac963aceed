package ingest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sort"

	"google.golang.org/protobuf/proto"

	chainv1 "github.com/bcosdata/bcosdata/proto/bcosdata/chain/v1"
	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// Contracts is the registry of the -contracts file as the pipeline uses it; the zero value
// (no file) has no contracts.
type Contracts struct {
	reg    *contract.Registry
	byName map[string]*contract.Contract
	list   []*contract.Contract
}

// NewContracts wraps a loaded registry; nil means no contracts.
func NewContracts(reg *contract.Registry) *Contracts {
	c := &Contracts{reg: reg, byName: map[string]*contract.Contract{}}
	if reg != nil {
		c.list = reg.Contracts()
		for _, k := range c.list {
			c.byName[k.Name] = k
		}
	}
	return c
}

// List returns the contracts in file order.
func (c *Contracts) List() []*contract.Contract { return c.list }

// Named returns a contract by name.
func (c *Contracts) Named(name string) (*contract.Contract, bool) {
	k, ok := c.byName[name]
	return k, ok
}

// matchCreation returns the contract a deployment's input creates, if registered with its
// bytecode.
func (c *Contracts) matchCreation(input []byte) (*contract.Contract, bool) {
	if c.reg == nil || len(c.list) == 0 {
		return nil, false
	}
	return c.reg.MatchCreation(input)
}

// Fingerprint is what a contract's typed tables and decoded rows depend on: its name,
// addresses, learn flag and every table with its columns. A changed fingerprint makes the
// contract's history be decoded again.
func Fingerprint(k *contract.Contract) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "contract %q learn=%t\nabi %x\nbin %x\n", k.Name, k.Learn, sha256.Sum256(k.ABI), sha256.Sum256(k.Bin))
	addrs := slices.Clone(k.Addresses)
	sort.Slice(addrs, func(i, j int) bool { return bytes.Compare(addrs[i][:], addrs[j][:]) < 0 })
	for _, a := range addrs {
		fmt.Fprintf(h, "address %x\n", a[:])
	}
	for _, t := range k.Tables {
		fmt.Fprintf(h, "table %q kind=%d item=%q sig=%q\n", t.Name, t.Kind, t.Item, t.Signature)
		for _, c := range t.Columns {
			fmt.Fprintf(h, "  column %q param=%q abi=%q sql=%q indexed=%t output=%t\n", c.Name, c.Param, c.ABIType, c.SQLType, c.Indexed, c.Output)
		}
	}
	return h.Sum(nil)
}

// decoded collects what decoding a batch (or a backfill chunk) produced.
type decoded struct {
	rows     []store.TypedRow
	msgs     []store.Message
	failures []store.Failure
}

// decoder turns stored logs and transactions of registered contracts into typed rows and
// messages of the decoded topics.
type decoder struct {
	chain       string
	group       uint32
	eventsTopic string
	callsTopic  string
}

func (d *decoder) fail(out *decoded, block uint64, txHash []byte, logIndex int32, k *contract.Contract, addr []byte, err error) {
	out.failures = append(out.failures, store.Failure{BlockNumber: block, TxHash: txHash, LogIndex: logIndex, Contract: k.Name, Address: addr, Err: err.Error()})
}

func args(as []contract.Arg) []*chainv1.DecodedArg {
	out := make([]*chainv1.DecodedArg, 0, len(as))
	for _, a := range as {
		out = append(out, &chainv1.DecodedArg{Name: a.Name, Type: a.Type, Indexed: a.Indexed, Value: a.Value, Raw: a.Raw})
	}
	return out
}

var marshal = proto.MarshalOptions{Deterministic: true}

// log decodes one log of contract k.
func (d *decoder) log(out *decoded, l store.StoredLog, k *contract.Contract) {
	row, err := k.DecodeLog(l.Topics, l.Data)
	if errors.Is(err, contract.ErrSkippedItem) {
		return // skipped by the contracts file: not a failure
	}
	if err != nil {
		d.fail(out, l.BlockNumber, l.TxHash, int32(l.LogIndex), k, l.Address, fmt.Errorf("log %d of transaction %x: %w", l.LogIndex, l.TxHash, err))
		return
	}
	out.rows = append(out.rows, store.TypedRow{Table: row.Table, BlockNumber: l.BlockNumber, BlockTime: l.Block.Time, TxHash: l.TxHash,
		TxIndex: l.TxIndex, LogIndex: l.LogIndex, ContractAddress: l.Address, Values: row.Values})
	ev := &chainv1.DecodedEvent{Chain: d.chain, Group: d.group, BlockNumber: l.BlockNumber, BlockHash: l.Block.Hash,
		BlockTimestampMs: l.Block.TimestampMS, TransactionHash: l.TxHash, TransactionIndex: l.TxIndex, LogIndex: l.LogIndex,
		ContractAddress: l.Address, ContractName: k.Name, EventName: row.Table.Item, EventSignature: row.Table.Signature,
		Args: args(row.Args), Log: &chainv1.Log{Address: l.Address, Topics: l.Topics, Data: l.Data, Index: l.LogIndex}}
	d.queue(out, d.eventsTopic, l.Address, ev, l.BlockNumber, l.TxHash, int32(l.LogIndex))
}

// call decodes a transaction to contract k (creation: a deployment of k).
func (d *decoder) call(out *decoded, x store.StoredTx, k *contract.Contract) {
	deploy := len(x.To) == 0
	var (
		row *contract.Row
		err error
	)
	if deploy {
		row, err = k.DecodeConstructor(x.Input)
	} else {
		row, err = k.DecodeCall(x.Input, x.Output, x.Status == 0)
	}
	addr := x.To
	if deploy {
		addr = x.ContractAddress
	}
	if errors.Is(err, contract.ErrSkippedItem) || (deploy && errors.Is(err, contract.ErrUnknownItem)) {
		return // skipped by the contracts file, or a constructor without inputs (no table)
	}
	if err != nil {
		what := "call"
		if deploy {
			what = "constructor"
		}
		d.fail(out, x.BlockNumber, x.Hash, -1, k, addr, fmt.Errorf("%s in transaction %x: %w", what, x.Hash, err))
		return
	}
	out.rows = append(out.rows, store.TypedRow{Table: row.Table, BlockNumber: x.BlockNumber, BlockTime: x.Block.Time, TxHash: x.Hash,
		TxIndex: x.Index, ContractAddress: addr, From: x.From, Status: x.Status, Values: row.Values})
	outputs := map[string]bool{}
	for _, c := range row.Table.Columns {
		if c.Output {
			outputs[c.Param] = true
		}
	}
	call := &chainv1.DecodedCall{Chain: d.chain, Group: d.group, BlockNumber: x.BlockNumber, BlockHash: x.Block.Hash,
		BlockTimestampMs: x.Block.TimestampMS, TransactionHash: x.Hash, TransactionIndex: x.Index, From: x.From,
		ContractAddress: addr, ContractName: k.Name, MethodName: row.Table.Item, MethodSignature: row.Table.Signature,
		Status: x.Status, Deploy: deploy}
	if !deploy && len(x.Input) >= 4 {
		call.Selector = x.Input[:4]
	}
	for _, a := range row.Args {
		if outputs[a.Name] {
			call.Outputs = append(call.Outputs, args([]contract.Arg{a})...)
		} else {
			call.Inputs = append(call.Inputs, args([]contract.Arg{a})...)
		}
	}
	d.queue(out, d.callsTopic, addr, call, x.BlockNumber, x.Hash, -1)
}

func (d *decoder) queue(out *decoded, topic string, key []byte, m proto.Message, block uint64, txHash []byte, logIndex int32) {
	v, err := marshal.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", m, err)) // every field is valid UTF-8 or bytes
	}
	out.msgs = append(out.msgs, store.Message{Topic: topic, Key: key, Value: v, Schema: string(proto.MessageName(m)),
		BlockNumber: block, TxHash: txHash, LogIndex: logIndex})
}
