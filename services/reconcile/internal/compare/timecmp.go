package compare

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// precision is the span of time one business text stands for: "2026-12-05" is a whole day,
// "2026-12-05 10:00" a whole minute. A chain timestamp inside the span is equal.
type precision struct {
	years, months, days int           // calendar steps, taken in the zone
	step                time.Duration // fixed steps
}

func (p precision) next(t time.Time) time.Time {
	if p.years != 0 || p.months != 0 || p.days != 0 {
		return t.AddDate(p.years, p.months, p.days)
	}
	return t.Add(p.step)
}

// sqlInterval is the span as a PostgreSQL interval literal.
func (p precision) sqlInterval() string {
	switch {
	case p.years != 0:
		return "1 year"
	case p.months != 0:
		return "1 month"
	case p.days != 0:
		return "1 day"
	}
	return fmt.Sprintf("%d microseconds", max(p.step.Microseconds(), 1))
}

// ConvertLayout turns a date pattern as Java (SimpleDateFormat, DateTimeFormatter) users
// write it into a Go time layout, and says what span of time one text in it stands for.
// Supported letters: y, M, d, H, h, m, s, S (after "." or ","), E, a, Z, X, z; text in single
// quotes is literal, and ” is a quote. Literal digits and underscores are refused because Go
// would read them as layout elements.
func ConvertLayout(pattern string) (layout string, zoned bool, err error) {
	l, _, zoned, err := convertLayout(pattern)
	return l, zoned, err
}

func convertLayout(pattern string) (string, precision, bool, error) {
	var b strings.Builder
	var p precision
	finest := 0 // 1 year … 7 sub-second
	zoned := false
	set := func(level int, q precision) {
		if level > finest {
			finest, p = level, q
		}
	}
	rs := []rune(pattern)
	for i := 0; i < len(rs); {
		r := rs[i]
		if r == '\'' {
			var lit strings.Builder
			j := i + 1
			if j < len(rs) && rs[j] == '\'' { // '' is a quote
				lit.WriteRune('\'')
			} else {
				closed := false
				for j < len(rs) {
					if rs[j] == '\'' {
						if j+1 < len(rs) && rs[j+1] == '\'' {
							lit.WriteRune('\'')
							j += 2
							continue
						}
						closed = true
						break
					}
					lit.WriteRune(rs[j])
					j++
				}
				if !closed {
					return "", p, false, fmt.Errorf("format %q: unclosed quote", pattern)
				}
			}
			if err := literalOK(lit.String()); err != nil {
				return "", p, false, fmt.Errorf("format %q: %w", pattern, err)
			}
			b.WriteString(lit.String())
			i = j + 1
			continue
		}
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			if err := literalOK(string(r)); err != nil {
				return "", p, false, fmt.Errorf("format %q: %w", pattern, err)
			}
			b.WriteRune(r)
			i++
			continue
		}
		n := 1
		for i+n < len(rs) && rs[i+n] == r {
			n++
		}
		var tok string
		switch r {
		case 'y', 'u':
			tok = "2006"
			if n == 2 {
				tok = "06"
			}
			set(1, precision{years: 1})
		case 'M', 'L':
			tok = map[int]string{1: "1", 2: "01", 3: "Jan"}[min(n, 4)]
			if n >= 4 {
				tok = "January"
			}
			set(2, precision{months: 1})
		case 'd':
			tok = "02"
			if n == 1 {
				tok = "2"
			}
			set(3, precision{days: 1})
		case 'E':
			tok = "Mon"
			if n >= 4 {
				tok = "Monday"
			}
		case 'H':
			tok = "15"
			set(4, precision{step: time.Hour})
		case 'h':
			tok = "03"
			if n == 1 {
				tok = "3"
			}
			set(4, precision{step: time.Hour})
		case 'm':
			tok = "04"
			if n == 1 {
				tok = "4"
			}
			set(5, precision{step: time.Minute})
		case 's':
			tok = "05"
			if n == 1 {
				tok = "5"
			}
			set(6, precision{step: time.Second})
		case 'S':
			if i == 0 || (rs[i-1] != '.' && rs[i-1] != ',') || n > 9 {
				return "", p, false, fmt.Errorf("format %q: fraction S must follow \".\" or \",\" (Go cannot read it otherwise), at most 9", pattern)
			}
			tok = strings.Repeat("0", n)
			step := time.Second
			for range n {
				step /= 10
			}
			set(7, precision{step: step})
		case 'a':
			tok = "PM"
		case 'Z':
			tok = "-0700"
			zoned = true
		case 'X':
			tok = map[int]string{1: "Z07", 2: "Z0700"}[min(n, 3)]
			if n >= 3 {
				tok = "Z07:00"
			}
			zoned = true
		case 'z':
			tok = "MST"
			zoned = true
		default:
			return "", p, false, fmt.Errorf("format %q: pattern letter %q not supported", pattern, r)
		}
		b.WriteString(tok)
		i += n
	}
	if finest == 0 {
		return "", p, false, fmt.Errorf("format %q: no date or time letters", pattern)
	}
	return b.String(), p, zoned, nil
}

// literalOK refuses literals Go would mistake for layout elements.
func literalOK(s string) error {
	for _, r := range s {
		if '0' <= r && r <= '9' || r == '_' {
			return fmt.Errorf("literal %q: digits and _ cannot be literals in a Go layout", s)
		}
	}
	for _, word := range []string{"Jan", "Mon", "MST", "PM", "pm", "Z07"} {
		if strings.Contains(s, word) {
			return fmt.Errorf("literal %q: %q cannot be a literal in a Go layout", s, word)
		}
	}
	return nil
}

// timeComparator compares a business date/time text with a chain timestamp.
type timeComparator struct {
	spec   Spec
	layout string
	prec   precision
	loc    *time.Location
	milli  bool
}

func newTime(s Spec) (Comparator, error) {
	if s.Format == "" {
		return nil, fmt.Errorf("%w: compare time needs a format (e.g. yyyy-MM-dd HH:mm:ss)", ErrSpec)
	}
	layout, prec, _, err := convertLayout(s.Format)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpec, err)
	}
	zone := s.Zone
	if zone == "" {
		zone = "UTC"
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("%w: zone %q: %w", ErrSpec, zone, err)
	}
	c := timeComparator{spec: s, layout: layout, prec: prec, loc: loc, milli: true}
	switch s.Unit {
	case "", "ms":
	case "s":
		c.milli = false
	default:
		return nil, fmt.Errorf("%w: unit %q: want ms or s", ErrSpec, s.Unit)
	}
	return c, nil
}

func (c timeComparator) Spec() Spec { return c.spec }

func (c timeComparator) parse(v string) (time.Time, error) {
	t, err := time.ParseInLocation(c.layout, strings.TrimSpace(v), c.loc)
	if err != nil {
		return time.Time{}, &ValueError{Kind: Time, Value: v, Reason: fmt.Sprintf("not in format %s", c.spec.Format)}
	}
	return t, nil
}

func (c timeComparator) units(t time.Time) int64 {
	if c.milli {
		return t.UnixMilli()
	}
	return t.Unix()
}

func (c timeComparator) instant(v string) (time.Time, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return time.Time{}, &ValueError{Kind: Time, Value: v, Reason: "not an integer timestamp"}
	}
	if c.milli {
		return time.UnixMilli(n), nil
	}
	return time.Unix(n, 0), nil
}

// Business is the first instant of the text's span, in the chain unit.
func (c timeComparator) Business(v string) (string, error) {
	t, err := c.parse(v)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(c.units(t), 10), nil
}

// Chain is the integer timestamp as decimal text.
func (c timeComparator) Chain(v string) (string, error) {
	t, err := c.instant(v)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(c.units(t), 10), nil
}

func (c timeComparator) Render(chain string) (string, error) {
	t, err := c.instant(chain)
	if err != nil {
		return "", err
	}
	return t.In(c.loc).Format(c.layout), nil
}

// Compare is equal when the chain instant falls in the span the business text stands for.
func (c timeComparator) Compare(business, chain string) Result {
	lo, err := c.parse(business)
	if err != nil {
		return Result{Diff: "business " + err.Error()}
	}
	at, err := c.instant(chain)
	if err != nil {
		return Result{Diff: "chain " + err.Error()}
	}
	// Compare in the chain unit, as SQL does.
	a, l, h := c.units(at), c.units(lo), c.units(c.prec.next(lo))
	h = max(h, l+1) // a span finer than the unit still covers the unit it starts in
	if a >= l && a < h {
		return Result{Equal: true}
	}
	return Result{Diff: fmt.Sprintf("business %s, chain %s (%s)", strings.TrimSpace(business),
		at.In(c.loc).Format(c.layout), at.In(c.loc).Format("2006-01-02 15:04:05.000 Z07:00"))}
}

// SQL: chain ≥ business and chain < business + one span, the span added in the zone's
// calendar by PostgreSQL (a day is 23 or 25 hours across a daylight-saving change).
//
// A span of a fixed length that is a whole number of chain units (a second, a minute: not a
// day) is the business instant plus that many units, in integer arithmetic: the business text
// then starts on a whole unit, and both canonical texts are int64 decimals.
func (c timeComparator) SQL(business, chain string) string {
	unit := time.Second
	if c.milli {
		unit = time.Millisecond
	}
	if c.prec.years == 0 && c.prec.months == 0 && c.prec.days == 0 && c.prec.step > 0 && c.prec.step%unit == 0 {
		return fmt.Sprintf("((%[2]s)::bigint >= (%[1]s)::bigint AND (%[2]s)::bigint < (%[1]s)::bigint + %[3]d)", business, chain, int64(c.prec.step/unit))
	}
	div, mul := "/ 1000", "* 1000"
	if !c.milli {
		div, mul = "", ""
	}
	zone := strings.ReplaceAll(c.loc.String(), "'", "''")
	hi := fmt.Sprintf("(extract(epoch from ((to_timestamp((%s)::numeric %s) AT TIME ZONE '%s') + interval '%s') AT TIME ZONE '%s') %s)",
		business, div, zone, c.prec.sqlInterval(), zone, mul)
	return fmt.Sprintf("((%s)::numeric >= (%s)::numeric AND (%s)::numeric < %s)", chain, business, chain, hi)
}

func (c timeComparator) Joinable() bool { return false }
