package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
)

// Naming rules for typed tables and their columns. Every name is a valid, unquoted-style
// PostgreSQL identifier: lowercase ASCII letters, digits and underscores, not starting with a
// digit, at most MaxIdentLen bytes. Names may still be SQL keywords (a parameter called `from`
// or `to` gives a column "from"), so the store must quote them (pgx.Identifier.Sanitize);
// quoting does not change them because they are already lowercase.
//
//   - table: TablePrefix + snake(contract) + "_" + snake(item) + TableSuffix, where item is the
//     event or method name, or "constructor". Events are named first; a method whose name an
//     event already took gets "_method" appended. Overloads of one name: the first in ABI order
//     keeps the plain name, every other gets its parameter types as a suffix
//     (asset_transfer, asset_transfer_address_uint256; "noargs" for none).
//   - column: ColumnPrefix + snake(param) + ColumnSuffix; unnamed inputs are arg<i>, unnamed
//     outputs out<i> (i counts from 0 within the inputs or outputs). A column that would equal
//     a common column or an earlier column gets "_2", "_3", ….
//   - a name longer than MaxIdentLen is cut to 54 bytes plus "_" and 8 hex digits of the
//     SHA-256 of the full name, so distinct long names stay distinct.
//   - two tables of the registry with one name make Load fail.

// MaxIdentLen is PostgreSQL's identifier limit (NAMEDATALEN-1).
const MaxIdentLen = 63

// CommonColumns are the columns every typed table has before its parameter columns (events
// have log_index, methods and constructors from_address and status, but the names are
// reserved in every table). No parameter column takes one of these names.
var CommonColumns = []string{
	"block_number",
	"block_time",
	"transaction_hash",
	"transaction_index",
	"log_index",
	"contract_address",
	"from_address",
	"status",
}

// snake converts an ABI or contract name to snake case: "balanceOf" → "balance_of",
// "ERC20Token" → "erc20_token", "getURL" → "get_url", "_value" → "value". Characters other
// than ASCII letters and digits become underscores; runs of underscores collapse.
func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	under := true // suppress leading underscores
	for i, r := range rs {
		switch {
		case r < unicode.MaxASCII && unicode.IsUpper(r):
			// A new word starts at an upper-case letter after a lower-case letter or digit,
			// or before a lower-case letter when it ends an acronym (URLValue → url_value).
			if i > 0 && !under {
				prev := rs[i-1]
				nextLower := i+1 < len(rs) && rs[i+1] < unicode.MaxASCII && unicode.IsLower(rs[i+1])
				if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
					b.WriteByte('_')
				}
			}
			b.WriteRune(unicode.ToLower(r))
			under = false
		case r < unicode.MaxASCII && (unicode.IsLower(r) || unicode.IsDigit(r)):
			b.WriteRune(r)
			under = false
		default:
			if !under {
				b.WriteByte('_')
				under = true
			}
		}
	}
	out := strings.TrimRight(b.String(), "_")
	return out
}

// ident makes a name a valid identifier: empty names become "x", a leading digit gets "_"
// in front, and names over MaxIdentLen are shortened with a hash of the whole name.
func ident(s string) string {
	if s == "" {
		s = "x"
	}
	if s[0] >= '0' && s[0] <= '9' {
		s = "_" + s
	}
	if len(s) <= MaxIdentLen {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return s[:MaxIdentLen-9] + "_" + hex.EncodeToString(sum[:4])
}

// validAffix reports whether a configured prefix or suffix keeps names identifiers.
func validAffix(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// typeSuffix turns a parameter type list into a readable table-name suffix:
// (address,uint256[],(uint256,string)) → "address_uint256_arr_tuple".
func typeSuffix(types []string) string {
	if len(types) == 0 {
		return "noargs"
	}
	parts := make([]string, len(types))
	for i, t := range types {
		if strings.HasPrefix(t, "(") {
			// Keep the array dimensions of a tuple, drop its components.
			depth, end := 0, len(t)
		scan:
			for j, c := range t {
				switch c {
				case '(':
					depth++
				case ')':
					depth--
					if depth == 0 {
						end = j + 1
						break scan
					}
				}
			}
			t = "tuple" + t[end:]
		}
		t = strings.ReplaceAll(t, "[]", "_arr")
		t = strings.ReplaceAll(t, "[", "_arr")
		t = strings.ReplaceAll(t, "]", "")
		parts[i] = t
	}
	return strings.Join(parts, "_")
}

// uniqueNamer hands out names unique within one scope, adding _2, _3, … to repeats.
type uniqueNamer struct{ used map[string]bool }

func newUniqueNamer(reserved ...string) *uniqueNamer {
	u := &uniqueNamer{used: make(map[string]bool)}
	for _, r := range reserved {
		u.used[r] = true
	}
	return u
}

// claim returns name, or name_<n> for the smallest n ≥ 2 that is free, each kept an identifier.
func (u *uniqueNamer) claim(name string) string {
	name = ident(name)
	out := name
	for n := 2; u.used[out]; n++ {
		suffix := fmt.Sprintf("_%d", n)
		base := name
		if len(base)+len(suffix) > MaxIdentLen {
			base = base[:MaxIdentLen-len(suffix)]
		}
		out = base + suffix
	}
	u.used[out] = true
	return out
}
