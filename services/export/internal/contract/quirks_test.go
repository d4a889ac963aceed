package contract

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestStaticTupleArrays: values after static arrays of static tuples decode from the right
// offsets (go-ethereum v1.9.16 alone reads z as 3 here).
func TestStaticTupleArrays(t *testing.T) {
	const abiJSON = `[{"type":"function","name":"f","stateMutability":"nonpayable","inputs":[
		{"name":"p","type":"tuple[2]","components":[{"name":"a","type":"uint256"},{"name":"b","type":"uint256"}]},
		{"name":"z","type":"uint256"},
		{"name":"g","type":"tuple[2][2]","components":[{"name":"a","type":"uint256"},{"name":"b","type":"bool"}]},
		{"name":"s","type":"tuple[2][]","components":[{"name":"a","type":"uint256"},{"name":"b","type":"uint256"}]},
		{"name":"w","type":"string"}],
		"outputs":[{"name":"","type":"tuple[1]","components":[{"name":"a","type":"uint8"}]},{"name":"","type":"bool"}]}]`
	c := oneContract(t, "T", abiJSON, Keccak)
	a := parseABI(t, abiJSON)
	// go-ethereum v1.9.16 packs these wrongly too (its offsets use the same sizes), so the
	// encoding is written out word by word as solc lays it out.
	var sel []byte
	for _, m := range a.Methods {
		sel = m.ID
	}
	words := func(ns ...int) []byte {
		var b []byte
		for _, n := range ns {
			b = append(b, word(n)...)
		}
		return b
	}
	end := make([]byte, 32)
	copy(end, "end")
	in := concat(sel,
		words(1, 2, 3, 4),             // p
		words(5),                      // z
		words(6, 1, 7, 0, 8, 1, 9, 0), // g
		words(480, 640),               // offsets of s and w
		words(1, 10, 11, 12, 13),      // s
		words(3), end)                 // w
	out := words(200, 1)
	row, err := c.DecodeCall(in, out, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`p=[{"a":"1","b":"2"},{"a":"3","b":"4"}]`,
		`z=5`,
		`g=[[{"a":"6","b":true},{"a":"7","b":false}],[{"a":"8","b":true},{"a":"9","b":false}]]`,
		`s=[[{"a":"10","b":"11"},{"a":"12","b":"13"}]]`,
		`w=end`,
		`out0=[{"a":"200"}]`,
		`out1=true`,
	}
	if diff := cmp.Diff(want, argValues(row)); diff != "" {
		t.Fatalf("args (-want +got):\n%s", diff)
	}
	if row.Table.Columns[0].ABIType != "(uint256,uint256)[2]" || row.Table.Columns[0].SQLType != "jsonb" {
		t.Fatalf("column keeps the ABI type: %+v", row.Table.Columns[0])
	}
	if got, want := row.Args[0].Raw, in[4:4+128]; string(got) != string(want) {
		t.Fatalf("raw %x, want %x", got, want)
	}
}
