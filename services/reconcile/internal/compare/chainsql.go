package compare

import (
	"fmt"
	"strings"
)

// The chain side of a run is projected in PostgreSQL (INSERT … SELECT from the stored records),
// so each comparator also says how to compute Chain's canonical text in SQL. It only has to be
// right where it is not NULL: SQL returns NULL for values it does not decide exactly as Chain
// does (surrounding white space of unusual kinds, non-ASCII text to lower-case, numbers not
// already canonical), and the run computes those few in Go. The tests check every non-NULL
// answer against Chain in a real PostgreSQL.

// spaceChars are the characters strings.TrimSpace removes (unicode.IsSpace), as a PostgreSQL
// string literal for btrim.
var spaceChars = func() string {
	var b strings.Builder
	b.WriteString("E'")
	for _, r := range []rune{'\t', '\n', '\v', '\f', '\r', ' ', 0x85, 0xA0, 0x1680,
		0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A,
		0x2028, 0x2029, 0x202F, 0x205F, 0x3000} {
		fmt.Fprintf(&b, "\\u%04X", r)
	}
	b.WriteString("'")
	return b.String()
}()

// asciiSpaces are the ASCII characters of spaceChars.
const asciiSpaces = `E'\u0009\u000A\u000B\u000C\u000D\u0020'`

// sqlTrim is strings.TrimSpace in SQL (a UTF-8 database). btrim with that set of characters
// costs more than a regular expression (0.65 s a million values): a text whose first and
// last characters are no space, nearly every one, is kept as it is without it.
func sqlTrim(v string) string {
	return fmt.Sprintf(`(CASE WHEN %[2]s AND %[3]s THEN %[1]s ELSE btrim(%[1]s, %[4]s) END)`,
		v, notSpace("ascii("+v+")"), notSpace("ascii(right("+v+", 1))"), spaceChars)
}

// notSpace says, in SQL, that the code point c (ascii of a character; 0 for none) is not one
// of spaceChars.
func notSpace(c string) string {
	return fmt.Sprintf(`(%[1]s > 32 AND %[1]s NOT IN (133, 160, 5760, 8232, 8233, 8239, 8287, 12288) AND %[1]s NOT BETWEEN 8192 AND 8202)`, c)
}

// ChainSQL: exact and enum keep the text; trimmed trims; case-insensitive lower-cases ASCII
// text only (PostgreSQL's lower of other text depends on the collation, Go's does not).
func (c textComparator) ChainSQL(v string) string {
	switch c.spec.Kind {
	case Trimmed:
		return sqlTrim(v)
	case CaseInsensitive:
		// ASCII text has no other spaces than the ASCII ones to trim: checking the value
		// rather than its trimmed text evaluates the trimming once (three times cost 2.1 s a
		// million values).
		return fmt.Sprintf(`(CASE WHEN octet_length(%[1]s) = char_length(%[1]s) THEN lower(btrim(%[1]s, %[2]s) COLLATE "C") END)`, v, asciiSpaces)
	}
	return "(" + v + ")"
}

// ChainSQL: hex already canonical (0x and lowercase, as export writes it) is kept; 0X,
// no 0x, upper case become canonical; white space around is left to Go.
func (c hexComparator) ChainSQL(v string) string {
	if c.spec.Kind == Address {
		// Forty digits by length and a starred class: the counted repetition {40} cost
		// PostgreSQL's regular expressions 2.2 s a million values, the star 0.4 s.
		return fmt.Sprintf(`(CASE WHEN octet_length(%[1]s) = 42 AND %[1]s COLLATE "C" ~ '^0x[0-9a-f]*$' THEN %[1]s
	WHEN octet_length(%[1]s) = 42 AND %[1]s COLLATE "C" ~ '^0[xX][0-9a-fA-F]*$' THEN '0x' || lower(substr(%[1]s, 3) COLLATE "C")
	WHEN octet_length(%[1]s) = 40 AND %[1]s COLLATE "C" ~ '^[0-9a-fA-F]*$' THEN '0x' || lower(%[1]s COLLATE "C") END)`, v)
	}
	// An even length and a starred class rather than a repeated group of two: see above.
	return fmt.Sprintf(`(CASE WHEN octet_length(%[1]s) %% 2 = 0 AND %[1]s COLLATE "C" ~ '^0x[0-9a-f]*$' THEN %[1]s
	WHEN octet_length(%[1]s) %% 2 = 0 AND %[1]s COLLATE "C" ~ '^(0[xX])?[0-9a-fA-F]*$' THEN '0x' || lower(CASE WHEN left(%[1]s, 2) IN ('0x', '0X') THEN substr(%[1]s, 3) ELSE %[1]s END COLLATE "C") END)`, v)
}

// ChainSQL: enum keeps the chain value.
func (c enumComparator) ChainSQL(v string) string { return "(" + v + ")" }

// canonicalInteger matches decimal integers as canonicalDecimal and strconv.FormatInt write
// them.
const canonicalInteger = `'^(0|-?[1-9][0-9]*)$'`

// ChainSQL: chain numbers export writes are decimal integers, canonical already; others
// (hex, fractions, exponents, commas, a sign +, white space) are left to Go.
func (c numericComparator) ChainSQL(v string) string {
	return fmt.Sprintf(`(CASE WHEN %[1]s COLLATE "C" ~ %[2]s THEN %[1]s END)`, v, canonicalInteger)
}

// ChainSQL: an integer timestamp in canonical form (no white space) of at most 18 digits (any int64 of those
// is its own FormatInt and a valid instant).
func (c timeComparator) ChainSQL(v string) string {
	// At most 18 digits by length (a sign aside), not by {0,17}: see the address above.
	return fmt.Sprintf(`(CASE WHEN octet_length(%[1]s) <= CASE WHEN left(%[1]s, 1) = '-' THEN 19 ELSE 18 END AND %[1]s COLLATE "C" ~ %[2]s THEN %[1]s END)`, v, canonicalInteger)
}
