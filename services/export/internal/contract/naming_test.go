package contract

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestSnake(t *testing.T) {
	tests := map[string]string{
		"Asset":          "asset",
		"balanceOf":      "balance_of",
		"EvidenceStored": "evidence_stored",
		"ERC20Token":     "erc20_token",
		"getURL":         "get_url",
		"URLValue":       "url_value",
		"_value":         "value",
		"__a__b__":       "a_b",
		"already_snake":  "already_snake",
		"a-b.c":          "a_b_c",
		"资产":             "",
		"v2Transfer":     "v2_transfer",
		"":               "",
	}
	for in, want := range tests {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTypeSuffix(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, "noargs"},
		{[]string{"address", "uint256"}, "address_uint256"},
		{[]string{"uint256[]", "bytes32[3]"}, "uint256_arr_bytes32_arr3"},
		{[]string{"(uint256,(string,bytes))[]", "bool"}, "tuple_arr_bool"},
	}
	for _, tc := range tests {
		if got := typeSuffix(tc.in); got != tc.want {
			t.Errorf("typeSuffix(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

var identPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// TestLongNames: names over 63 bytes are cut with a hash, stay distinct and valid.
func TestLongNames(t *testing.T) {
	long := strings.Repeat("VeryLongName", 6)
	abiJSON := fmt.Sprintf(`[
		{"type":"event","name":"%[1]sA","inputs":[{"name":"%[1]sX","type":"uint256"},{"name":"%[1]sY","type":"uint256"}]},
		{"type":"event","name":"%[1]sB","inputs":[]},
		{"type":"function","name":"%[1]sA","inputs":[],"outputs":[],"stateMutability":"nonpayable"}]`, long)
	c := oneContract(t, "Contract"+long, abiJSON, Keccak)
	seen := make(map[string]bool)
	for _, tb := range c.Tables {
		if len(tb.Name) > MaxIdentLen || !identPattern.MatchString(tb.Name) || seen[tb.Name] {
			t.Errorf("table name %q (%d bytes)", tb.Name, len(tb.Name))
		}
		seen[tb.Name] = true
		cols := make(map[string]bool)
		for _, col := range tb.Columns {
			if len(col.Name) > MaxIdentLen || !identPattern.MatchString(col.Name) || cols[col.Name] {
				t.Errorf("column name %q (%d bytes)", col.Name, len(col.Name))
			}
			cols[col.Name] = true
		}
	}
	if len(seen) != 3 {
		t.Fatalf("%d distinct tables, want 3", len(seen))
	}
	if got := ident(strings.Repeat("a", 63)); got != strings.Repeat("a", 63) {
		t.Fatalf("63 bytes cut: %s", got)
	}
	if a, b := ident(strings.Repeat("a", 64)), ident(strings.Repeat("a", 65)); len(a) != 63 || a == b {
		t.Fatalf("64/65 bytes: %s %s", a, b)
	}
}

// TestColumnCollisions: parameters named like common columns, like each other after snake
// casing, unnamed or with nothing usable in their name get distinct, valid columns.
func TestColumnCollisions(t *testing.T) {
	abiJSON := `[{"type":"event","name":"E","inputs":[
		{"name":"status","type":"uint256"},{"name":"blockNumber","type":"uint256"},
		{"name":"status_2","type":"uint256"},{"name":"fooBar","type":"uint256"},
		{"name":"foo_bar","type":"uint256"},{"name":"_","type":"uint256"},{"name":"","type":"uint256"},
		{"name":"1st","type":"uint256"},{"name":"from","type":"address","indexed":true}]}]`
	c := oneContract(t, "T", abiJSON, Keccak)
	var got []string
	for _, col := range c.Tables[0].Columns {
		got = append(got, col.Name)
		if slices.Contains(CommonColumns, col.Name) || !identPattern.MatchString(col.Name) {
			t.Errorf("column %q", col.Name)
		}
	}
	want := []string{"status_2", "block_number_2", "status_2_2", "foo_bar", "foo_bar_2", "arg5", "arg6", "_1st", "from"}
	if !slices.Equal(got, want) {
		t.Fatalf("columns %v, want %v", got, want)
	}
}
