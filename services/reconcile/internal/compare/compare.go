// Package compare holds the field comparators of a reconcile job: how a value read from a
// business file is judged against the value stored on chain.
//
// Every comparator works on canonical texts: Business and Chain turn each side's value into
// one when rows are read, and equality is decided over those texts in two places:
//
//   - in Go, where one-to-one runs are matched: equal texts are equal values; Compare(business,
//     chain) decides the rest (a tolerance, a time span) and says how values differ;
//   - in PostgreSQL, where runs with a grouping strategy are matched: SQL returns the boolean
//     expression that decides equality over the canonical texts. For every comparator but
//     numeric-with-tolerance and time it is plain text equality; Joinable reports which.
//
// The canonical texts follow what export puts on the bus (proto chain.v1 DecodedArg.value):
// decimal integer text for numbers, lowercase 0x hex for addresses and bytes. A numeric
// business value is scaled into chain units (value × 10^scale) and written as the shortest
// exact decimal text ("1234", "-5", "12.5"); a time is written as the first instant its text
// stands for, in the chain's unit (milliseconds by default) since the Unix epoch.
//
// Compare and the SQL expression agree: the tests check the two against a real PostgreSQL.
package compare

import (
	"errors"
	"fmt"
	"strings"
)

// Kind names a comparator as a job file writes it.
type Kind string

// Comparator kinds.
const (
	Exact           Kind = "exact"            // byte-for-byte
	Trimmed         Kind = "trimmed"          // leading and trailing white space ignored on both sides
	CaseInsensitive Kind = "case-insensitive" // trimmed, then Unicode lower case on both sides
	Hex             Kind = "hex"              // bytes or hashes: 0x optional, case ignored
	Address         Kind = "address"          // a 20-byte account address: hex, 0x optional, case ignored
	Numeric         Kind = "numeric"          // exact decimal, with scale and tolerance
	Time            Kind = "time"             // a date or time text with a format and zone against a chain timestamp
	Enum            Kind = "enum"             // business codes mapped to chain values
)

// Kinds lists every kind, for help texts and validation messages.
var Kinds = []Kind{Exact, Trimmed, CaseInsensitive, Hex, Address, Numeric, Time, Enum}

// Spec configures a comparator. Only the fields of its kind are allowed; New rejects others so
// a job file cannot carry options that silently do nothing.
type Spec struct {
	Kind Kind

	// Numeric: the chain value is the business value × 10^Scale (scale 2: business "12.34" is
	// chain 1234). Negative scales are allowed (scale -3: business "5" is chain 0.005).
	Scale int32
	// Numeric: the largest absolute difference still equal, in business units ("0.01").
	Tolerance string
	// Numeric: the largest difference still equal as a fraction of the chain value ("0.001" is
	// 0.1 %). With both, a difference within either is equal.
	Relative string

	// Time: the business text's layout in the notation Java users write (yyyyMMdd,
	// yyyy-MM-dd HH:mm:ss.SSS, ...); see ConvertLayout.
	Format string
	// Time: the IANA zone the business text is in ("Asia/Shanghai"); default UTC.
	Zone string
	// Time: the chain value's unit: "ms" (block_timestamp_ms; default) or "s".
	Unit string

	// Enum: business value → chain value. Keys are matched after trimming white space.
	Map map[string]string
}

// Result is the outcome of one comparison.
type Result struct {
	Equal bool
	// Diff says how the values differ, for people; empty when equal.
	Diff string
}

// Comparator compares one business field with one chain field.
type Comparator interface {
	// Spec returns the configuration the comparator was built from.
	Spec() Spec
	// Compare judges a business value against a chain value. A value that cannot be read
	// (a number that is not a number) is unequal, and the diff says why.
	Compare(business, chain string) Result
	// Business returns the canonical text of a business value, or a *ValueError.
	Business(v string) (string, error)
	// Chain returns the canonical text of a chain value, or a *ValueError.
	Chain(v string) (string, error)
	// Render returns a business text that compares equal to the chain value: the inverse of
	// Business, used to generate test files.
	Render(chain string) (string, error)
	// SQL returns a PostgreSQL boolean expression that is true when the canonical texts in
	// the expressions business and chain (columns of type text) compare equal.
	SQL(business, chain string) string
	// Joinable reports whether SQL is plain equality of the canonical texts.
	Joinable() bool
}

// ValueError is a value a comparator cannot read.
type ValueError struct {
	Kind   Kind
	Value  string
	Reason string
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("%s value %q: %s", e.Kind, clip(e.Value), e.Reason)
}

// ErrSpec is wrapped by every error New returns for a bad configuration.
var ErrSpec = errors.New("bad comparator")

// New builds the comparator s describes.
func New(s Spec) (Comparator, error) {
	if s.Kind == "" {
		s.Kind = Exact
	}
	if err := onlyFields(s); err != nil {
		return nil, err
	}
	switch s.Kind {
	case Exact, Trimmed, CaseInsensitive:
		return textComparator{spec: s}, nil
	case Hex, Address:
		return hexComparator{spec: s}, nil
	case Numeric:
		return newNumeric(s)
	case Time:
		return newTime(s)
	case Enum:
		return newEnum(s)
	}
	return nil, fmt.Errorf("%w: unknown compare %q (want one of %s)", ErrSpec, s.Kind, kindList())
}

// onlyFields rejects options that belong to another kind.
func onlyFields(s Spec) error {
	var extra []string
	if s.Kind != Numeric {
		if s.Scale != 0 {
			extra = append(extra, "scale")
		}
		if s.Tolerance != "" {
			extra = append(extra, "tolerance")
		}
		if s.Relative != "" {
			extra = append(extra, "relative")
		}
	}
	if s.Kind != Time {
		if s.Format != "" {
			extra = append(extra, "format")
		}
		if s.Zone != "" {
			extra = append(extra, "zone")
		}
		if s.Unit != "" {
			extra = append(extra, "unit")
		}
	}
	if s.Kind != Enum && s.Map != nil {
		extra = append(extra, "map")
	}
	if len(extra) > 0 {
		return fmt.Errorf("%w: %s does not apply to compare %s", ErrSpec, strings.Join(extra, ", "), s.Kind)
	}
	return nil
}

func kindList() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// compareCanonical is Compare for comparators whose equality is canonical text equality.
func compareCanonical(c Comparator, business, chain string) Result {
	b, err := c.Business(business)
	if err != nil {
		return Result{Diff: fmt.Sprintf("business %s", err)}
	}
	ch, err := c.Chain(chain)
	if err != nil {
		return Result{Diff: fmt.Sprintf("chain %s", err)}
	}
	if b == ch {
		return Result{Equal: true}
	}
	return Result{Diff: fmt.Sprintf("business %q ≠ chain %q", clip(business), clip(chain))}
}

// sqlEqual is the SQL of joinable comparators.
func sqlEqual(business, chain string) string {
	return fmt.Sprintf("(%s) = (%s)", business, chain)
}

// clip shortens a value for messages so one huge cell does not flood a report.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// textComparator is exact, trimmed and case-insensitive.
type textComparator struct{ spec Spec }

func (c textComparator) Spec() Spec { return c.spec }

func (c textComparator) norm(v string) string {
	switch c.spec.Kind {
	case Trimmed:
		return strings.TrimSpace(v)
	case CaseInsensitive:
		return strings.ToLower(strings.TrimSpace(v))
	}
	return v
}

func (c textComparator) Business(v string) (string, error) { return c.norm(v), nil }
func (c textComparator) Chain(v string) (string, error)    { return c.norm(v), nil }
func (c textComparator) Render(chain string) (string, error) {
	switch c.spec.Kind {
	case Trimmed:
		return " " + chain + " ", nil
	case CaseInsensitive:
		return strings.ToUpper(chain), nil
	}
	return chain, nil
}
func (c textComparator) Compare(b, ch string) Result { return compareCanonical(c, b, ch) }
func (c textComparator) SQL(b, ch string) string     { return sqlEqual(b, ch) }
func (c textComparator) Joinable() bool              { return true }

// hexComparator is hex and address.
type hexComparator struct{ spec Spec }

func (c hexComparator) Spec() Spec { return c.spec }

func (c hexComparator) norm(v string) (string, error) {
	s := strings.TrimSpace(v)
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	// One pass over a table: a hash's 64 digits checked a condition at a time cost a
	// million-row run a second.
	var upper byte
	for i := 0; i < len(s); i++ {
		k := hexClass[s[i]]
		if k == 0 {
			return "", &ValueError{Kind: c.spec.Kind, Value: v, Reason: fmt.Sprintf("not hex at character %d", i+1)}
		}
		upper |= k
	}
	if len(s)%2 != 0 {
		return "", &ValueError{Kind: c.spec.Kind, Value: v, Reason: "odd number of hex digits"}
	}
	if c.spec.Kind == Address && len(s) != 40 {
		return "", &ValueError{Kind: c.spec.Kind, Value: v, Reason: fmt.Sprintf("%d hex digits, an address has 40", len(s))}
	}
	if len(v) == len(s)+2 && v[1] == 'x' && upper&hexUpper == 0 {
		return v, nil // canonical already, as export writes it: no copy
	}
	b := make([]byte, 2+len(s))
	b[0], b[1] = '0', 'x'
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'F' {
			c += 'a' - 'A'
		}
		b[2+i] = c
	}
	return string(b), nil
}

// hexClass classes the bytes of hex text: 0 not a hex digit, hexLower a digit or a-f,
// hexUpper A-F.
var hexClass = func() (t [256]byte) {
	for c := '0'; c <= '9'; c++ {
		t[c] = hexLower
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = hexLower
	}
	for c := 'A'; c <= 'F'; c++ {
		t[c] = hexUpper
	}
	return t
}()

const (
	hexLower = 1
	hexUpper = 2
)

func (c hexComparator) Business(v string) (string, error) { return c.norm(v) }
func (c hexComparator) Chain(v string) (string, error)    { return c.norm(v) }
func (c hexComparator) Render(chain string) (string, error) {
	n, err := c.norm(chain)
	if err != nil {
		return "", err
	}
	return "0x" + strings.ToUpper(n[2:]), nil
}
func (c hexComparator) Compare(b, ch string) Result { return compareCanonical(c, b, ch) }
func (c hexComparator) SQL(b, ch string) string     { return sqlEqual(b, ch) }
func (c hexComparator) Joinable() bool              { return true }

// enumComparator maps business codes to chain values.
type enumComparator struct {
	spec    Spec
	reverse map[string]string
}

func newEnum(s Spec) (Comparator, error) {
	if len(s.Map) == 0 {
		return nil, fmt.Errorf("%w: compare enum needs a map of business value to chain value", ErrSpec)
	}
	m := make(map[string]string, len(s.Map))
	rev := make(map[string]string, len(s.Map))
	for k, v := range s.Map {
		tk := strings.TrimSpace(k)
		if _, dup := m[tk]; dup {
			return nil, fmt.Errorf("%w: enum map has %q twice once trimmed", ErrSpec, tk)
		}
		m[tk] = v
		if prev, ok := rev[v]; !ok || tk < prev {
			rev[v] = tk // several codes may map to one chain value: render the smallest
		}
	}
	s.Map = m
	return enumComparator{spec: s, reverse: rev}, nil
}

func (c enumComparator) Spec() Spec { return c.spec }
func (c enumComparator) Business(v string) (string, error) {
	out, ok := c.spec.Map[strings.TrimSpace(v)]
	if !ok {
		return "", &ValueError{Kind: Enum, Value: v, Reason: "not in the enum map"}
	}
	return out, nil
}
func (c enumComparator) Chain(v string) (string, error) { return v, nil }
func (c enumComparator) Render(chain string) (string, error) {
	b, ok := c.reverse[chain]
	if !ok {
		return "", &ValueError{Kind: Enum, Value: chain, Reason: "no business value maps to it"}
	}
	return b, nil
}
func (c enumComparator) Compare(b, ch string) Result { return compareCanonical(c, b, ch) }
func (c enumComparator) SQL(b, ch string) string     { return sqlEqual(b, ch) }
func (c enumComparator) Joinable() bool              { return true }
