package contract

import (
	"bytes"
	"fmt"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
)

// Decoding is go-ethereum's (accounts/abi v1.9.16); this file adds topics, value conversion
// and a guard: that version indexes data with an unchecked offset for static arrays of
// dynamic types, so a hostile log could make it panic. Every decode recovers and reports
// ErrMalformed instead, and the fuzz targets keep checking that nothing escapes.

// DecodeLog decodes one log of this contract by its first topic. A log whose topic matches
// no event of the ABI returns ErrUnknownItem; so does a log without topics, since anonymous
// events (which have no topic0) get no table and are never decoded. Indexed parameters come
// from the other topics: value types decoded, reference types (string, bytes, arrays, tuples)
// as the 32-byte hash the topic holds.
func (c *Contract) DecodeLog(topics [][]byte, data []byte) (row *Row, err error) {
	defer guard(&row, &err)
	if len(topics) == 0 || len(topics[0]) != common.HashLength {
		return nil, fmt.Errorf("log of %s without an event topic: %w", c.Name, ErrUnknownItem)
	}
	it := c.events[common.BytesToHash(topics[0])]
	if it == nil {
		return nil, fmt.Errorf("log of %s with topic %x: %w", c.Name, topics[0], ErrUnknownItem)
	}
	if it.table == nil {
		return nil, fmt.Errorf("event %s.%s: %w", c.Name, it.sig, ErrSkippedItem)
	}
	indexed := 0
	for _, p := range it.params {
		if p.indexed {
			indexed++
		}
	}
	if len(topics) != 1+indexed {
		return nil, fmt.Errorf("event %s.%s: %d topics, want %d: %w", c.Name, it.sig, len(topics), 1+indexed, ErrMalformed)
	}
	vals, err := unpack(it.inputs, data)
	if err != nil {
		return nil, fmt.Errorf("event %s.%s: %w: %w", c.Name, it.sig, ErrMalformed, err)
	}
	b := newRowBuilder(it)
	topic, next := 1, 0
	for i := range it.params {
		p := &it.params[i]
		if !p.indexed {
			if next >= len(vals) {
				return nil, fmt.Errorf("event %s.%s: %w: missing values", c.Name, it.sig, ErrMalformed)
			}
			if err := b.add(p, vals[next], nil); err != nil {
				return nil, fmt.Errorf("event %s.%s: %s: %w: %w", c.Name, it.sig, p.name, ErrMalformed, err)
			}
			next++
			continue
		}
		t := topics[topic]
		topic++
		if len(t) != common.HashLength {
			return nil, fmt.Errorf("event %s.%s: topic %d has %d bytes: %w", c.Name, it.sig, topic-1, len(t), ErrMalformed)
		}
		if err := b.addTopic(p, t); err != nil {
			return nil, fmt.Errorf("event %s.%s: %s: %w: %w", c.Name, it.sig, p.name, ErrMalformed, err)
		}
	}
	return b.row, nil
}

// DecodeCall decodes a call's input by its selector, and its outputs from the receipt's
// output when the call succeeded (output columns are NULL and output Args absent otherwise).
// A selector no method matches returns ErrUnknownItem; an input or, for a successful call,
// an output that does not decode returns ErrMalformed.
func (c *Contract) DecodeCall(input, output []byte, succeeded bool) (row *Row, err error) {
	defer guard(&row, &err)
	if len(input) < 4 {
		return nil, fmt.Errorf("call of %s with %d input bytes: %w", c.Name, len(input), ErrUnknownItem)
	}
	it := c.methods[[4]byte(input[:4])]
	if it == nil {
		return nil, fmt.Errorf("call of %s with selector %x: %w", c.Name, input[:4], ErrUnknownItem)
	}
	if it.table == nil {
		return nil, fmt.Errorf("method %s.%s: %w", c.Name, it.sig, ErrSkippedItem)
	}
	ins, err := unpack(it.inputs, input[4:])
	if err != nil {
		return nil, fmt.Errorf("method %s.%s input: %w: %w", c.Name, it.sig, ErrMalformed, err)
	}
	var outs []any
	if succeeded && len(it.outputs) > 0 {
		if outs, err = unpack(it.outputs, output); err != nil {
			return nil, fmt.Errorf("method %s.%s output: %w: %w", c.Name, it.sig, ErrMalformed, err)
		}
	}
	return c.buildRow(it, ins, outs)
}

// DecodeConstructor decodes the constructor arguments that follow the creation bytecode in
// a deployment transaction's input: the configured code (metadata stripped), a metadata
// trailer of any content, then the arguments. A constructor without inputs has no table and
// returns ErrUnknownItem.
func (c *Contract) DecodeConstructor(input []byte) (row *Row, err error) {
	defer guard(&row, &err)
	if c.ctor == nil {
		return nil, fmt.Errorf("constructor of %s has no inputs: %w", c.Name, ErrUnknownItem)
	}
	if c.ctor.table == nil {
		return nil, fmt.Errorf("constructor of %s: %w", c.Name, ErrSkippedItem)
	}
	if c.code == nil {
		return nil, fmt.Errorf("constructor of %s: %w", c.Name, ErrNoBytecode)
	}
	args, ok := c.constructorArgs(input)
	if !ok {
		return nil, fmt.Errorf("constructor of %s: input does not start with its creation code: %w", c.Name, ErrMalformed)
	}
	vals, err := unpack(c.ctor.inputs, args)
	if err != nil {
		return nil, fmt.Errorf("constructor of %s: %w: %w", c.Name, ErrMalformed, err)
	}
	return c.buildRow(c.ctor, vals, nil)
}

// unpack decodes the non-indexed arguments with go-ethereum once their encoding passed the
// budget walk (budget.go).
func unpack(args abi.Arguments, data []byte) ([]any, error) {
	if err := checkBudget(args, data); err != nil {
		return nil, err
	}
	return args.UnpackValues(data)
}

// constructorArgs returns what follows the creation code and its metadata trailer in input.
func (c *Contract) constructorArgs(input []byte) ([]byte, bool) {
	if c.code == nil || !bytes.HasPrefix(input, c.code) {
		return nil, false
	}
	if !c.hasMeta {
		return input[len(c.code):], true
	}
	end, ok := metadataAt(input, len(c.code))
	if !ok {
		return nil, false
	}
	return input[end:], true
}

func (c *Contract) buildRow(it *item, ins, outs []any) (*Row, error) {
	b := newRowBuilder(it)
	in, out := 0, 0
	for i := range it.params {
		p := &it.params[i]
		var v any
		switch {
		case !p.output && in < len(ins):
			v = ins[in]
			in++
		case p.output && outs != nil && out < len(outs):
			v = outs[out]
			out++
		case p.output:
			continue // not decoded: NULL column, no Arg
		default:
			return nil, fmt.Errorf("%s.%s: %w: missing values", c.Name, it.sig, ErrMalformed)
		}
		if err := b.add(p, v, nil); err != nil {
			return nil, fmt.Errorf("%s.%s: %s: %w: %w", c.Name, it.sig, p.name, ErrMalformed, err)
		}
	}
	return b.row, nil
}

// rowBuilder fills a Row parameter by parameter.
type rowBuilder struct{ row *Row }

func newRowBuilder(it *item) *rowBuilder {
	return &rowBuilder{row: &Row{Table: it.table, Values: make([]any, len(it.table.Columns))}}
}

// add converts one decoded value; raw is its encoding when known (topics), else re-packed.
func (b *rowBuilder) add(p *param, v any, raw []byte) error {
	cv, err := convert(p.typ, v)
	if err != nil {
		return err
	}
	if raw == nil {
		// The standalone encoding of the value; a value go-ethereum just decoded packs.
		raw, _ = abi.Arguments{{Type: p.dtyp}}.Pack(v)
	}
	b.row.Args = append(b.row.Args, Arg{Name: p.name, Type: p.typ.String(), Indexed: p.indexed, Value: cv.text, Raw: raw})
	if p.col >= 0 {
		b.row.Values[p.col] = columnValue(p, cv)
	}
	return nil
}

// addTopic decodes an indexed parameter from its topic.
func (b *rowBuilder) addTopic(p *param, topic []byte) error {
	raw := bytes.Clone(topic)
	if hashedInTopic(p.typ) {
		cv := converted{text: hexString(raw), col: raw}
		b.row.Args = append(b.row.Args, Arg{Name: p.name, Type: p.typ.String(), Indexed: true, Value: cv.text, Raw: raw})
		if p.col >= 0 {
			b.row.Values[p.col] = columnValue(p, cv)
		}
		return nil
	}
	vals, err := abi.Arguments{{Type: p.typ}}.UnpackValues(topic)
	if err != nil {
		return err
	}
	if len(vals) != 1 {
		return fmt.Errorf("topic decoded to %d values", len(vals))
	}
	return b.add(p, vals[0], raw)
}

// columnValue picks the Go value for the column's SQL type (see types.go).
func columnValue(p *param, cv converted) any {
	switch p.family {
	case familyText:
		return cv.text
	case familyNumeric:
		if cv.num != nil {
			return cv.col
		}
	}
	return cv.col
}

// guard turns a panic inside go-ethereum's decoder into ErrMalformed.
func guard(row **Row, err *error) {
	if p := recover(); p != nil {
		*row = nil
		*err = fmt.Errorf("%w: decoder panic: %v", ErrMalformed, p)
	}
}

// Revert selectors: Error(string) under keccak (solc, and FISCO's ECDSA chains) and under SM3
// (FISCO's gm solc computes every selector with SM3, Error(string) included). The reason is
// accepted with either on any chain: fiscosim's SM contracts keep the keccak one.
var (
	revertKeccak = [4]byte{0x08, 0xc3, 0x79, 0xa0}
	revertSM3    = [4]byte{0xc7, 0x03, 0xcb, 0x12}
)

// stringArgs is the argument list of Error(string).
var stringArgs = func() abi.Arguments {
	t, err := abi.NewType("string", "", nil)
	if err != nil {
		panic(err) // a constant type name
	}
	return abi.Arguments{{Type: t}}
}()

// RevertReason decodes an Error(string) revert output (keccak selector 0x08c379a0 or SM3
// selector 0xc703cb12). The text is sanitized like every decoded string.
func RevertReason(output []byte) (reason string, ok bool) {
	defer func() {
		if recover() != nil {
			reason, ok = "", false
		}
	}()
	if len(output) < 4 {
		return "", false
	}
	sel := [4]byte(output[:4])
	if sel != revertKeccak && sel != revertSM3 {
		return "", false
	}
	vals, err := stringArgs.UnpackValues(output[4:])
	if err != nil || len(vals) != 1 {
		return "", false
	}
	s, isStr := vals[0].(string)
	if !isStr {
		return "", false
	}
	return sanitize(s), true
}
