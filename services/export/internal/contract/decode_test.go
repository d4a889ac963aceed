package contract

import (
	"errors"
	"math/big"
	"slices"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/go-cmp/cmp"
)

// tokenABI has overloaded events and methods, indexed static and dynamic parameters, an
// anonymous event, a zero-argument method, outputs (one named like a common column) and a
// constructor with inputs.
const tokenABI = `[
 {"type":"event","name":"Moved","inputs":[
   {"name":"from","type":"address","indexed":true},
   {"name":"tag","type":"string","indexed":true},
   {"name":"amount","type":"uint256","indexed":true},
   {"name":"ids","type":"uint256[]","indexed":true},
   {"name":"note","type":"string","indexed":false}]},
 {"type":"event","name":"Moved","inputs":[{"name":"amount","type":"uint256","indexed":false}]},
 {"type":"event","name":"Secret","anonymous":true,"inputs":[{"name":"x","type":"uint256","indexed":false}]},
 {"type":"function","name":"transfer","stateMutability":"nonpayable",
   "inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"},{"name":"memo","type":"string"}],
   "outputs":[{"name":"","type":"bool"}]},
 {"type":"function","name":"transfer","stateMutability":"nonpayable",
   "inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"}],"outputs":[]},
 {"type":"function","name":"ping","stateMutability":"nonpayable","inputs":[],"outputs":[]},
 {"type":"function","name":"get","stateMutability":"view","inputs":[{"name":"","type":"bytes32"}],
   "outputs":[{"name":"status","type":"uint8"},{"name":"","type":"string"}]},
 {"type":"constructor","stateMutability":"nonpayable","inputs":[{"name":"owner","type":"address"},{"name":"cap","type":"uint256"}]},
 {"type":"fallback","stateMutability":"nonpayable"}
]`

func TestTokenTables(t *testing.T) {
	c := oneContract(t, "Token", tokenABI, Keccak)
	type col struct{ Name, Param, ABI, SQL string }
	got := make(map[string][]col)
	var order []string
	for _, tb := range c.Tables {
		order = append(order, tb.Name)
		for _, cl := range tb.Columns {
			got[tb.Name] = append(got[tb.Name], col{cl.Name, cl.Param, cl.ABIType, cl.SQLType})
		}
	}
	wantOrder := []string{"token_moved", "token_moved_uint256", "token_transfer", "token_transfer_address_uint256", "token_ping", "token_get", "token_constructor"}
	if diff := cmp.Diff(wantOrder, order); diff != "" {
		t.Fatalf("tables (-want +got):\n%s", diff)
	}
	want := map[string][]col{
		"token_moved": {
			{"from", "from", "address", "text"}, {"tag", "tag", "string", "bytea"}, {"amount", "amount", "uint256", "numeric(78,0)"},
			{"ids", "ids", "uint256[]", "bytea"}, {"note", "note", "string", "text"}},
		"token_moved_uint256":            {{"amount", "amount", "uint256", "numeric(78,0)"}},
		"token_transfer":                 {{"to", "to", "address", "text"}, {"amount", "amount", "uint256", "numeric(78,0)"}, {"memo", "memo", "string", "text"}, {"out0", "out0", "bool", "boolean"}},
		"token_transfer_address_uint256": {{"to", "to", "address", "text"}, {"amount", "amount", "uint256", "numeric(78,0)"}},
		"token_get":                      {{"arg0", "arg0", "bytes32", "bytea"}, {"status_2", "status", "uint8", "numeric(78,0)"}, {"out1", "out1", "string", "text"}},
		"token_constructor":              {{"owner", "owner", "address", "text"}, {"cap", "cap", "uint256", "numeric(78,0)"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("columns (-want +got):\n%s", diff)
	}
	if tb := tableNamed(t, c, "token_moved"); tb.Signature != "Moved(address,string,uint256,uint256[],string)" || tb.Kind != EventTable {
		t.Fatalf("signature %s kind %d", tb.Signature, tb.Kind)
	}
	if tb := tableNamed(t, c, "token_constructor"); tb.Signature != "constructor(address,uint256)" || tb.Kind != ConstructorTable || tb.ID != nil {
		t.Fatalf("constructor table %+v", tb)
	}
}

func TestDecodeLogIndexed(t *testing.T) {
	c := oneContract(t, "Token", tokenABI, Keccak)
	a := parseABI(t, tokenABI)
	ev := a.Events["Moved"]
	if ev.Sig != "Moved(address,string,uint256,uint256[],string)" {
		ev = a.Events["Moved0"]
	}
	from := common.HexToAddress("0x1234567890ABCDEF1234567890abcdef12345678")
	tag := crypto.Keccak256([]byte("标签"))
	ids := crypto.Keccak256(make([]byte, 64)) // what the node hashes for uint256[] is opaque to us
	amount := common.BigToHash(new(big.Int).Lsh(big.NewInt(1), 200))
	data, err := ev.Inputs.NonIndexed().Pack("备注")
	if err != nil {
		t.Fatal(err)
	}
	topics := [][]byte{ev.ID.Bytes(), common.BytesToHash(from.Bytes()).Bytes(), tag, amount.Bytes(), ids}
	row, err := c.DecodeLog(topics, data)
	if err != nil {
		t.Fatal(err)
	}
	if row.Table.Name != "token_moved" {
		t.Fatalf("table %s", row.Table.Name)
	}
	want := []string{
		"from=0x1234567890abcdef1234567890abcdef12345678",
		"tag=0x" + common.Bytes2Hex(tag),
		"amount=" + new(big.Int).Lsh(big.NewInt(1), 200).String(),
		"ids=0x" + common.Bytes2Hex(ids),
		"note=备注",
	}
	if diff := cmp.Diff(want, argValues(row)); diff != "" {
		t.Fatalf("args (-want +got):\n%s", diff)
	}
	if !row.Args[1].Indexed || row.Args[4].Indexed || string(row.Args[1].Raw) != string(tag) {
		t.Fatalf("indexed flags or raw topic wrong: %+v", row.Args)
	}
	if b, ok := row.Values[1].([]byte); !ok || string(b) != string(tag) {
		t.Fatalf("dynamic indexed column %#v, want the topic", row.Values[1])
	}

	// The overload decodes to its own table.
	other := a.Events["Moved0"]
	if other.Sig == ev.Sig {
		other = a.Events["Moved"]
	}
	data2, _ := other.Inputs.Pack(big.NewInt(7))
	row2, err := c.DecodeLog([][]byte{other.ID.Bytes()}, data2)
	if err != nil {
		t.Fatal(err)
	}
	if row2.Table.Name != "token_moved_uint256" || row2.Args[0].Value != "7" {
		t.Fatalf("overload row %s %v", row2.Table.Name, argValues(row2))
	}

	// Wrong topic count, short topic, short data.
	for name, tc := range map[string]struct {
		topics [][]byte
		data   []byte
	}{
		"missing topic": {topics[:4], data},
		"extra topic":   {append(slices.Clone(topics), tag), data},
		"short topic":   {[][]byte{topics[0], topics[1], tag[:31], topics[3], topics[4]}, data},
		"short data":    {topics, data[:40]},
	} {
		if _, err := c.DecodeLog(tc.topics, tc.data); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// TestAnonymousEvents: an anonymous event has no topic0, so it gets no table and its logs are
// unknown (a log without topics, or whose first topic is an indexed value, matches nothing).
func TestAnonymousEvents(t *testing.T) {
	c := oneContract(t, "Token", tokenABI, Keccak)
	for _, tb := range c.Tables {
		if tb.Item == "Secret" {
			t.Fatalf("anonymous event got table %s", tb.Name)
		}
	}
	a := parseABI(t, tokenABI)
	data, _ := a.Events["Secret"].Inputs.Pack(big.NewInt(1))
	if _, err := c.DecodeLog(nil, data); !errors.Is(err, ErrUnknownItem) {
		t.Fatalf("log without topics: %v", err)
	}
	if _, err := c.DecodeLog([][]byte{make([]byte, 32)}, data); !errors.Is(err, ErrUnknownItem) {
		t.Fatalf("unknown topic: %v", err)
	}
}

func TestDecodeCall(t *testing.T) {
	c := oneContract(t, "Token", tokenABI, Keccak)
	a := parseABI(t, tokenABI)
	to := common.HexToAddress("0x00000000000000000000000000000000000000b0")
	var long, short string
	for name, m := range a.Methods {
		switch m.Sig {
		case "transfer(address,uint256,string)":
			long = name
		case "transfer(address,uint256)":
			short = name
		}
	}
	in3, _ := a.Pack(long, to, big.NewInt(5), "")
	in2, _ := a.Pack(short, to, big.NewInt(6))
	ok, _ := a.Methods[long].Outputs.Pack(true)
	ping, _ := a.Pack("ping")
	id := [32]byte{1}
	get, _ := a.Pack("get", id)
	getOut, _ := a.Methods["get"].Outputs.Pack(uint8(3), "三")
	revert := concat([]byte{0x08, 0xc3, 0x79, 0xa0}, must(stringArgs.Pack("insufficient balance")))

	tests := []struct {
		name      string
		input     []byte
		output    []byte
		succeeded bool
		table     string
		args      []string
		values    int // non-nil values
	}{
		{"overload with memo", in3, ok, true, "token_transfer", []string{"to=0x00000000000000000000000000000000000000b0", "amount=5", "memo=", "out0=true"}, 4},
		{"overload without memo", in2, nil, true, "token_transfer_address_uint256", []string{"to=0x00000000000000000000000000000000000000b0", "amount=6"}, 2},
		{"failed call keeps inputs, no outputs", in3, revert, false, "token_transfer", []string{"to=0x00000000000000000000000000000000000000b0", "amount=5", "memo="}, 3},
		{"zero-argument method", ping, nil, true, "token_ping", nil, 0},
		{"outputs named and unnamed", get, getOut, true, "token_get", []string{"arg0=0x01" + "00000000000000000000000000000000000000000000000000000000000000", "status=3", "out1=三"}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row, err := c.DecodeCall(tc.input, tc.output, tc.succeeded)
			if err != nil {
				t.Fatal(err)
			}
			if row.Table.Name != tc.table {
				t.Fatalf("table %s, want %s", row.Table.Name, tc.table)
			}
			if diff := cmp.Diff(tc.args, argValues(row)); len(tc.args)+len(row.Args) > 0 && diff != "" {
				t.Fatalf("args (-want +got):\n%s", diff)
			}
			if len(row.Values) != len(row.Table.Columns) {
				t.Fatalf("%d values for %d columns", len(row.Values), len(row.Table.Columns))
			}
			n := 0
			for _, v := range row.Values {
				if v != nil {
					n++
				}
			}
			if n != tc.values {
				t.Fatalf("%d non-NULL values, want %d", n, tc.values)
			}
		})
	}

	for name, in := range map[string][]byte{"empty": nil, "short": {1, 2, 3}, "unknown selector": {1, 2, 3, 4}} {
		if _, err := c.DecodeCall(in, nil, true); !errors.Is(err, ErrUnknownItem) {
			t.Errorf("%s: %v, want ErrUnknownItem", name, err)
		}
	}
	if _, err := c.DecodeCall(in3[:40], nil, true); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated input: %v, want ErrMalformed", err)
	}
	if _, err := c.DecodeCall(in3, []byte{1}, true); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad output of a successful call: %v, want ErrMalformed", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestSuites: selectors and topics follow the chain's hash, and a registry of one suite does
// not recognise the other's.
func TestSuites(t *testing.T) {
	a := parseABI(t, tokenABI)
	ping := must(a.Pack("ping")) // keccak selector
	smPing := concat(cryptosuite.SM().Hash([]byte("ping()")).Bytes()[:4])
	var kTopic, smTopic []byte
	for _, ev := range a.Events {
		if ev.Sig == "Moved(uint256)" {
			kTopic = ev.ID.Bytes()
			smTopic = cryptosuite.SM().Hash([]byte(ev.Sig)).Bytes()
		}
	}
	data := must(stringArgs.Pack("x"))[:32] // one word: uint256 32
	tests := []struct {
		suite        Suite
		call, noCall []byte
		topic, other []byte
	}{
		{Keccak, ping, smPing, kTopic, smTopic},
		{SM3, smPing, ping, smTopic, kTopic},
	}
	for _, tc := range tests {
		c := oneContract(t, "Token", tokenABI, tc.suite)
		if tb := tableNamed(t, c, "token_ping"); string(tb.ID) != string(tc.call) {
			t.Errorf("suite %d: ping ID %x, want %x", tc.suite, tb.ID, tc.call)
		}
		if row, err := c.DecodeCall(tc.call, nil, true); err != nil || row.Table.Name != "token_ping" {
			t.Errorf("suite %d: own selector: %v", tc.suite, err)
		}
		if _, err := c.DecodeCall(tc.noCall, nil, true); !errors.Is(err, ErrUnknownItem) {
			t.Errorf("suite %d: other suite's selector: %v, want ErrUnknownItem", tc.suite, err)
		}
		if row, err := c.DecodeLog([][]byte{tc.topic}, data); err != nil || row.Table.Name != "token_moved_uint256" {
			t.Errorf("suite %d: own topic: %v", tc.suite, err)
		}
		if _, err := c.DecodeLog([][]byte{tc.other}, data); !errors.Is(err, ErrUnknownItem) {
			t.Errorf("suite %d: other suite's topic: %v, want ErrUnknownItem", tc.suite, err)
		}
	}
}

func TestRevertReason(t *testing.T) {
	smSel := cryptosuite.SM().Hash([]byte("Error(string)")).Bytes()[:4]
	if string(smSel) != string(revertSM3[:]) {
		t.Fatalf("SM3 Error(string) selector is %x, the package has %x", smSel, revertSM3)
	}
	kSel := crypto.Keccak256([]byte("Error(string)"))[:4]
	body := must(stringArgs.Pack("insufficient balance"))
	tests := []struct {
		name   string
		output []byte
		want   string
		ok     bool
	}{
		{"keccak selector", concat(kSel, body), "insufficient balance", true},
		{"SM3 selector", concat(smSel, body), "insufficient balance", true},
		{"Chinese reason", concat(kSel, must(stringArgs.Pack("余额不足"))), "余额不足", true},
		{"empty reason", concat(kSel, must(stringArgs.Pack(""))), "", true},
		// doc_getTransactionReceipt.json: status 0xc (out of gas) with 32 zero bytes of output.
		{"fixture out-of-gas output", make([]byte, 32), "", false},
		{"empty", nil, "", false},
		{"selector only", kSel, "", false},
		{"truncated", concat(kSel, body[:60]), "", false},
		{"other selector", concat([]byte{1, 2, 3, 4}, body), "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := RevertReason(tc.output)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("RevertReason = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
