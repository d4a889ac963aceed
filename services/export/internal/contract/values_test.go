package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/jackc/pgx/v5/pgtype"
)

func bigString(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return n
}

// TestValues decodes one parameter of each kind, packed by go-ethereum, from an event and a
// method input, and checks the text, the column's SQL type and its pgx value.
func TestValues(t *testing.T) {
	addr := common.HexToAddress("0x00000000000000000000000000000000000000AbCd")
	long := bytes.Repeat([]byte{0xab, 0x01}, 150)
	var b32 [32]byte
	copy(b32[:], "document hash, 32 bytes long!!!!")
	type rec struct {
		Who  common.Address
		Note string
		Data []byte
	}
	max256 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	min256 := new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 255))
	tests := []struct {
		name     string
		typ      string // ABI type JSON fields
		value    any
		wantText string
		wantSQL  string
		wantCol  any // nil: check numeric against wantText
	}{
		{"uint256 beyond 2^64", `"type":"uint256"`, bigString("18446744073709551617"), "18446744073709551617", sqlNumeric, nil},
		{"uint256 max", `"type":"uint256"`, max256, max256.String(), sqlNumeric, nil},
		{"int256 negative", `"type":"int256"`, big.NewInt(-42), "-42", sqlNumeric, nil},
		{"int256 minimum", `"type":"int256"`, min256, "-57896044618658097711785492504343953926634992332820282019728792003956564819968", sqlNumeric, nil},
		{"uint8 max", `"type":"uint8"`, uint8(255), "255", sqlNumeric, nil},
		{"int8 minimum", `"type":"int8"`, int8(-128), "-128", sqlNumeric, nil},
		{"int64 negative", `"type":"int64"`, int64(-9223372036854775808), "-9223372036854775808", sqlNumeric, nil},
		{"uint24", `"type":"uint24"`, big.NewInt(16777215), "16777215", sqlNumeric, nil},
		{"address lowercase", `"type":"address"`, addr, "0x000000000000000000000000000000000000abcd", sqlText, "0x000000000000000000000000000000000000abcd"},
		{"bool", `"type":"bool"`, true, "true", sqlBool, true},
		{"string Chinese", `"type":"string"`, "资产转移：一百元 ✓", "资产转移：一百元 ✓", sqlText, "资产转移：一百元 ✓"},
		{"string empty", `"type":"string"`, "", "", sqlText, ""},
		{"string invalid UTF-8 and NUL", `"type":"string"`, "a\xffb\x00c", "a\uFFFDb\uFFFDc", sqlText, "a\uFFFDb\uFFFDc"},
		{"bytes empty", `"type":"bytes"`, []byte{}, "0x", sqlBytea, []byte{}},
		{"bytes long", `"type":"bytes"`, long, "0x" + strings.Repeat("ab01", 150), sqlBytea, long},
		{"bytes32", `"type":"bytes32"`, b32, fmt.Sprintf("0x%x", b32[:]), sqlBytea, b32[:]},
		{"bytes1", `"type":"bytes1"`, [1]byte{0x7f}, "0x7f", sqlBytea, []byte{0x7f}},
		{"uint256[]", `"type":"uint256[]"`, []*big.Int{big.NewInt(1), max256}, `["1","` + max256.String() + `"]`, sqlJSONB, nil},
		{"int8[2]", `"type":"int8[2]"`, [2]int8{-1, 7}, `["-1","7"]`, sqlJSONB, nil},
		{"string[2] (static array of dynamic)", `"type":"string[2]"`, [2]string{"a", "中文"}, `["a","中文"]`, sqlJSONB, nil},
		{"bytes[]", `"type":"bytes[]"`, [][]byte{{}, {1, 2}}, `["0x","0x0102"]`, sqlJSONB, nil},
		{"bool[] and address[]", `"type":"address[]"`, []common.Address{addr}, `["0x000000000000000000000000000000000000abcd"]`, sqlJSONB, nil},
		{"tuple", `"type":"tuple","components":[{"name":"who","type":"address"},{"name":"note","type":"string"},{"name":"data","type":"bytes"}]`,
			rec{Who: addr, Note: "备注<&>", Data: []byte{9}}, `{"who":"0x000000000000000000000000000000000000abcd","note":"备注<&>","data":"0x09"}`, sqlJSONB, nil},
		{"tuple[]", `"type":"tuple[]","components":[{"name":"who","type":"address"},{"name":"note","type":"string"},{"name":"data","type":"bytes"}]`,
			[]rec{{Who: addr, Note: "x"}, {Note: "y", Data: []byte{1}}},
			`[{"who":"0x000000000000000000000000000000000000abcd","note":"x","data":"0x"},{"who":"0x0000000000000000000000000000000000000000","note":"y","data":"0x01"}]`, sqlJSONB, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			abiJSON := fmt.Sprintf(`[
				{"type":"event","name":"E","inputs":[{"name":"v",%[1]s,"indexed":false}]},
				{"type":"function","name":"f","inputs":[{"name":"v",%[1]s}],"outputs":[{"name":"","type":"bool"}],"stateMutability":"nonpayable"}]`, tc.typ)
			c := oneContract(t, "T", abiJSON, Keccak)
			a := parseABI(t, abiJSON)
			enc, err := a.Events["E"].Inputs.Pack(tc.value)
			if err != nil {
				t.Fatal(err)
			}
			logRow, err := c.DecodeLog([][]byte{a.Events["E"].ID.Bytes()}, enc)
			if err != nil {
				t.Fatal(err)
			}
			call, err := a.Pack("f", tc.value)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := a.Methods["f"].Outputs.Pack(true)
			callRow, err := c.DecodeCall(call, out, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range []*Row{logRow, callRow} {
				if got := row.Args[0].Value; got != tc.wantText {
					t.Errorf("%s: text %q, want %q", row.Table.Name, got, tc.wantText)
				}
				if !bytes.Equal(row.Args[0].Raw, enc) {
					t.Errorf("%s: raw %x, want %x", row.Table.Name, row.Args[0].Raw, enc)
				}
				if got := row.Table.Columns[0].SQLType; got != tc.wantSQL {
					t.Errorf("%s: SQL type %s, want %s", row.Table.Name, got, tc.wantSQL)
				}
				checkColumn(t, row.Values[0], tc.wantSQL, tc.wantText, tc.wantCol)
			}
			if got := callRow.Values[1]; got != true {
				t.Errorf("output column %v, want true", got)
			}
		})
	}
}

func checkColumn(t *testing.T, got any, sqlType, text string, want any) {
	t.Helper()
	switch sqlType {
	case sqlNumeric:
		n, ok := got.(pgtype.Numeric)
		if !ok || !n.Valid || n.Exp != 0 || n.Int.String() != text {
			t.Errorf("numeric column %#v, want %s", got, text)
		}
	case sqlJSONB:
		raw, ok := got.(json.RawMessage)
		if !ok || string(raw) != text || !json.Valid(raw) {
			t.Errorf("jsonb column %#v, want %s", got, text)
		}
	case sqlBytea:
		b, ok := got.([]byte)
		if !ok || !bytes.Equal(b, want.([]byte)) {
			t.Errorf("bytea column %#v, want %x", got, want)
		}
	default:
		if got != want {
			t.Errorf("column %#v, want %#v", got, want)
		}
	}
}

// TestSanitizeKeepsRaw: invalid UTF-8 is replaced in text but kept in Arg.Raw.
func TestSanitizeKeepsRaw(t *testing.T) {
	typ, _ := abi.NewType("string", "", nil)
	enc, err := abi.Arguments{{Type: typ}}.Pack("\xc3\x28")
	if err != nil {
		t.Fatal(err)
	}
	c := oneContract(t, "T", `[{"type":"event","name":"E","inputs":[{"name":"s","type":"string"}]}]`, Keccak)
	row, err := c.DecodeLog([][]byte{c.Tables[0].ID}, enc)
	if err != nil {
		t.Fatal(err)
	}
	if row.Args[0].Value != "\uFFFD(" || !bytes.Contains(row.Args[0].Raw, []byte("\xc3\x28")) {
		t.Fatalf("value %q raw %x", row.Args[0].Value, row.Args[0].Raw)
	}
}
