package compare

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/cockroachdb/apd/v3"
)

// maxExponent bounds the decimal exponent a value may carry ("1e40" is fine, "1e99999" is
// not): the canonical text is written out in full, so a huge exponent would be a huge string.
const maxExponent = 400

// quantizer rescales values; Quantize needs a precision, and 2000 digits hold any value
// ParseDecimal accepts (long coefficients are bounded by the reader's line length, not here:
// a longer one is an error, never a rounding).
var quantizer = apd.BaseContext.WithPrecision(2000)

// numericComparator compares exact decimals. Business values are scaled into chain units.
type numericComparator struct {
	spec     Spec
	abs, rel *apd.Decimal // in chain units; nil when not set
}

func newNumeric(s Spec) (Comparator, error) {
	if s.Scale > maxExponent || s.Scale < -maxExponent {
		return nil, fmt.Errorf("%w: scale %d out of range ±%d", ErrSpec, s.Scale, maxExponent)
	}
	c := numericComparator{spec: s}
	if s.Tolerance != "" {
		d, err := ParseDecimal(s.Tolerance)
		if err != nil || d.Negative {
			return nil, fmt.Errorf("%w: tolerance %q: want a decimal ≥ 0", ErrSpec, s.Tolerance)
		}
		d.Exponent += s.Scale
		c.abs = d
	}
	if s.Relative != "" {
		d, err := ParseDecimal(s.Relative)
		if err != nil || d.Negative {
			return nil, fmt.Errorf("%w: relative %q: want a decimal ≥ 0 (0.001 is 0.1 %%)", ErrSpec, s.Relative)
		}
		c.rel = d
	}
	if c.abs != nil && c.abs.IsZero() {
		c.abs = nil
	}
	if c.rel != nil && c.rel.IsZero() {
		c.rel = nil
	}
	return c, nil
}

// ParseDecimal reads a decimal number exactly: an optional sign, digits with an optional
// fraction and exponent ("-1234.50", "1.5e3"), "0x" hex integers ("0x64"), and digit grouping
// with commas in the usual places ("1,234,567.89"). Surrounding white space is ignored; NaN
// and infinities are not numbers here.
func ParseDecimal(v string) (*apd.Decimal, error) {
	s := strings.TrimSpace(v)
	neg := false
	body := s
	if body != "" && (body[0] == '-' || body[0] == '+') {
		neg = body[0] == '-'
		body = body[1:]
	}
	if len(body) > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') {
		n, ok := new(big.Int).SetString(body[2:], 16)
		if !ok || strings.ContainsAny(body[2:], "+-_") {
			return nil, fmt.Errorf("not a hex integer")
		}
		d := apd.NewWithBigInt(new(apd.BigInt).SetMathBigInt(n), 0)
		d.Negative = neg && !d.IsZero()
		return d, nil
	}
	if strings.Contains(body, ",") {
		plain, ok := ungroup(body)
		if !ok {
			return nil, fmt.Errorf("commas not in thousands groups")
		}
		body = plain
	}
	if body == "" || !isDecimalSyntax(body) {
		return nil, fmt.Errorf("not a decimal number")
	}
	d, _, err := apd.NewFromString(body)
	if err != nil {
		return nil, fmt.Errorf("not a decimal number")
	}
	if d.Form != apd.Finite {
		return nil, fmt.Errorf("not a finite number")
	}
	if d.Exponent > maxExponent || d.Exponent < -maxExponent {
		return nil, fmt.Errorf("exponent out of range ±%d", maxExponent)
	}
	d.Negative = neg && !d.IsZero()
	return d, nil
}

// isDecimalSyntax accepts digits, one dot and an exponent; apd alone would also take "NaN",
// "Inf" and friends.
func isDecimalSyntax(s string) bool {
	digits, dot := 0, false
	i := 0
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		case c == 'e' || c == 'E':
			if digits == 0 {
				return false
			}
			rest := s[i+1:]
			if rest != "" && (rest[0] == '+' || rest[0] == '-') {
				rest = rest[1:]
			}
			if rest == "" || len(rest) > 6 {
				return false
			}
			for j := 0; j < len(rest); j++ {
				if rest[j] < '0' || rest[j] > '9' {
					return false
				}
			}
			return true
		default:
			return false
		}
	}
	return digits > 0
}

// ungroup removes thousands separators from the integer part, checking they group by three.
func ungroup(s string) (string, bool) {
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if strings.Contains(frac, ",") {
		return "", false
	}
	groups := strings.Split(intPart, ",")
	if len(groups[0]) == 0 || len(groups[0]) > 3 {
		return "", false
	}
	for _, g := range groups[1:] {
		if len(g) != 3 {
			return "", false
		}
	}
	out := strings.Join(groups, "")
	if hasFrac {
		out += "." + frac
	}
	return out, true
}

// canonicalDecimal writes d as the shortest exact plain text: no exponent, no trailing
// fractional zeros, no "-0".
func canonicalDecimal(d *apd.Decimal) string {
	var r apd.Decimal
	r.Reduce(d)
	if r.IsZero() {
		return "0"
	}
	return r.Text('f')
}

func (c numericComparator) Spec() Spec { return c.spec }

// shiftPlain is Business's canonical text (canonicalDecimal of v × 10^scale) for the texts
// most files and every chain amount hold, without parsing them into decimals (a second of a
// million-row run): a plain decimal, -?digits[.digits], and a scale ≥ 0. ok is false for any
// other text, which ParseDecimal reads.
func shiftPlain(v string, scale int32) (string, bool) {
	if scale < 0 || scale > 64 || v == "" {
		return "", false
	}
	s := v
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	intPart, frac, dot := strings.Cut(s, ".")
	if intPart == "" || dot && frac == "" || !decimalDigits(intPart) || !decimalDigits(frac) {
		return "", false
	}
	if frac == "" && scale == 0 && (intPart[0] != '0' || len(intPart) == 1) && (!neg || intPart != "0") {
		return v, true // canonical already: an integer as export writes it
	}
	// Move the point scale digits right, padding the fraction with zeros.
	n := int(scale)
	var whole string
	if len(frac) >= n {
		whole, frac = intPart+frac[:n], frac[n:]
	} else {
		whole, frac = intPart+frac+strings.Repeat("0", n-len(frac)), ""
	}
	whole = strings.TrimLeft(whole, "0")
	frac = strings.TrimRight(frac, "0")
	if whole == "" && frac == "" {
		return "0", true
	}
	if whole == "" {
		whole = "0"
	}
	out := whole
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out, true
}

func decimalDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (c numericComparator) business(v string) (*apd.Decimal, error) {
	d, err := ParseDecimal(v)
	if err != nil {
		return nil, &ValueError{Kind: Numeric, Value: v, Reason: err.Error()}
	}
	d.Exponent += c.spec.Scale
	return d, nil
}

func (c numericComparator) chain(v string) (*apd.Decimal, error) {
	d, err := ParseDecimal(v)
	if err != nil {
		return nil, &ValueError{Kind: Numeric, Value: v, Reason: err.Error()}
	}
	return d, nil
}

// Business returns the value in chain units as canonical decimal text.
func (c numericComparator) Business(v string) (string, error) {
	if s, ok := shiftPlain(v, c.spec.Scale); ok {
		return s, nil
	}
	d, err := c.business(v)
	if err != nil {
		return "", err
	}
	return canonicalDecimal(d), nil
}

// Chain returns the canonical decimal text; chain integers are already canonical.
func (c numericComparator) Chain(v string) (string, error) {
	if s, ok := shiftPlain(v, 0); ok {
		return s, nil
	}
	d, err := c.chain(v)
	if err != nil {
		return "", err
	}
	return canonicalDecimal(d), nil
}

// Render writes the chain value in business units, with at least Scale fraction digits.
func (c numericComparator) Render(chain string) (string, error) {
	d, err := c.chain(chain)
	if err != nil {
		return "", err
	}
	d.Exponent -= c.spec.Scale
	if c.spec.Scale > 0 && d.Exponent >= -c.spec.Scale {
		var q apd.Decimal
		if _, err := quantizer.Quantize(&q, d, -c.spec.Scale); err == nil {
			return q.Text('f'), nil
		}
	}
	return canonicalDecimal(d), nil
}

// Compare is equal when |chain − business×10^scale| ≤ max(tolerance×10^scale, relative×|chain|).
func (c numericComparator) Compare(business, chain string) Result {
	b, err := c.business(business)
	if err != nil {
		return Result{Diff: "business " + err.Error()}
	}
	ch, err := c.chain(chain)
	if err != nil {
		return Result{Diff: "chain " + err.Error()}
	}
	var diff apd.Decimal
	if _, err := apd.BaseContext.Sub(&diff, ch, b); err != nil {
		return Result{Diff: "subtract: " + err.Error()}
	}
	if diff.IsZero() {
		return Result{Equal: true}
	}
	absDiff := new(apd.Decimal).Abs(&diff)
	if c.abs != nil && absDiff.Cmp(c.abs) <= 0 {
		return Result{Equal: true}
	}
	if c.rel != nil {
		var limit apd.Decimal
		if _, err := apd.BaseContext.Mul(&limit, c.rel, new(apd.Decimal).Abs(ch)); err == nil && absDiff.Cmp(&limit) <= 0 {
			return Result{Equal: true}
		}
	}
	// Say the difference in business units, the ones the file is written in.
	bizDiff := new(apd.Decimal).Set(&diff)
	bizDiff.Exponent -= c.spec.Scale
	sign := ""
	if !bizDiff.Negative {
		sign = "+"
	}
	msg := fmt.Sprintf("business %s, chain %s (chain %s%s", strings.TrimSpace(business), strings.TrimSpace(chain), sign, canonicalDecimal(bizDiff))
	if c.spec.Scale != 0 {
		msg += fmt.Sprintf(" in business units, scale %d", c.spec.Scale)
	}
	if c.spec.Tolerance != "" || c.spec.Relative != "" {
		msg += fmt.Sprintf("; tolerance %s", c.toleranceText())
	}
	return Result{Diff: msg + ")"}
}

func (c numericComparator) toleranceText() string {
	var parts []string
	if c.spec.Tolerance != "" {
		parts = append(parts, c.spec.Tolerance)
	}
	if c.spec.Relative != "" {
		parts = append(parts, "relative "+c.spec.Relative)
	}
	return strings.Join(parts, ", ")
}

// SQL: text equality without a tolerance (the canonical texts are unique per number);
// otherwise the same equality, else numeric arithmetic, which PostgreSQL does exactly at any
// size.
func (c numericComparator) SQL(business, chain string) string {
	if c.Joinable() {
		return sqlEqual(business, chain)
	}
	d := fmt.Sprintf("abs((%s)::numeric - (%s)::numeric)", chain, business)
	var terms []string
	if c.abs != nil {
		terms = append(terms, fmt.Sprintf("%s <= %s", d, canonicalDecimal(c.abs)))
	}
	if c.rel != nil {
		terms = append(terms, fmt.Sprintf("%s <= %s * abs((%s)::numeric)", d, canonicalDecimal(c.rel), chain))
	}
	// Equal canonical texts are equal numbers: most rows are decided without parsing either.
	return "((" + business + ") = (" + chain + ") OR " + strings.Join(terms, " OR ") + ")"
}

// Joinable is true without a tolerance.
func (c numericComparator) Joinable() bool { return c.abs == nil && c.rel == nil }

// Tolerance returns the absolute tolerance in chain units as canonical text, "0" when none.
func (c numericComparator) Tolerance() string {
	if c.abs == nil {
		return "0"
	}
	return canonicalDecimal(c.abs)
}
