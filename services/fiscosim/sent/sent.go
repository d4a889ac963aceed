// Package sent is fiscosim's record of the traffic it generated, written by the generator as
// it builds each transaction: the contract and method signature it called, the argument values
// it chose, and what the sample contracts do by construction with them — the events they emit
// (from which address, with which values, which of them indexed), the values they return, the
// contracts they create, or the reason they revert.
//
// It exists so that end-to-end tests can compare what a decoder made of the chain with what was
// sent, row by row, joined on the transaction hash. It is never derived from the chain, and
// never from an ABI decoder.
//
// Values are Go values: *big.Int for every integer type of more than 64 bits, int64/uint64 and
// the smaller Go integer types for the ABI's int64/uint64 and smaller, string, []byte for
// bytes, [N]byte for bytesN, common.Address, bool, slices and arrays of these, and Tuple for a
// struct. In JSON (one Record per line in <data>/sent.jsonl) every integer is a decimal string,
// bytes and bytesN are 0x hex, addresses are 0x lowercase hex, and a tuple is an object keyed by
// field name in declaration order.
package sent

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"reflect"
	"strings"

	"github.com/ethereum/go-ethereum/common"
)

// Record is one generated transaction.
type Record struct {
	// Seq is the transaction's position in the generated stream (after a restart the stream
	// resumes at a new, larger position).
	Seq uint64 `json:"seq"`
	// TxHash joins the record to the chain.
	TxHash common.Hash `json:"txHash"`
	// From is the sender.
	From common.Address `json:"from"`
	// Contract is the Solidity contract name called or deployed ("Ledger").
	Contract string `json:"contract"`
	// To is the contract called, or for a deploy the address of the new contract.
	To common.Address `json:"to"`
	// Deploy marks a deploy transaction; Method is then "constructor".
	Deploy bool `json:"deploy,omitempty"`
	// Method is the method's Solidity name ("post"); overloads share it.
	Method string `json:"method"`
	// Signature is the canonical signature ("post(address,uint256)", "constructor(string,…)").
	Signature string `json:"signature"`
	// Inputs are the arguments (constructor arguments for a deploy) in order.
	Inputs []Value `json:"inputs"`
	// Outputs are the return values the call produces, in order; nil when the method has none,
	// when the call reverts, or when the generator cannot know them (a value that depends on
	// state from before a restart).
	Outputs []Value `json:"outputs,omitempty"`
	// Events are the logs the transaction emits, in log order; none when it reverts.
	Events []Event `json:"events,omitempty"`
	// Created lists contracts deployed by contract code during the transaction.
	Created []Created `json:"created,omitempty"`
	// Reverted marks a transaction that fails with RevertReason (receipt status != 0, output
	// Error(string)).
	Reverted     bool   `json:"reverted,omitempty"`
	RevertReason string `json:"revertReason,omitempty"`
}

// Event is one log a transaction emits.
type Event struct {
	// Contract is the emitting contract's name.
	Contract string `json:"contract"`
	// Name is the event's Solidity name; overloads share it.
	Name string `json:"name"`
	// Signature is the canonical signature, whose hash is topic 0.
	Signature string `json:"signature"`
	// Address is the emitting contract (the callee for a log of a nested call).
	Address common.Address `json:"address"`
	// Args are all parameters in declaration order; Indexed ones are topics 1…, the others
	// the data. An indexed string, bytes, array or tuple's topic is the hash of its encoding.
	Args []Value `json:"args"`
}

// Created is a contract deployed by contract code (CREATE inside a call).
type Created struct {
	Contract string         `json:"contract"`
	Address  common.Address `json:"address"`
	// Args are the constructor arguments.
	Args []Value `json:"args"`
}

// Value is one named, typed argument.
type Value struct {
	// Name is the parameter name in the ABI.
	Name string `json:"name"`
	// Type is the canonical ABI type ("uint256", "string[]", "uint64[2]", "(address,int256)").
	Type string `json:"type"`
	// Indexed marks an indexed event parameter.
	Indexed bool `json:"indexed,omitempty"`
	// Value is the Go value, see the package comment.
	Value any `json:"value"`
}

// Tuple is a struct value: its fields in declaration order, each with its name and type.
type Tuple []Value

// MarshalJSON writes the value in the record's JSON conventions.
func (v Value) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"name":`)
	name, _ := json.Marshal(v.Name)
	b.Write(name)
	b.WriteString(`,"type":`)
	typ, _ := json.Marshal(v.Type)
	b.Write(typ)
	if v.Indexed {
		b.WriteString(`,"indexed":true`)
	}
	b.WriteString(`,"value":`)
	if err := writeJSON(&b, v.Value); err != nil {
		return nil, fmt.Errorf("encode value of %s: %w", v.Name, err)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// WriteLines appends recs to w as JSON lines.
func WriteLines(w io.Writer, recs ...Record) error {
	var b bytes.Buffer
	for i := range recs {
		line, err := json.Marshal(&recs[i])
		if err != nil {
			return fmt.Errorf("encode sent record %d: %w", recs[i].Seq, err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write sent records: %w", err)
	}
	return nil
}

func writeJSON(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case *big.Int:
		return writeString(b, x.String())
	case common.Address:
		return writeString(b, strings.ToLower(x.Hex()))
	case []byte:
		return writeString(b, "0x"+hex.EncodeToString(x))
	case Tuple:
		b.WriteByte('{')
		for i, f := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeString(b, f.Name); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := writeJSON(b, f.Value); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	case string, bool:
		enc, err := json.Marshal(x)
		b.Write(enc)
		return err
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return writeString(b, fmt.Sprint(rv.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return writeString(b, fmt.Sprint(rv.Uint()))
	case reflect.Array, reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 && rv.Kind() == reflect.Array {
			raw := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(raw), rv)
			return writeString(b, "0x"+hex.EncodeToString(raw))
		}
		b.WriteByte('[')
		for i := range rv.Len() {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, rv.Index(i).Interface()); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	}
	return fmt.Errorf("unsupported value type %T", v)
}

func writeString(b *bytes.Buffer, s string) error {
	enc, err := json.Marshal(s)
	b.Write(enc)
	return err
}
