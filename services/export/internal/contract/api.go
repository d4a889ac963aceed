// Package contract is export's contract registry and ABI decoder: it loads the -contracts file
// (names, ABIs, creation bytecode, fixed addresses, learn), recognises deployments by their
// creation bytecode with the compiler's CBOR metadata stripped, derives the typed table of
// every event, method and constructor (names, columns, SQL types, options), and decodes
// transaction inputs, receipt outputs, revert reasons and event logs into row values.
//
// It knows nothing of PostgreSQL connections or Kafka: the store creates tables from Tables
// and writes the Values of each Row; the publisher turns a Row's Args into DecodedEvent and
// DecodedCall messages. Selectors and event topics follow the chain's crypto suite (Keccak-256
// on ECDSA chains, SM3 on SM chains).
//
// Where the rules live: the -contracts file format and its Data-Export aliases in file.go;
// table and column naming, CommonColumns and the 63-byte limit in naming.go; SQL types, pgx
// values, text sanitising and JSON in types.go; metadata stripping in metadata.go. Decoding
// is go-ethereum's accounts/abi (v1.9.16) behind two guards: budget.go refuses encodings whose
// overlapping offsets would blow up memory, quirks.go works around its mis-sized static arrays
// of tuples. Anonymous events get no table: without topic0 a log cannot be attributed.
//
// A Registry and its Contracts are immutable after Load and safe for concurrent use.
package contract

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// Suite names the chain's hash family for selectors and topics.
type Suite uint8

// Suites.
const (
	Keccak Suite = iota // ECDSA chains
	SM3                 // SM2/SM3 chains
)

// Kind says what a typed table holds.
type Kind uint8

// Table kinds.
const (
	EventTable Kind = iota + 1
	MethodTable
	ConstructorTable
)

// Column is one parameter column of a typed table, after the common columns (block number,
// block time, transaction hash, transaction index, log index for events, contract address,
// and for methods and constructors `from` and status).
type Column struct {
	// Name is the SQL column name, prefixes and suffixes applied, snake case, unique in its
	// table (never one of the common columns' names).
	Name string
	// Param is the ABI parameter's name (or "arg<i>" when unnamed, "out<i>" for outputs).
	Param string
	// ABIType is the canonical ABI type ("uint256", "address", "(uint256,string)[]").
	ABIType string
	// SQLType is the column type: numeric(78,0), text, boolean, bytea or jsonb, or the
	// configured override.
	SQLType string
	// Indexed marks an indexed event parameter; dynamic indexed types hold the topic hash.
	Indexed bool
	// Output marks a method output decoded from the receipt.
	Output bool
}

// Table is the typed table of one event, method or constructor of one contract.
type Table struct {
	// Name is the SQL table name (without schema), prefixes/suffixes applied, snake case;
	// overloads get a readable suffix from their parameter types.
	Name string
	Kind Kind
	// Contract is the contract's configured name.
	Contract string
	// Item is the event or method name as in the ABI ("constructor" for constructors).
	Item string
	// Signature is the canonical signature, e.g. "Transfer(address,address,uint256,string)".
	Signature string
	// Columns are the parameter columns in ABI order (inputs, then outputs for methods),
	// skipped parameters left out.
	Columns []Column
	// ID is the method's 4-byte selector or the event's 32-byte topic0, computed with the
	// chain's hash (nil for constructors).
	ID []byte
}

// Arg is one decoded parameter as the bus and the API show it.
type Arg struct {
	Name    string
	Type    string // canonical ABI type
	Indexed bool
	// Value is the JSON-friendly text: decimal for integers (exact, any sign and size),
	// 0x-hex for bytes and hashes, lowercase 0x addresses, "true"/"false", the UTF-8 string,
	// and JSON for arrays and tuples (with the same rules inside). An indexed string, bytes,
	// array or tuple is the 0x-hex topic hash (Type stays the ABI type). Invalid UTF-8 and
	// NUL become U+FFFD (see types.go).
	Value string
	// Raw is the parameter's ABI encoding (the topic for indexed parameters).
	Raw []byte
}

// Row is one decoded event, call or constructor.
type Row struct {
	Table *Table
	// Values are the parameter columns' values in Table.Columns order, ready for pgx:
	// numeric as pgtype.Numeric (exact), text as string, boolean as bool, bytea as []byte,
	// jsonb as json.RawMessage.
	Values []any
	// Args are all decoded parameters (skipped ones included) for DecodedEvent/DecodedCall.
	Args []Arg
}

// Contract is one registered contract.
type Contract struct {
	Name string
	// Addresses are the fixed addresses configured for it.
	Addresses []common.Address
	// Learn says every deployment of its creation bytecode is this contract.
	Learn bool
	// Tables are its typed tables (events, methods, constructor), not skipped ones.
	Tables []*Table
	// ABI is the ABI JSON array as configured.
	ABI []byte
	// Bin is the configured creation bytecode, nil when none was given.
	Bin []byte

	code    []byte // Bin without its metadata trailer
	hasMeta bool   // Bin ended with a metadata trailer
	items   []*item
	events  map[common.Hash]*item
	methods map[[4]byte]*item
	ctor    *item
}

// ErrUnknownItem reports a selector or topic that no method or event of the ABI has.
var ErrUnknownItem = errors.New("no ABI item matches")

// ErrSkippedItem reports an event, method or constructor the file's skip option (Data-Export
// generatedOff) excludes: it is known, but nothing of it is exported.
var ErrSkippedItem = errors.New("ABI item skipped by configuration")

// ErrMalformed reports data that does not decode against the ABI item its selector or topic
// names: short or inconsistent ABI encoding, a wrong number of topics, a deployment input that
// does not start with the contract's creation code.
var ErrMalformed = errors.New("data does not match the ABI")

// ErrNoBytecode reports a constructor decode for a contract configured without bin.
var ErrNoBytecode = errors.New("contract has no creation bytecode configured")

// Registry is the set of contracts from the -contracts file.
type Registry struct {
	contracts []*Contract
	tables    []*Table
	byAddr    map[common.Address]*Contract
	opts      Options
}

// Load reads the -contracts YAML file; paths inside it are relative to it. Errors name the
// file (and the contract entry) and the reason: a missing or unparsable ABI, bad bytecode,
// a malformed address, two contracts claiming one address, a table name collision.
func Load(path string, suite Suite, opts ...LoadOption) (*Registry, error) {
	return loadFile(path, suite, opts...)
}

// Registered is a contract registered over the API (ExportService.RegisterContract) rather
// than in the -contracts file: the same fields as a file entry, with the ABI JSON and the
// creation bytecode (hex) themselves instead of paths.
type Registered struct {
	Name      string
	ABI       []byte
	Bin       []byte
	Learn     bool
	Addresses []string
}

// registeredPrefix names a registered contract's ABI and bytecode inside load; no path in a
// file starts with a NUL byte.
const registeredPrefix = "\x00registered/"

// WithRegistered adds contracts registered over the API after the file's own; the file's
// options (skips, SQL types, prefixes) apply to them too.
func WithRegistered(rs ...Registered) LoadOption {
	return func(c *loadConfig) { c.registered = append(c.registered, rs...) }
}

// LoadRegistered builds a registry of API-registered contracts alone, for a deployment
// without a -contracts file (default options).
func LoadRegistered(rs []Registered, suite Suite, opts ...LoadOption) (*Registry, error) {
	read := func(name string) ([]byte, error) { return nil, fmt.Errorf("%s: no such registered file", name) }
	return load("(registered contracts)", []byte("contracts: []\n"), read, suite, append(opts, WithRegistered(rs...))...)
}

// Contracts returns the registered contracts in file order.
func (r *Registry) Contracts() []*Contract { return r.contracts }

// Tables returns every typed table of every contract.
func (r *Registry) Tables() []*Table { return r.tables }

// Options returns the file's options (the pipeline reads DisabledData and SkipBaseColumns).
func (r *Registry) Options() Options { return r.opts }

// ByAddress returns the contract configured at a fixed address.
func (r *Registry) ByAddress(addr common.Address) (*Contract, bool) {
	c, ok := r.byAddr[addr]
	return c, ok
}

// MatchCreation returns the contract whose creation bytecode (CBOR metadata stripped) starts
// the deployment input, so identical contracts compiled elsewhere still match; the rest of
// the input is the constructor arguments. Only contracts that give their bytecode match,
// and only those with learn: true (a contract known by fixed addresses only is found with
// ByAddress). When several match, the longest code wins.
func (r *Registry) MatchCreation(input []byte) (*Contract, bool) {
	var best *Contract
	for _, c := range r.contracts {
		if !c.Learn || c.code == nil {
			continue
		}
		if _, ok := c.constructorArgs(input); ok && (best == nil || len(c.code) > len(best.code)) {
			best = c
		}
	}
	return best, best != nil
}
