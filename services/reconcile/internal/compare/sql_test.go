package compare

import (
	"testing"

	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestSQLAgreesWithCompare evaluates every comparator's SQL in a real PostgreSQL over the
// canonical texts and checks it decides as Compare does.
func TestSQLAgreesWithCompare(t *testing.T) {
	pool := pgtest.NewPool(t)
	extra := []cmpCase{
		{name: "time DST day", spec: Spec{Kind: Time, Format: "yyyy-MM-dd", Zone: "America/New_York"}, business: "2025-11-02", chain: "1762145999999", equal: true}, // 23:59:59.999 EST, 25 hours after midnight EDT
		{name: "time DST day next", spec: Spec{Kind: Time, Format: "yyyy-MM-dd", Zone: "America/New_York"}, business: "2025-11-02", chain: "1762146000000"},
		{name: "time seconds unit s next", spec: Spec{Kind: Time, Format: "yyyy-MM-dd HH:mm:ss", Zone: "Asia/Shanghai", Unit: "s"}, business: "2025-12-05 23:59:59", chain: "1764950400"},
		{name: "numeric both tolerances", spec: Spec{Kind: Numeric, Tolerance: "1", Relative: "0.5"}, business: "10", chain: "14", equal: true},
		{name: "numeric huge tolerance", spec: Spec{Kind: Numeric, Tolerance: "1"}, business: "115792089237316195423570985008687907853269984665640564039457584007913129639934", chain: "115792089237316195423570985008687907853269984665640564039457584007913129639935", equal: true},
	}
	for _, tc := range append(append([]cmpCase(nil), cmpCases...), extra...) {
		c, err := New(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, berr := c.Business(tc.business)
		ch, cerr := c.Chain(tc.chain)
		if berr != nil || cerr != nil {
			continue // unreadable values are row errors, never reach SQL
		}
		var got bool
		q := "SELECT " + c.SQL("$1::text", "$2::text")
		if err := pool.QueryRow(t.Context(), q, b, ch).Scan(&got); err != nil {
			t.Fatalf("%s: %s: %v", tc.name, q, err)
		}
		want := c.Compare(tc.business, tc.chain).Equal
		if got != want || got != tc.equal {
			t.Errorf("%s: SQL %s with %q, %q = %v; Compare = %v; want %v", tc.name, q, b, ch, got, want, tc.equal)
		}
	}
}

// TestChainSQLAgreesWithChain evaluates every comparator's ChainSQL in a real PostgreSQL: where
// it is not NULL it must be what Chain returns (and Chain must read the value); the values
// export writes (canonical integers, lowercase hex) must not be left to Go.
func TestChainSQLAgreesWithChain(t *testing.T) {
	pool := pgtest.NewPool(t)
	specs := []Spec{
		{Kind: Exact}, {Kind: Trimmed}, {Kind: CaseInsensitive}, {Kind: Hex}, {Kind: Address},
		{Kind: Numeric}, {Kind: Numeric, Scale: 2, Tolerance: "0.01"},
		{Kind: Time, Format: "yyyy-MM-dd", Zone: "Asia/Shanghai"}, {Kind: Time, Format: "yyyyMMdd", Unit: "s"},
		{Kind: Enum, Map: map[string]string{"成功": "1"}},
	}
	values := []string{"", " ", "abc", " Abc ", "\u00a0x\u3000", "\u200bx", "ÀÉ", "Straße", "K", "\u212a",
		"0x", "0X", "0x0A", "0xaB", "ab", "0xabc", "00", "0x0x", " 0xAbCd\t", "0x00000000000000000000000000000000000000aA",
		"00000000000000000000000000000000000000aa", "0x00000000000000000000000000000000000000a",
		"0", "-0", "+5", "007", "12", "-12", "1.5", "1e3", "1,234", "0x64", "115792089237316195423570985008687907853269984665640564039457584007913129639935",
		"1764864000000", "999999999999999999", "9999999999999999999", "-1764864000000", " 42 ", "NaN",
		"-999999999999999999", "-9999999999999999999", "-", "x\u2000", "\u2001x", "x\u0085", "\u3000", "\u200a", "\u200b", "\t",
		"工资", " 货款 ", "0X00000000000000000000000000000000000000AA", "0x00000000000000000000000000000000000000ag",
		"0x0000000000000000000000000000000000000000aa"}
	for _, s := range specs {
		c, err := New(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			var got *string
			if err := pool.QueryRow(t.Context(), "SELECT "+c.ChainSQL("$1::text"), v).Scan(&got); err != nil {
				t.Fatalf("%s %q: %v", s.Kind, v, err)
			}
			want, err := c.Chain(v)
			if got != nil && (err != nil || *got != want) {
				t.Errorf("%s ChainSQL(%q) = %q; Chain = %q, %v", s.Kind, v, *got, want, err)
			}
		}
	}
	for _, tc := range []struct {
		spec Spec
		v    string
	}{
		{Spec{Kind: Hex}, "0x0123456789abcdef"}, {Spec{Kind: Address}, "0x00000000000000000000000000000000000000aa"},
		{Spec{Kind: Numeric}, "1234567"}, {Spec{Kind: Numeric}, "-5"}, {Spec{Kind: Time, Format: "yyyyMMdd"}, "1764864000000"},
		{Spec{Kind: CaseInsensitive}, "Transfer Memo"}, {Spec{Kind: Trimmed}, "货款 "},
	} {
		c, _ := New(tc.spec)
		var got *string
		if err := pool.QueryRow(t.Context(), "SELECT "+c.ChainSQL("$1::text"), tc.v).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got == nil {
			t.Errorf("%s ChainSQL(%q) is NULL: left to Go", tc.spec.Kind, tc.v)
		}
	}
}
