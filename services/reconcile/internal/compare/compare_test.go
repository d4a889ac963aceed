package compare

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

type cmpCase struct {
	name     string
	spec     Spec
	business string
	chain    string
	equal    bool
	diff     string // substring of the diff when unequal
}

var cmpCases = []cmpCase{
	{name: "exact equal", spec: Spec{Kind: Exact}, business: "abc", chain: "abc", equal: true},
	{name: "exact space", spec: Spec{Kind: Exact}, business: "abc ", chain: "abc", diff: `business "abc " ≠ chain "abc"`},
	{name: "exact chinese", spec: Spec{Kind: Exact}, business: "转账", chain: "转账", equal: true},
	{name: "trimmed", spec: Spec{Kind: Trimmed}, business: "\t abc  ", chain: "abc", equal: true},
	{name: "trimmed inner", spec: Spec{Kind: Trimmed}, business: "a bc", chain: "abc", diff: "≠"},
	{name: "case", spec: Spec{Kind: CaseInsensitive}, business: " ABC", chain: "abc", equal: true},
	{name: "case chinese", spec: Spec{Kind: CaseInsensitive}, business: "张三A", chain: "张三a", equal: true},
	{name: "hex", spec: Spec{Kind: Hex}, business: "ABCDEF", chain: "0xabcdef", equal: true},
	{name: "hex bad", spec: Spec{Kind: Hex}, business: "0xzz", chain: "0x00", diff: "not hex at character 1"},
	{name: "address", spec: Spec{Kind: Address}, business: "0x00000000000000000000000000000000000000AA", chain: "0x00000000000000000000000000000000000000aa", equal: true},
	{name: "address short", spec: Spec{Kind: Address}, business: "0xaa", chain: "0x00000000000000000000000000000000000000aa", diff: "2 hex digits, an address has 40"},
	{name: "numeric equal", spec: Spec{Kind: Numeric}, business: "100.00", chain: "100", equal: true},
	{name: "numeric hex chain", spec: Spec{Kind: Numeric}, business: "100", chain: "0x64", equal: true},
	{name: "numeric grouped", spec: Spec{Kind: Numeric}, business: "1,234,567", chain: "1234567", equal: true},
	{name: "numeric bad group", spec: Spec{Kind: Numeric}, business: "1,23", chain: "123", diff: "commas not in thousands groups"},
	{name: "numeric scale", spec: Spec{Kind: Numeric, Scale: 2}, business: "12.34", chain: "1234", equal: true},
	{name: "numeric scale differ", spec: Spec{Kind: Numeric, Scale: 2}, business: "12.34", chain: "1235", diff: "chain +0.01 in business units, scale 2"},
	{name: "numeric beyond 2^64", spec: Spec{Kind: Numeric}, business: "115792089237316195423570985008687907853269984665640564039457584007913129639935", chain: "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", equal: true},
	{name: "numeric beyond 2^64 differ", spec: Spec{Kind: Numeric}, business: "18446744073709551617", chain: "18446744073709551616", diff: "chain -1"},
	{name: "numeric negative", spec: Spec{Kind: Numeric, Scale: 2}, business: "-0.50", chain: "-50", equal: true},
	{name: "numeric exponent", spec: Spec{Kind: Numeric}, business: "1.5e3", chain: "1500", equal: true},
	{name: "numeric within abs", spec: Spec{Kind: Numeric, Scale: 2, Tolerance: "0.01"}, business: "12.34", chain: "1235", equal: true},
	{name: "numeric outside abs", spec: Spec{Kind: Numeric, Scale: 2, Tolerance: "0.01"}, business: "12.34", chain: "1236", diff: "tolerance 0.01"},
	{name: "numeric within rel", spec: Spec{Kind: Numeric, Relative: "0.001"}, business: "1000", chain: "1001", equal: true},
	{name: "numeric outside rel", spec: Spec{Kind: Numeric, Relative: "0.001"}, business: "1000", chain: "1002", diff: "relative 0.001"},
	{name: "numeric NaN", spec: Spec{Kind: Numeric}, business: "NaN", chain: "1", diff: "not a decimal number"},
	{name: "numeric empty", spec: Spec{Kind: Numeric}, business: "", chain: "1", diff: "not a decimal number"},
	{name: "numeric huge exponent", spec: Spec{Kind: Numeric}, business: "1e999", chain: "1", diff: "exponent out of range"},
	{name: "time day", spec: Spec{Kind: Time, Format: "yyyyMMdd", Zone: "Asia/Shanghai"}, business: "20251206", chain: "1764950400000", equal: true},         // 2025-12-06 00:00 +08:00
	{name: "time day last ms", spec: Spec{Kind: Time, Format: "yyyyMMdd", Zone: "Asia/Shanghai"}, business: "20251205", chain: "1764950399999", equal: true}, // 2025-12-05 23:59:59.999 +08:00
	{name: "time day next", spec: Spec{Kind: Time, Format: "yyyyMMdd", Zone: "Asia/Shanghai"}, business: "20251205", chain: "1764950400000", diff: "20251206"},
	{name: "time seconds", spec: Spec{Kind: Time, Format: "yyyy-MM-dd HH:mm:ss", Zone: "Asia/Shanghai"}, business: "2025-12-05 23:59:59", chain: "1764950399500", equal: true},
	{name: "time seconds unit s", spec: Spec{Kind: Time, Format: "yyyy-MM-dd HH:mm:ss", Zone: "Asia/Shanghai", Unit: "s"}, business: "2025-12-05 23:59:59", chain: "1764950399", equal: true},
	{name: "time millis", spec: Spec{Kind: Time, Format: "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"}, business: "2025-12-05T15:59:59.999Z", chain: "1764950399999", equal: true},
	{name: "time bad", spec: Spec{Kind: Time, Format: "yyyyMMdd"}, business: "2025-12-05", chain: "0", diff: "not in format yyyyMMdd"},
	{name: "enum", spec: Spec{Kind: Enum, Map: map[string]string{"S": "1", "F": "0"}}, business: " S", chain: "1", equal: true},
	{name: "enum other", spec: Spec{Kind: Enum, Map: map[string]string{"S": "1", "F": "0"}}, business: "F", chain: "1", diff: `business "F" ≠ chain "1"`},
	{name: "enum unknown", spec: Spec{Kind: Enum, Map: map[string]string{"S": "1"}}, business: "X", chain: "1", diff: "not in the enum map"},
}

func TestCompare(t *testing.T) {
	for _, tc := range cmpCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			got := c.Compare(tc.business, tc.chain)
			if got.Equal != tc.equal {
				t.Fatalf("Compare(%q, %q) equal = %v, want %v (diff %q)", tc.business, tc.chain, got.Equal, tc.equal, got.Diff)
			}
			if got.Equal && got.Diff != "" {
				t.Errorf("equal with diff %q", got.Diff)
			}
			if !tc.equal && !strings.Contains(got.Diff, tc.diff) {
				t.Errorf("diff %q does not contain %q", got.Diff, tc.diff)
			}
			// Joinable comparators decide by canonical text alone.
			if c.Joinable() {
				b, berr := c.Business(tc.business)
				ch, cerr := c.Chain(tc.chain)
				if (berr == nil && cerr == nil && b == ch) != tc.equal {
					t.Errorf("canonical %q vs %q disagrees with Compare", b, ch)
				}
			}
		})
	}
}

func TestRenderComparesEqual(t *testing.T) {
	for _, tc := range []struct {
		spec  Spec
		chain string
		want  string
	}{
		{Spec{Kind: Exact}, "abc", "abc"},
		{Spec{Kind: Trimmed}, "abc", " abc "},
		{Spec{Kind: CaseInsensitive}, "0xab", "0XAB"},
		{Spec{Kind: Address}, "0x00000000000000000000000000000000000000aa", "0x00000000000000000000000000000000000000AA"},
		{Spec{Kind: Numeric, Scale: 2}, "1234", "12.34"},
		{Spec{Kind: Numeric, Scale: 2}, "5", "0.05"},
		{Spec{Kind: Numeric, Scale: 2}, "-100", "-1.00"},
		{Spec{Kind: Numeric}, "340282366920938463463374607431768211456", "340282366920938463463374607431768211456"},
		{Spec{Kind: Numeric, Scale: -3}, "5", "5000"},
		{Spec{Kind: Time, Format: "yyyy-MM-dd HH:mm:ss", Zone: "Asia/Shanghai"}, "1764950399500", "2025-12-05 23:59:59"},
		{Spec{Kind: Time, Format: "yyyy/M/d", Zone: "America/New_York"}, "1764950399500", "2025/12/5"},
		{Spec{Kind: Enum, Map: map[string]string{"成功": "1", "OK": "1", "失败": "0"}}, "1", "OK"},
	} {
		c, err := New(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Render(tc.chain)
		if err != nil {
			t.Fatalf("%s Render(%q): %v", tc.spec.Kind, tc.chain, err)
		}
		if got != tc.want {
			t.Errorf("%s Render(%q) = %q, want %q", tc.spec.Kind, tc.chain, got, tc.want)
		}
		if r := c.Compare(got, tc.chain); !r.Equal {
			t.Errorf("%s Compare(Render(%q)) unequal: %s", tc.spec.Kind, tc.chain, r.Diff)
		}
	}
}

func TestCanonical(t *testing.T) {
	num, _ := New(Spec{Kind: Numeric, Scale: 2})
	for in, want := range map[string]string{
		"12.34": "1234", "12.3": "1230", "0.001": "0.1", "-0.00": "0", "+7": "700", "1e3": "100000",
		"0x10": "1600", " 1,000.5 ": "100050",
	} {
		got, err := num.Business(in)
		if err != nil || got != want {
			t.Errorf("numeric scale 2 Business(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"100": "100", "0x64": "100", "-0": "0", "1E+3": "1000"} {
		got, err := num.Chain(in)
		if err != nil || got != want {
			t.Errorf("numeric Chain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	tm, _ := New(Spec{Kind: Time, Format: "yyyy-MM-dd", Zone: "Asia/Shanghai"})
	if got, _ := tm.Business("2025-12-06"); got != "1764950400000" {
		t.Errorf("time Business = %s", got)
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Kind: "fuzzy"}, `unknown compare "fuzzy"`},
		{Spec{Kind: Exact, Scale: 2}, "scale does not apply to compare exact"},
		{Spec{Kind: Numeric, Format: "yyyy"}, "format does not apply to compare numeric"},
		{Spec{Kind: Numeric, Tolerance: "-1"}, "tolerance"},
		{Spec{Kind: Numeric, Tolerance: "abc"}, "tolerance"},
		{Spec{Kind: Time}, "needs a format"},
		{Spec{Kind: Time, Format: "yyyyMMddQ"}, "pattern letter 'Q' not supported"},
		{Spec{Kind: Time, Format: "HHmmssSSS"}, `must follow "." or ","`},
		{Spec{Kind: Time, Format: "yyyy'年'MM'月'dd'日'"}, ""},
		{Spec{Kind: Time, Format: "yyyy'1'"}, "digits and _ cannot be literals"},
		{Spec{Kind: Time, Format: "yyyy'MM"}, "unclosed quote"},
		{Spec{Kind: Time, Format: "yyyy", Zone: "Mars/Base"}, `zone "Mars/Base"`},
		{Spec{Kind: Time, Format: "yyyy", Unit: "us"}, `unit "us"`},
		{Spec{Kind: Enum}, "needs a map"},
	} {
		_, err := New(tc.spec)
		if tc.want == "" {
			if err != nil {
				t.Errorf("New(%+v): %v", tc.spec, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrSpec) {
			t.Errorf("New(%+v) = %v, want ErrSpec containing %q", tc.spec, err, tc.want)
		}
	}
}

func TestConvertLayout(t *testing.T) {
	for in, want := range map[string]string{
		"yyyyMMdd":                      "20060102",
		"yyyy-MM-dd HH:mm:ss":           "2006-01-02 15:04:05",
		"yyyy-MM-dd HH:mm:ss.SSS":       "2006-01-02 15:04:05.000",
		"yyyy-MM-dd'T'HH:mm:ssXXX":      "2006-01-02T15:04:05Z07:00",
		"dd/MM/yy hh:mm a":              "02/01/06 03:04 PM",
		"EEE, d MMM yyyy HH:mm:ss Z":    "Mon, 2 Jan 2006 15:04:05 -0700",
		"yyyy'年'M'月'd'日'":               "2006年1月2日",
		"yyyy-MM-dd'T'HH:mm:ss'Z'":      "2006-01-02T15:04:05Z",
		"''yyyy''":                      "'2006'",
		"yyyy-MM-dd HH:mm:ss,SSSSSS":    "2006-01-02 15:04:05,000000",
		"yyyyMMddHHmmss":                "20060102150405",
		"yyyy-MM":                       "2006-01",
		"'at' HH 'o''clock' yyyy-MM-dd": "at 15 o'clock 2006-01-02",
	} {
		got, _, err := ConvertLayout(in)
		if err != nil || got != want {
			t.Errorf("ConvertLayout(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestTimeSpan(t *testing.T) {
	month, _ := New(Spec{Kind: Time, Format: "yyyy-MM", Zone: "Asia/Shanghai"})
	// 2025-12-31 23:59:59.999 +08:00 is in December; 2026-01-01 00:00 +08:00 is not.
	if r := month.Compare("2025-12", "1767196799999"); !r.Equal {
		t.Errorf("last ms of December: %s", r.Diff)
	}
	if r := month.Compare("2025-12", "1767196800000"); r.Equal {
		t.Error("first ms of January compared equal to December")
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"1", "-1.50", "0x64", "1,234.5", "1e3", "NaN", "", "1,2", "1e99999", "+.5", "0x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDecimal(s)
		if err != nil {
			return
		}
		c := canonicalDecimal(d)
		back, err := ParseDecimal(c)
		if err != nil || canonicalDecimal(back) != c {
			t.Fatalf("canonical %q of %q does not read back: %v", c, s, err)
		}
	})
}

// TestShiftPlainAgreesWithDecimals: for every text shiftPlain takes, its canonical text is
// what the decimal arithmetic makes of it, at scales from 0 to 20.
func TestShiftPlainAgreesWithDecimals(t *testing.T) {
	texts := []string{"0", "-0", "00", "-00.000", "7", "-7", "0012", "1200", "12.34", "-12.340", "0.001", "-0.00100",
		"123456789012345678901234567890.5", "5.", ".5", "1e3", "+5", "1,200", " 5", "0x10", "--1", "-", "1.2.3"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var b strings.Builder
		if rng.IntN(3) == 0 {
			b.WriteByte('-')
		}
		for range 1 + rng.IntN(25) {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		if rng.IntN(2) == 0 {
			b.WriteByte('.')
			for range 1 + rng.IntN(12) {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
		}
		texts = append(texts, b.String())
	}
	took := 0
	for _, v := range texts {
		for scale := int32(0); scale <= 20; scale += 1 + int32(rng.IntN(4)) {
			got, ok := shiftPlain(v, scale)
			if !ok {
				continue
			}
			took++
			d, err := ParseDecimal(v)
			if err != nil {
				t.Errorf("shiftPlain(%q, %d) = %q; ParseDecimal: %v", v, scale, got, err)
				continue
			}
			d.Exponent += scale
			if want := canonicalDecimal(d); got != want {
				t.Errorf("shiftPlain(%q, %d) = %q, want %q", v, scale, got, want)
			}
		}
	}
	for _, v := range []string{"5.", ".5", "1e3", "+5", "1,200", " 5", "0x10", "--1", "-", "1.2.3", ""} {
		if got, ok := shiftPlain(v, 2); ok {
			t.Errorf("shiftPlain(%q) = %q: not a plain decimal", v, got)
		}
	}
	if took < 2000 {
		t.Fatalf("shiftPlain took %d texts: not a test of it", took)
	}
}
