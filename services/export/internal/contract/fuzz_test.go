package contract

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
)

// fuzzABI has the shapes where decoders go wrong: static arrays of dynamic types, dynamic
// tuples, nested arrays, small and large integers, indexed values of both kinds.
const fuzzABI = `[
 {"type":"event","name":"Mixed","inputs":[
   {"name":"who","type":"address","indexed":true},
   {"name":"tag","type":"string","indexed":true},
   {"name":"n","type":"int8","indexed":true},
   {"name":"pair","type":"string[2]"},
   {"name":"rec","type":"tuple","components":[{"name":"a","type":"uint256[]"},{"name":"b","type":"bytes"},{"name":"c","type":"string[]"}]},
   {"name":"grid","type":"uint16[2][]"},
   {"name":"big","type":"int256"}]},
 {"type":"event","name":"Plain","inputs":[{"name":"s","type":"string"},{"name":"b","type":"bytes32"},{"name":"ok","type":"bool"}]},
 {"type":"function","name":"call","stateMutability":"nonpayable",
   "inputs":[{"name":"xs","type":"bytes[]"},{"name":"t","type":"tuple[]","components":[{"name":"u","type":"uint64"},{"name":"s","type":"string"}]},{"name":"fb","type":"bytes3[2]"}],
   "outputs":[{"name":"","type":"string[2]"},{"name":"","type":"int24"}]},
 {"type":"function","name":"none","stateMutability":"nonpayable","inputs":[],"outputs":[]},
 {"type":"constructor","stateMutability":"nonpayable","inputs":[{"name":"names","type":"string[]"},{"name":"owner","type":"address"}]}
]`

// fuzzCode is the fuzz contract's creation code (no real code: a prefix and a trailer).
var fuzzCode = concat([]byte{0x60, 0x80, 0x60, 0x40, 0x52}, ipfsTail(1))

func fuzzRegistry(t testing.TB) *Registry {
	y := `contracts:
  - name: Fuzz
    abi: f.json
    bin: f.bin
    learn: true
  - name: Token
    abi: t.json
    addresses: ["0x00000000000000000000000000000000000000aa"]
`
	return loadTest(t, y, files{"f.json": fuzzABI, "f.bin": common.Bytes2Hex(fuzzCode), "t.json": tokenABI}, Keccak)
}

// checkRow checks the invariants every decoded row keeps.
func checkRow(t *testing.T, row *Row, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownItem) && !errors.Is(err, ErrSkippedItem) {
			t.Fatalf("error without a sentinel: %v", err)
		}
		return
	}
	if len(row.Values) != len(row.Table.Columns) {
		t.Fatalf("%d values for %d columns", len(row.Values), len(row.Table.Columns))
	}
	for _, a := range row.Args {
		if !utf8.ValidString(a.Value) || strings.IndexByte(a.Value, 0) >= 0 {
			t.Fatalf("arg %s: text %q not PostgreSQL-safe", a.Name, a.Value)
		}
	}
	for i, v := range row.Values {
		switch v := v.(type) {
		case json.RawMessage:
			if !json.Valid(v) || strings.Contains(string(v), `\u0000`) {
				t.Fatalf("column %s: invalid jsonb %s", row.Table.Columns[i].Name, v)
			}
		case string:
			if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
				t.Fatalf("column %s: text %q not PostgreSQL-safe", row.Table.Columns[i].Name, v)
			}
		}
	}
}

// topicsOf picks topic0 from the registry's events and cuts rest into 32-byte topics (a
// short last one included).
func topicsOf(c *Contract, pick uint8, rest []byte) [][]byte {
	var ids [][]byte
	for _, tb := range c.Tables {
		if tb.Kind == EventTable {
			ids = append(ids, tb.ID)
		}
	}
	topics := [][]byte{ids[int(pick)%len(ids)]}
	for len(rest) > 0 {
		n := min(32, len(rest))
		topics = append(topics, rest[:n])
		rest = rest[n:]
	}
	return topics
}

func FuzzDecodeLog(f *testing.F) {
	r := fuzzRegistry(f)
	c := r.Contracts()[0]
	a := parseABI(f, fuzzABI)
	pair := [2]string{"a", "\xff中"}
	rec := struct {
		A []*big.Int
		B []byte
		C []string
	}{[]*big.Int{big.NewInt(1)}, []byte{2}, []string{"x", ""}}
	grid := [][2]uint16{{1, 2}, {65535, 0}}
	data := must(a.Events["Mixed"].Inputs.NonIndexed().Pack(pair, rec, grid, big.NewInt(-5)))
	f.Add(uint8(0), make([]byte, 96), data)
	f.Add(uint8(1), []byte{}, must(a.Events["Plain"].Inputs.Pack("s\x00", [32]byte{1}, true)))
	f.Add(uint8(0), make([]byte, 96), data[:100])
	f.Fuzz(func(t *testing.T, pick uint8, rest, data []byte) {
		row, err := c.DecodeLog(topicsOf(c, pick, rest), data)
		checkRow(t, row, err)
	})
}

func FuzzDecodeCall(f *testing.F) {
	r := fuzzRegistry(f)
	a := parseABI(f, fuzzABI)
	in := must(a.Pack("call", [][]byte{{1}, {}}, []struct {
		U uint64
		S string
	}{{7, "七"}}, [2][3]byte{{1, 2, 3}, {4, 5, 6}}))
	out := must(a.Methods["call"].Outputs.Pack([2]string{"", "x"}, big.NewInt(-8388608)))
	f.Add(in, out, true)
	f.Add(in[:4], []byte{}, false)
	f.Add(must(a.Pack("none")), []byte{}, true)
	f.Add([]byte{0xa9, 0x05, 0x9c, 0xbb}, []byte{}, true)
	f.Fuzz(func(t *testing.T, input, output []byte, ok bool) {
		// The budget walk refuses as out of range only what go-ethereum refuses too.
		for _, it := range r.Contracts()[0].items {
			if err := checkBudget(it.inputs, output); errors.Is(err, errShort) && goEthereumAccepts(it.inputs, output) {
				t.Fatalf("%s: walk says %v, go-ethereum decodes it", it.sig, err)
			}
		}
		for _, c := range r.Contracts() {
			row, err := c.DecodeCall(input, output, ok)
			checkRow(t, row, err)
			if len(input) >= 4 {
				// The same arguments behind every selector of the contract.
				for _, tb := range c.Tables {
					if tb.Kind == MethodTable {
						row, err := c.DecodeCall(concat(tb.ID, input[4:]), output, ok)
						checkRow(t, row, err)
					}
				}
			}
		}
	})
}

func FuzzDecodeConstructor(f *testing.F) {
	r := fuzzRegistry(f)
	c := r.Contracts()[0]
	args := must(c.ctor.inputs.Pack([]string{"甲", "\xfe"}, common.HexToAddress("0x01")))
	f.Add(concat(fuzzCode, args))
	f.Add(concat(fuzzCode[:5], bzzrTail(2), args[:50]))
	f.Add(fuzzCode[:5])
	f.Fuzz(func(t *testing.T, input []byte) {
		row, err := c.DecodeConstructor(input)
		checkRow(t, row, err)
		// And with the fuzz input as the arguments behind valid code.
		row, err = c.DecodeConstructor(concat(fuzzCode, input))
		checkRow(t, row, err)
	})
}

func FuzzMatchCreation(f *testing.F) {
	r := fuzzRegistry(f)
	f.Add(fuzzCode)
	f.Add(concat(fuzzCode[:5], bzzrTail(1), []byte{1, 2}))
	f.Add(concat(fuzzCode[:5], []byte{0xa1, 0x61, 'x', 0xbf, 0x00, 0x04}))
	f.Fuzz(func(t *testing.T, input []byte) {
		if c, ok := r.MatchCreation(input); ok && c.Name != "Fuzz" {
			t.Fatalf("matched %s", c.Name)
		}
		r.MatchCreation(concat(fuzzCode[:5], input))
		stripMetadata(input)
	})
}

func FuzzRevertReason(f *testing.F) {
	f.Add(concat([]byte{0x08, 0xc3, 0x79, 0xa0}, must(stringArgs.Pack("insufficient balance"))))
	f.Add(concat(revertSM3[:], must(stringArgs.Pack("余额不足\x00"))))
	f.Add(make([]byte, 32))
	f.Fuzz(func(t *testing.T, output []byte) {
		s, ok := RevertReason(output)
		if !ok && s != "" {
			t.Fatal("reason without ok")
		}
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			t.Fatalf("reason %q not PostgreSQL-safe", s)
		}
		// Behind each known selector too.
		for _, sel := range [][4]byte{revertKeccak, revertSM3} {
			RevertReason(concat(sel[:], output))
		}
	})
}

func FuzzLoad(f *testing.F) {
	fs := files{"a.json": assetABI, "f.json": fuzzABI, "t.json": tokenABI, "f.bin": common.Bytes2Hex(fuzzCode), "bad.json": "[{"}
	f.Add([]byte("contracts:\n  - name: Asset\n    abi: a.json\n    addresses: [\"0x00000000000000000000000000000000000000aa\"]\n"))
	f.Add([]byte("tablePrefix: g_\nskip: {Fuzz: [none]}\nignoreParam: \"Fuzz.Mixed.who\"\nparamSQLType: \"Fuzz.call.xs.text\"\ncontracts:\n  - {name: Fuzz, abi: f.json, bin: f.bin, learn: true}\n"))
	f.Add([]byte("dataTypeBlackLists: a,b\nignoreBasicDataTableParams: \"t.a,b|u.c\"\ncontracts: []\n"))
	f.Add([]byte("contracts:\n  - &x {name: T, abi: t.json}\n  - *x\n"))
	f.Fuzz(func(t *testing.T, yaml []byte) {
		r, err := load("fuzz.yaml", yaml, fs.read, SM3)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "contracts file fuzz.yaml") {
				t.Fatalf("error without the file: %v", err)
			}
			return
		}
		names := make(map[string]bool)
		for _, tb := range r.Tables() {
			if names[tb.Name] || len(tb.Name) > MaxIdentLen || !identPattern.MatchString(tb.Name) {
				t.Fatalf("table name %q", tb.Name)
			}
			names[tb.Name] = true
		}
	})
}

// goEthereumAccepts reports whether go-ethereum decodes data without an error or a panic.
func goEthereumAccepts(args abi.Arguments, data []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_, err := args.UnpackValues(data)
	return err == nil
}
