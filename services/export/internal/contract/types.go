package contract

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/jackc/pgx/v5/pgtype"
)

// SQL column types of decoded parameters, and the Go values Row.Values holds for them:
//
//	uint<N>, int<N>         numeric(78,0)  pgtype.Numeric{Int: v, Exp: 0, Valid: true}, exact
//	address                 text           "0x" + 40 lowercase hex digits
//	bool                    boolean        bool
//	bytes<N>, bytes, function bytea        []byte
//	string                  text           string (see below)
//	T[], T[k], tuples       jsonb          json.RawMessage
//	indexed string, bytes,  bytea          []byte: the 32-byte topic, the keccak/SM3 hash
//	arrays and tuples                      the node wrote instead of the value
//
// Text: PostgreSQL text and jsonb take neither invalid UTF-8 nor NUL, and protobuf strings must
// be UTF-8, so every decoded string (columns, Arg.Value, strings inside JSON) has each invalid
// UTF-8 sequence and each NUL replaced by U+FFFD. Arg.Raw keeps the exact ABI bytes.
//
// JSON (arrays and tuples, in jsonb and in Arg.Value): integers as decimal strings, bytes as
// 0x hex strings, addresses as lowercase 0x strings, bools as JSON booleans, tuples as objects
// keyed by component name in ABI order.
//
// A configured SQL type override changes the column type; the value follows the override's
// family: text-like overrides (text, varchar, char) get Arg.Value's text, numeric-like ones
// (numeric, decimal, bigint, int, smallint) get the pgtype.Numeric of an integer, and the
// others keep the natural value above.
const (
	sqlNumeric = "numeric(78,0)"
	sqlText    = "text"
	sqlBool    = "boolean"
	sqlBytea   = "bytea"
	sqlJSONB   = "jsonb"
)

// sqlTypePattern accepts plain PostgreSQL type names with an optional modifier and array
// brackets; overrides go into DDL, so anything else is refused.
var sqlTypePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*( [a-z][a-z0-9_]*)*( ?\([0-9]+( ?, ?[0-9]+)?\))?(\[\])*$`)

// sqlFamily groups SQL types by the Go value they take.
type sqlFamily uint8

const (
	familyNatural sqlFamily = iota
	familyText
	familyNumeric
)

func familyOf(sqlType string) sqlFamily {
	base := sqlType
	if i := strings.IndexAny(base, "(["); i >= 0 {
		base = base[:i]
	}
	base = strings.TrimSpace(base)
	switch base {
	case "text", "varchar", "character varying", "char", "character", "bpchar", "citext":
		return familyText
	case "numeric", "decimal", "bigint", "int8", "integer", "int", "int4", "smallint", "int2":
		return familyNumeric
	}
	return familyNatural
}

// hashedInTopic reports whether an indexed parameter of type t is stored as the hash of its
// encoding (reference types) rather than the value itself.
func hashedInTopic(t abi.Type) bool {
	switch t.T {
	case abi.StringTy, abi.BytesTy, abi.SliceTy, abi.ArrayTy, abi.TupleTy:
		return true
	}
	return false
}

// sqlTypeOf is the default column type of a parameter.
func sqlTypeOf(t abi.Type, indexed bool) string {
	if indexed && hashedInTopic(t) {
		return sqlBytea
	}
	switch t.T {
	case abi.IntTy, abi.UintTy:
		return sqlNumeric
	case abi.AddressTy, abi.StringTy:
		return sqlText
	case abi.BoolTy:
		return sqlBool
	case abi.FixedBytesTy, abi.BytesTy, abi.FunctionTy, abi.HashTy:
		return sqlBytea
	default:
		return sqlJSONB
	}
}

// maxStaticWords bounds the head size of a static type: go-ethereum allocates a static array
// before it checks the data is long enough, so a type like uint256[1000][1000][1000] in an ABI
// would exhaust memory on the first log.
const maxStaticWords = 1 << 15

// checkType refuses types the decoder cannot or should not handle.
func checkType(t abi.Type) error {
	words, err := staticWords(t)
	if err != nil {
		return err
	}
	if words > maxStaticWords {
		return fmt.Errorf("type %s: static size over %d words", t.String(), maxStaticWords)
	}
	return nil
}

func staticWords(t abi.Type) (int, error) {
	switch t.T {
	case abi.IntTy, abi.UintTy:
		// go-ethereum takes any size ("uint257"); Solidity has 8 to 256 in steps of 8.
		if t.Size < 8 || t.Size > 256 || t.Size%8 != 0 {
			return 0, fmt.Errorf("type %s: integer size not in 8, 16, …, 256", t.String())
		}
	case abi.FixedBytesTy:
		if t.Size < 1 || t.Size > 32 {
			return 0, fmt.Errorf("type %s: fixed bytes size not in 1 … 32", t.String())
		}
	case abi.FixedPointTy:
		return 0, fmt.Errorf("type %s: fixed-point types are not supported", t.String())
	case abi.ArrayTy:
		n, err := staticWords(*t.Elem)
		if err != nil {
			return 0, err
		}
		if t.Size > maxStaticWords || n*t.Size > maxStaticWords {
			return maxStaticWords + 1, nil
		}
		return n * t.Size, nil
	case abi.SliceTy:
		if _, err := staticWords(*t.Elem); err != nil {
			return 0, err
		}
		return 1, nil
	case abi.TupleTy:
		sum := 0
		for _, e := range t.TupleElems {
			n, err := staticWords(*e)
			if err != nil {
				return 0, err
			}
			sum += n
			if sum > maxStaticWords {
				return sum, nil
			}
		}
		return sum, nil
	}
	return 1, nil
}

// sanitize makes s valid UTF-8 without NUL, as PostgreSQL text and protobuf need.
func sanitize(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// converted is one decoded value in the forms a Row needs.
type converted struct {
	text string // Arg.Value
	col  any    // natural column value
	num  *big.Int
}

// convert turns a value go-ethereum decoded for type t into text and a column value.
func convert(t abi.Type, v any) (converted, error) {
	rv := reflect.ValueOf(v)
	switch t.T {
	case abi.IntTy, abi.UintTy:
		n, err := toBig(rv)
		if err != nil {
			return converted{}, err
		}
		return converted{text: n.String(), col: pgtype.Numeric{Int: n, Exp: 0, Valid: true}, num: n}, nil
	case abi.BoolTy:
		b, ok := v.(bool)
		if !ok {
			return converted{}, fmt.Errorf("bool decoded as %T", v)
		}
		return converted{text: strconv.FormatBool(b), col: b}, nil
	case abi.AddressTy:
		a, ok := v.(common.Address)
		if !ok {
			return converted{}, fmt.Errorf("address decoded as %T", v)
		}
		s := "0x" + hex.EncodeToString(a[:])
		return converted{text: s, col: s}, nil
	case abi.StringTy:
		s, ok := v.(string)
		if !ok {
			return converted{}, fmt.Errorf("string decoded as %T", v)
		}
		s = sanitize(s)
		return converted{text: s, col: s}, nil
	case abi.FixedBytesTy, abi.BytesTy, abi.FunctionTy, abi.HashTy:
		b, err := toBytes(rv)
		if err != nil {
			return converted{}, err
		}
		return converted{text: hexString(b), col: b}, nil
	case abi.SliceTy, abi.ArrayTy, abi.TupleTy:
		var buf bytes.Buffer
		if err := writeJSON(&buf, t, rv); err != nil {
			return converted{}, err
		}
		raw := json.RawMessage(buf.Bytes())
		return converted{text: buf.String(), col: raw}, nil
	}
	return converted{}, fmt.Errorf("unsupported type %s", t.String())
}

func hexString(b []byte) string { return "0x" + hex.EncodeToString(b) }

// toBig reads the integer go-ethereum returns: *big.Int, or a sized Go integer for 8, 16, 32
// and 64 bits.
func toBig(rv reflect.Value) (*big.Int, error) {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return big.NewInt(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return new(big.Int).SetUint64(rv.Uint()), nil
	case reflect.Pointer:
		if n, ok := rv.Interface().(*big.Int); ok && n != nil {
			return new(big.Int).Set(n), nil
		}
	}
	return nil, fmt.Errorf("integer decoded as %s", rv.Type())
}

// toBytes reads a byte slice or a fixed-size byte array.
func toBytes(rv reflect.Value) ([]byte, error) {
	switch rv.Kind() {
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return bytes.Clone(rv.Bytes()), nil
		}
	case reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return b, nil
		}
	}
	return nil, fmt.Errorf("bytes decoded as %s", rv.Type())
}

// writeJSON writes a decoded value as JSON by the package's rules.
func writeJSON(buf *bytes.Buffer, t abi.Type, rv reflect.Value) error {
	switch t.T {
	case abi.SliceTy, abi.ArrayTy:
		var n int
		var elem func(int) reflect.Value
		switch {
		case rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array:
			n, elem = rv.Len(), rv.Index
		case rv.Kind() == reflect.Struct && t.T == abi.ArrayTy && rv.NumField() == t.Size:
			n, elem = rv.NumField(), rv.Field // a static array decoded as a tuple (quirks.go)
		default:
			return fmt.Errorf("array decoded as %s", rv.Type())
		}
		buf.WriteByte('[')
		for i := range n {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, *t.Elem, elem(i)); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case abi.TupleTy:
		if rv.Kind() != reflect.Struct || rv.NumField() != len(t.TupleElems) {
			return fmt.Errorf("tuple decoded as %s", rv.Type())
		}
		buf.WriteByte('{')
		for i, e := range t.TupleElems {
			if i > 0 {
				buf.WriteByte(',')
			}
			name := ""
			if i < len(t.TupleRawNames) {
				name = t.TupleRawNames[i]
			}
			writeJSONString(buf, name)
			buf.WriteByte(':')
			if err := writeJSON(buf, *e, rv.Field(i)); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case abi.BoolTy:
		if rv.Kind() != reflect.Bool {
			return fmt.Errorf("bool decoded as %s", rv.Type())
		}
		buf.WriteString(strconv.FormatBool(rv.Bool()))
		return nil
	}
	c, err := convert(t, rv.Interface())
	if err != nil {
		return err
	}
	writeJSONString(buf, c.text)
	return nil
}

// writeJSONString writes s (already sanitized or ASCII) as a JSON string without HTML escaping.
func writeJSONString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(sanitize(s)) // a string always encodes
	buf.Truncate(buf.Len() - 1) // Encode appends a newline
}
