package contract

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
)

// Options are the file's options. The table and column affixes are already applied to
// Tables, and so are DisabledData's event and method (no event, or no method and constructor,
// tables); DisabledData and SkipBaseColumns are otherwise for the pipeline, passed through as
// written (Data-Export's names: block_detail_info, tx_raw_data, …, event, method), and checked
// by the compat package.
type Options struct {
	TablePrefix  string
	TableSuffix  string
	ColumnPrefix string
	ColumnSuffix string
	// DisabledData lists data types not to export (Data-Export dataTypeBlackList).
	DisabledData []string
	// SkipBaseColumns maps a base table to columns not to fill (Data-Export
	// ignoreBasicDataTableParam).
	SkipBaseColumns map[string][]string
}

// item is one event, method or constructor of an ABI, exported or skipped.
type item struct {
	kind    Kind
	rawName string // ABI name, "constructor" for the constructor
	sig     string
	id      []byte        // selector or topic in the chain's hash
	table   *Table        // nil when skipped
	inputs  abi.Arguments // as decoded: decodeType applied (quirks.go)
	outputs abi.Arguments
	params  []param // inputs then outputs
}

// param is one parameter of an item and where it goes.
type param struct {
	name    string   // Arg.Name: the ABI name, arg<i> or out<i>
	typ     abi.Type // the ABI's type
	dtyp    abi.Type // the type go-ethereum decodes with (quirks.go)
	indexed bool
	output  bool
	column  string // column name, computed even when skipped so names stay stable
	col     int    // index in Table.Columns, -1 when skipped
	family  sqlFamily
}

// readFunc reads a file named in the -contracts file.
type readFunc func(name string) ([]byte, error)

func newHasher(s Suite) (func(...[]byte) common.Hash, error) {
	switch s {
	case Keccak:
		return cryptosuite.ECDSA().Hash, nil
	case SM3:
		return cryptosuite.SM().Hash, nil
	}
	return nil, fmt.Errorf("unknown crypto suite %d", s)
}

func loadFile(path string, suite Suite, opts ...LoadOption) (*Registry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load contracts: %w", err)
	}
	dir := filepath.Dir(path)
	read := func(name string) ([]byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		return os.ReadFile(name)
	}
	return load(path, data, read, suite, opts...)
}

// LoadOption adjusts Load.
type LoadOption func(*loadConfig)

type loadConfig struct {
	reserved   []string
	registered []Registered
}

// WithReservedTables makes Load refuse a typed table whose name is one of names (after
// affixes), e.g. the pipeline's own tables in the same schema.
func WithReservedTables(names ...string) LoadOption {
	return func(c *loadConfig) { c.reserved = append(c.reserved, names...) }
}

// load builds a registry from the -contracts file's bytes; name is the file for errors.
func load(name string, data []byte, read readFunc, suite Suite, opts ...LoadOption) (*Registry, error) {
	var cfg loadConfig
	for _, o := range opts {
		o(&cfg)
	}
	fail := func(err error) (*Registry, error) {
		var le *lineError
		if errors.As(err, &le) && le.line > 0 {
			return nil, fmt.Errorf("contracts file %s:%d: %s", name, le.line, le.msg)
		}
		return nil, fmt.Errorf("contracts file %s: %w", name, err)
	}
	hash, err := newHasher(suite)
	if err != nil {
		return fail(err)
	}
	f, err := parseFile(data)
	if err != nil {
		return fail(err)
	}
	// Contracts registered over the API come after the file's, their ABI and bytecode served
	// from memory under names no file can have.
	if len(cfg.registered) > 0 {
		fileRead := read
		byName := map[string][]byte{}
		for i, r := range cfg.registered {
			cy := contractYAML{Name: r.Name, ABI: fmt.Sprintf("%s%d.abi", registeredPrefix, i), Learn: r.Learn, Addresses: r.Addresses}
			byName[cy.ABI] = r.ABI
			if len(r.Bin) > 0 {
				cy.Bin = fmt.Sprintf("%s%d.bin", registeredPrefix, i)
				byName[cy.Bin] = r.Bin
			}
			f.contracts = append(f.contracts, cy)
		}
		read = func(name string) ([]byte, error) {
			if b, ok := byName[name]; ok {
				return b, nil
			}
			return fileRead(name)
		}
	}
	o := f.opts
	for _, a := range []struct{ key, v string }{
		{"tablePrefix", o.tablePrefix}, {"tableSuffix", o.tableSuffix},
		{"columnPrefix", o.columnPrefix}, {"columnSuffix", o.columnSuffix},
	} {
		if !validAffix(a.v) {
			return fail(&lineError{line: o.lines[a.key], msg: fmt.Sprintf("%s %q: use lowercase letters, digits and underscores", a.key, a.v)})
		}
		if len(a.v) > 20 {
			return fail(&lineError{line: o.lines[a.key], msg: fmt.Sprintf("%s %q: longer than 20 bytes", a.key, a.v)})
		}
	}
	r := &Registry{
		byAddr: make(map[common.Address]*Contract),
		opts: Options{
			TablePrefix: o.tablePrefix, TableSuffix: o.tableSuffix,
			ColumnPrefix: o.columnPrefix, ColumnSuffix: o.columnSuffix,
			DisabledData: o.disabledData, SkipBaseColumns: o.skipBaseColumns,
		},
	}
	names := make(map[string]int)
	tableOwner := make(map[string]string)
	for _, t := range cfg.reserved {
		tableOwner[t] = "the service's own tables"
	}
	for i, cy := range f.contracts {
		c, err := buildContract(cy, read, hash, r.opts)
		if err != nil {
			return fail(&lineError{line: cy.line, msg: fmt.Sprintf("contracts[%d] %q: %v", i, cy.Name, err)})
		}
		if prev, dup := names[strings.ToLower(c.Name)]; dup {
			return fail(&lineError{line: cy.line, msg: fmt.Sprintf("contracts[%d]: name %q already used by contracts[%d]", i, c.Name, prev)})
		}
		names[strings.ToLower(c.Name)] = i
		for _, a := range c.Addresses {
			if other, dup := r.byAddr[a]; dup {
				return fail(&lineError{line: cy.line, msg: fmt.Sprintf("contracts[%d] %q: address %s already belongs to %q", i, c.Name, strings.ToLower(a.Hex()), other.Name)})
			}
			r.byAddr[a] = c
		}
		r.contracts = append(r.contracts, c)
	}
	if err := r.applyOptions(f.opts); err != nil {
		return fail(err)
	}
	r.disableKinds(o.disabledData)
	for _, c := range r.contracts {
		kept := c.Tables[:0]
		for _, t := range c.Tables {
			if it := c.itemOf(t); it != nil && it.table != nil {
				kept = append(kept, t)
			}
		}
		c.Tables = kept
		for _, t := range c.Tables {
			if other, dup := tableOwner[t.Name]; dup {
				return fail(fmt.Errorf("table name %s of %s.%s collides with %s", t.Name, c.Name, t.Signature, other))
			}
			tableOwner[t.Name] = "a table of " + c.Name + "." + t.Signature
			r.tables = append(r.tables, t)
		}
	}
	return r, nil
}

// buildContract reads one contract's ABI and bytecode and derives its tables.
func buildContract(cy contractYAML, read readFunc, hash func(...[]byte) common.Hash, opts Options) (*Contract, error) {
	if cy.Name == "" {
		return nil, errors.New("name missing")
	}
	if snake(cy.Name) == "" {
		return nil, fmt.Errorf("name %q has no letters or digits", cy.Name)
	}
	if cy.ABI == "" {
		return nil, errors.New("abi missing")
	}
	c := &Contract{
		Name:    cy.Name,
		Learn:   cy.Learn,
		events:  make(map[common.Hash]*item),
		methods: make(map[[4]byte]*item),
	}
	for _, s := range cy.Addresses {
		if !common.IsHexAddress(s) || !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0X") {
			return nil, fmt.Errorf("address %q: want 0x and 40 hex digits", s)
		}
		a := common.HexToAddress(s)
		for _, b := range c.Addresses {
			if a == b {
				return nil, fmt.Errorf("address %s listed twice", s)
			}
		}
		c.Addresses = append(c.Addresses, a)
	}
	raw, err := read(cy.ABI)
	if err != nil {
		return nil, fmt.Errorf("read abi: %w", err)
	}
	if err := c.parseABI(raw, hash); err != nil {
		return nil, fmt.Errorf("abi %s: %w", cy.ABI, err)
	}
	if cy.Bin != "" {
		b, err := read(cy.Bin)
		if err != nil {
			return nil, fmt.Errorf("read bin: %w", err)
		}
		code, err := parseHexCode(b)
		if err != nil {
			return nil, fmt.Errorf("bin %s: %w", cy.Bin, err)
		}
		c.Bin = code
		c.code = stripMetadata(code)
		c.hasMeta = len(c.code) < len(code)
		if len(c.code) == 0 {
			return nil, fmt.Errorf("bin %s: no code before the metadata", cy.Bin)
		}
	}
	if cy.Learn && c.Bin == nil {
		return nil, errors.New("learn needs bin (the creation bytecode to recognise deployments by)")
	}
	if !cy.Learn && len(c.Addresses) == 0 {
		return nil, errors.New("neither learn nor addresses: nothing would ever be decoded as this contract")
	}
	c.nameTables(opts)
	return c, nil
}

// parseHexCode reads a .bin file: hex with optional 0x, surrounding whitespace allowed.
func parseHexCode(b []byte) ([]byte, error) {
	s := strings.TrimSpace(string(b))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if s == "" {
		return nil, errors.New("empty")
	}
	if i := strings.Index(s, "__"); i >= 0 {
		return nil, fmt.Errorf("unlinked library placeholder at hex offset %d", i)
	}
	code, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not hex: %w", err)
	}
	return code, nil
}

// abiEntry is what parseABI needs to know of an entry before go-ethereum parses it.
type abiEntry struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

// parseABI parses the ABI entry by entry, so tables follow the ABI's order, and computes
// selectors and topics with the chain's hash. It accepts a bare ABI array or an artefact
// object with an "abi" field (Truffle, Hardhat).
func (c *Contract) parseABI(raw []byte, hash func(...[]byte) common.Hash) (err error) {
	defer func() {
		// go-ethereum builds reflect types from ABI names and panics on some (a tuple
		// component named "a-b"); refuse such an ABI instead.
		if p := recover(); p != nil {
			err = fmt.Errorf("unsupported ABI: %v", p)
		}
	}()
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var art struct {
			ABI json.RawMessage `json:"abi"`
		}
		if err := json.Unmarshal(trimmed, &art); err != nil {
			return fmt.Errorf("parse artefact: %w", err)
		}
		if art.ABI == nil {
			return errors.New("object without an abi field")
		}
		trimmed = art.ABI
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(trimmed, &entries); err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	c.ABI = append([]byte(nil), trimmed...)
	seen := make(map[string]int)
	for i, e := range entries {
		var head abiEntry
		if err := json.Unmarshal(e, &head); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		if head.Type == "error" {
			// solc ≥ 0.8.4 custom errors: go-ethereum v1.9.16 does not know them, and they
			// make no table (revert data is not decoded beyond Error(string)).
			continue
		}
		one := append(append([]byte{'['}, e...), ']')
		a, err := abi.JSON(bytes.NewReader(one))
		if err != nil {
			return fmt.Errorf("entry %d (%s %s): %w", i, head.Type, head.Name, err)
		}
		var it *item
		switch head.Type {
		case "function":
			m := a.Methods[head.Name]
			it = &item{kind: MethodTable, rawName: m.RawName, sig: m.Sig, inputs: m.Inputs, outputs: m.Outputs}
			sel := hash([]byte(m.Sig))
			it.id = sel[:4]
		case "event":
			ev := a.Events[head.Name]
			if ev.Anonymous {
				// Anonymous events carry no topic0, so a log cannot be attributed to one.
				continue
			}
			it = &item{kind: EventTable, rawName: ev.RawName, sig: ev.Sig, inputs: ev.Inputs}
			h := hash([]byte(ev.Sig))
			it.id = h[:]
		case "constructor":
			if len(a.Constructor.Inputs) == 0 {
				continue
			}
			it = &item{kind: ConstructorTable, rawName: "constructor", inputs: a.Constructor.Inputs}
			it.sig = "constructor(" + strings.Join(argTypes(it.inputs), ",") + ")"
		default: // fallback, receive
			continue
		}
		for _, p := range append(append(abi.Arguments{}, it.inputs...), it.outputs...) {
			if err := checkType(p.Type); err != nil {
				return fmt.Errorf("entry %d (%s): %w", i, it.sig, err)
			}
		}
		key := fmt.Sprintf("%d %s", it.kind, it.sig)
		if prev, dup := seen[key]; dup {
			return fmt.Errorf("entry %d repeats entry %d (%s)", i, prev, it.sig)
		}
		seen[key] = i
		for j, p := range it.inputs {
			name := p.Name
			if name == "" {
				name = fmt.Sprintf("arg%d", j)
			}
			it.params = append(it.params, param{name: name, typ: p.Type, indexed: p.Indexed})
		}
		for j, p := range it.outputs {
			name := p.Name
			if name == "" {
				name = fmt.Sprintf("out%d", j)
			}
			it.params = append(it.params, param{name: name, typ: p.Type, output: true})
		}
		if it.inputs, err = decodeArgs(it.inputs); err != nil {
			return fmt.Errorf("entry %d (%s): %w", i, it.sig, err)
		}
		if it.outputs, err = decodeArgs(it.outputs); err != nil {
			return fmt.Errorf("entry %d (%s): %w", i, it.sig, err)
		}
		for j := range it.params {
			if j < len(it.inputs) {
				it.params[j].dtyp = it.inputs[j].Type
			} else {
				it.params[j].dtyp = it.outputs[j-len(it.inputs)].Type
			}
		}
		switch it.kind {
		case EventTable:
			c.events[common.BytesToHash(it.id)] = it
		case MethodTable:
			sel := [4]byte(it.id)
			if other, dup := c.methods[sel]; dup {
				return fmt.Errorf("entry %d: %s has the selector of %s", i, it.sig, other.sig)
			}
			c.methods[sel] = it
		case ConstructorTable:
			c.ctor = it
		}
		c.items = append(c.items, it)
	}
	return nil
}

// decodeArgs returns a copy of args with decodeType applied.
func decodeArgs(args abi.Arguments) (abi.Arguments, error) {
	out := make(abi.Arguments, len(args))
	for i, a := range args {
		t, err := decodeType(a.Type)
		if err != nil {
			return nil, err
		}
		out[i] = abi.Argument{Name: a.Name, Type: t, Indexed: a.Indexed}
	}
	return out, nil
}

func argTypes(args abi.Arguments) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a.Type.String()
	}
	return out
}

// nameTables derives the table and column names of every item (see naming.go).
func (c *Contract) nameTables(o Options) {
	cname := snake(c.Name)
	bases := make(map[*item]string)
	eventNames := make(map[string]bool)
	firstOf := make(map[string]*item)
	for _, kind := range []Kind{EventTable, MethodTable, ConstructorTable} {
		for _, it := range c.items {
			if it.kind != kind {
				continue
			}
			base := snake(it.rawName)
			if base == "" {
				base = "x"
			}
			if kind == EventTable {
				eventNames[base] = true
			} else if kind == MethodTable && eventNames[base] {
				base += "_method"
			}
			key := fmt.Sprintf("%d %s", kind, it.rawName)
			if first, ok := firstOf[key]; ok && first != it {
				base += "_" + typeSuffix(argTypes(it.inputs))
			} else {
				firstOf[key] = it
			}
			bases[it] = base
		}
	}
	tables := newUniqueNamer()
	// Claim in kind order so events keep the plain names, then store in ABI order.
	names := make(map[*item]string)
	for _, kind := range []Kind{EventTable, MethodTable, ConstructorTable} {
		for _, it := range c.items {
			if it.kind == kind {
				names[it] = tables.claim(o.TablePrefix + cname + "_" + bases[it] + o.TableSuffix)
			}
		}
	}
	for _, it := range c.items {
		t := &Table{Name: names[it], Kind: it.kind, Contract: c.Name, Item: it.rawName, Signature: it.sig, ID: it.id}
		cols := newUniqueNamer(CommonColumns...)
		for i := range it.params {
			p := &it.params[i]
			s := snake(p.name)
			if s == "" {
				s = fmt.Sprintf("arg%d", i)
			}
			p.column = cols.claim(o.ColumnPrefix + s + o.ColumnSuffix)
			p.col = len(t.Columns)
			t.Columns = append(t.Columns, Column{
				Name:    p.column,
				Param:   p.name,
				ABIType: p.typ.String(),
				SQLType: sqlTypeOf(p.typ, p.indexed),
				Indexed: p.indexed,
				Output:  p.output,
			})
		}
		it.table = t
		c.Tables = append(c.Tables, t)
	}
}

// itemOf returns the item whose table t is.
func (c *Contract) itemOf(t *Table) *item {
	for _, it := range c.items {
		if it.table == t {
			return it
		}
	}
	return nil
}

// match returns the items a reference names: a signature, "constructor", or an ABI name
// (every overload, events and methods alike).
func (c *Contract) match(ref string) []*item {
	var out []*item
	for _, it := range c.items {
		if it.sig == ref || it.rawName == ref { // the constructor's rawName is "constructor"
			out = append(out, it)
		}
	}
	return out
}

// applyOptions applies skip, skipParams and sqlTypes, refusing names that match nothing.
func (r *Registry) applyOptions(o optionsYAML) error {
	byName := make(map[string]*Contract)
	for _, c := range r.contracts {
		byName[c.Name] = c
	}
	contractOf := func(key, name string) (*Contract, error) {
		c, ok := byName[name]
		if !ok {
			return nil, &lineError{line: o.lines[key], msg: fmt.Sprintf("%s: no contract named %q", key, name)}
		}
		return c, nil
	}
	itemsOf := func(key string, c *Contract, ref string) ([]*item, error) {
		its := c.match(ref)
		if len(its) == 0 {
			return nil, &lineError{line: o.lines[key], msg: fmt.Sprintf("%s: contract %q has no event, method or constructor %q", key, c.Name, ref)}
		}
		return its, nil
	}
	// paramsOf finds a parameter in the items a reference names; with overloads it must be
	// in at least one of them.
	type itemParam struct {
		it *item
		p  *param
	}
	paramsOf := func(key string, its []*item, name string) ([]itemParam, error) {
		var out []itemParam
		var sigs []string
		for _, it := range its {
			sigs = append(sigs, it.sig)
			for i := range it.params {
				if it.params[i].name == name {
					out = append(out, itemParam{it, &it.params[i]})
				}
			}
		}
		if len(out) == 0 {
			return nil, &lineError{line: o.lines[key], msg: fmt.Sprintf("%s: %s has no parameter %q", key, strings.Join(sigs, ", "), name)}
		}
		return out, nil
	}
	for _, cname := range sortedKeys(o.sqlTypes) {
		c, err := contractOf("sqlTypes", cname)
		if err != nil {
			return err
		}
		for _, ref := range sortedKeys(o.sqlTypes[cname]) {
			its, err := itemsOf("sqlTypes", c, ref)
			if err != nil {
				return err
			}
			for _, pname := range sortedKeys(o.sqlTypes[cname][ref]) {
				typ := strings.ToLower(strings.TrimSpace(o.sqlTypes[cname][ref][pname]))
				if !sqlTypePattern.MatchString(typ) {
					return &lineError{line: o.lines["sqlTypes"], msg: fmt.Sprintf("sqlTypes: %s.%s.%s: %q is not an SQL type name", cname, ref, pname, typ)}
				}
				ps, err := paramsOf("sqlTypes", its, pname)
				if err != nil {
					return err
				}
				for _, ip := range ps {
					it, p := ip.it, ip.p
					fam := familyOf(typ)
					if fam == familyNumeric && p.typ.T != abi.IntTy && p.typ.T != abi.UintTy {
						return &lineError{line: o.lines["sqlTypes"], msg: fmt.Sprintf("sqlTypes: %s.%s.%s: %s cannot hold a %s", cname, ref, pname, typ, p.typ.String())}
					}
					p.family = fam
					it.table.Columns[p.col].SQLType = typ
				}
			}
		}
	}
	for _, cname := range sortedKeys(o.skipParams) {
		c, err := contractOf("skipParams", cname)
		if err != nil {
			return err
		}
		for _, ref := range sortedKeys(o.skipParams[cname]) {
			its, err := itemsOf("skipParams", c, ref)
			if err != nil {
				return err
			}
			for _, pname := range o.skipParams[cname][ref] {
				ps, err := paramsOf("skipParams", its, pname)
				if err != nil {
					return err
				}
				for _, ip := range ps {
					ip.p.col = -1
				}
			}
			for _, it := range its {
				// Renumber the remaining columns.
				var cols []Column
				for i := range it.params {
					p := &it.params[i]
					if p.col < 0 {
						continue
					}
					cols = append(cols, it.table.Columns[p.col])
					p.col = len(cols) - 1
				}
				it.table.Columns = cols
			}
		}
	}
	for _, cname := range sortedKeys(o.skip) {
		c, err := contractOf("skip", cname)
		if err != nil {
			return err
		}
		for _, ref := range o.skip[cname] {
			its, err := itemsOf("skip", c, ref)
			if err != nil {
				return err
			}
			for _, it := range its {
				it.table = nil
			}
		}
	}
	return nil
}

// disableKinds drops every event table when disabledData names "event" and every method and
// constructor table when it names "method" (Data-Export's DataType EVENT and METHOD): the items
// stay known, so their logs and calls are skipped, not failures. The other data types are the
// pipeline's (see the compat package).
func (r *Registry) disableKinds(disabled []string) {
	for _, d := range disabled {
		for _, c := range r.contracts {
			for _, it := range c.items {
				if d == "event" && it.kind == EventTable || d == "method" && it.kind != EventTable {
					it.table = nil
				}
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
