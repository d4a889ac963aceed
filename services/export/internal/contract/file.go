package contract

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// The -contracts file. Keys are checked strictly (an unknown key is an error, so a typo is
// never silently ignored). Options take our name or Data-Export's property name (without
// "system."), and either a YAML structure or Data-Export's one-line string form:
//
//	tablePrefix: ""          # Data-Export tablePrefix
//	tableSuffix: ""          # Data-Export tablePostfix
//	columnPrefix: ""         # Data-Export namePrefix
//	columnSuffix: ""         # Data-Export namePostfix
//	skip:                    # Data-Export generatedOff / generatedOffStr: "Asset.Issue,transfer|Evidence.store"
//	  Asset: [Issue, "transfer(address,uint256,string)"]
//	skipParams:              # Data-Export ignoreParam: "Asset.Transfer.memo,amount|…"
//	  Asset: {Transfer: [memo]}
//	sqlTypes:                # Data-Export paramSQLType: "Asset.Transfer.memo.varchar(256)|…"
//	  Asset: {Transfer: {memo: varchar(256)}}
//	disabledData: [tx_raw_data]        # Data-Export dataTypeBlackList / dataTypeBlackLists: "a,b"
//	skipBaseColumns:                   # Data-Export ignoreBasicDataTableParam(s): "tx_raw_data.from,to|…"
//	  tx_raw_data: [input]
//	contracts:
//	  - name: Asset
//	    abi: abi/Asset.abi.json          # relative to this file
//	    bin: abi/Asset.bin               # creation bytecode, hex, optional 0x (optional)
//	    learn: true                      # every deployment of bin is an Asset
//	    addresses: ["0x…"]               # and/or fixed addresses
//
// Items (events, methods, "constructor") are named by their ABI name, which selects every
// overload, or by canonical signature ("transfer(address,uint256)"), which selects one.

// fileYAML is the decoded -contracts file.
type fileYAML struct {
	contracts []contractYAML
	opts      optionsYAML
}

// optionsYAML holds the options as written, with the YAML line of each for errors.
type optionsYAML struct {
	tablePrefix, tableSuffix, columnPrefix, columnSuffix string
	skip                                                 map[string][]string                     // contract → items
	skipParams                                           map[string]map[string][]string          // contract → item → params
	sqlTypes                                             map[string]map[string]map[string]string // contract → item → param → type
	disabledData                                         []string                                // data types
	skipBaseColumns                                      map[string][]string                     // base table → columns
	lines                                                map[string]int                          // option → line
}

// contractYAML is one entry of contracts.
type contractYAML struct {
	Name      string   `yaml:"name"`
	ABI       string   `yaml:"abi"`
	Bin       string   `yaml:"bin"`
	Learn     bool     `yaml:"learn"`
	Addresses []string `yaml:"addresses"`
	line      int
}

// option keys: our name first, then Data-Export's aliases.
var optionKeys = [][]string{
	{"tablePrefix"},
	{"tableSuffix", "tablePostfix"},
	{"columnPrefix", "namePrefix"},
	{"columnSuffix", "namePostfix"},
	{"skip", "generatedOff", "generatedOffStr"},
	{"skipParams", "ignoreParam"},
	{"sqlTypes", "paramSQLType"},
	{"disabledData", "dataTypeBlackList", "dataTypeBlackLists"},
	{"skipBaseColumns", "ignoreBasicDataTableParam", "ignoreBasicDataTableParams"},
}

var contractKeys = []string{"name", "abi", "bin", "learn", "addresses"}

// lineError is an error at a line of the file.
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("line %d: %s", e.line, e.msg)
	}
	return e.msg
}

func errAt(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &lineError{line: line, msg: fmt.Sprintf(format, args...)}
}

// parseFile decodes the YAML document.
func parseFile(data []byte) (*fileYAML, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &lineError{msg: "empty file: want a mapping with contracts"}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, errAt(root, "want a mapping with contracts, got %s", kindName(root))
	}
	f := &fileYAML{opts: optionsYAML{lines: make(map[string]int)}}
	canonical := make(map[string]string)
	for _, keys := range optionKeys {
		for _, k := range keys {
			canonical[k] = keys[0]
		}
	}
	seen := make(map[string]string)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, errAt(k, "keys must be plain names")
		}
		if k.Value == "contracts" {
			if _, dup := seen["contracts"]; dup {
				return nil, errAt(k, "contracts given twice")
			}
			seen["contracts"] = "contracts"
			cs, err := parseContracts(v)
			if err != nil {
				return nil, err
			}
			f.contracts = cs
			continue
		}
		name, ok := canonical[k.Value]
		if !ok {
			return nil, errAt(k, "unknown key %q (known: contracts, %s)", k.Value, strings.Join(allOptionKeys(), ", "))
		}
		if prev, dup := seen[name]; dup {
			return nil, errAt(k, "%s sets the same option as %s", k.Value, prev)
		}
		seen[name] = k.Value
		f.opts.lines[name] = k.Line
		if err := f.opts.set(name, v); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func allOptionKeys() []string {
	var out []string
	for _, keys := range optionKeys {
		out = append(out, keys...)
	}
	return out
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

func parseContracts(n *yaml.Node) ([]contractYAML, error) {
	if n.Kind != yaml.SequenceNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil, nil
		}
		return nil, errAt(n, "contracts: want a list, got %s", kindName(n))
	}
	out := make([]contractYAML, 0, len(n.Content))
	for i, e := range n.Content {
		if e.Kind != yaml.MappingNode {
			return nil, errAt(e, "contracts[%d]: want a mapping, got %s", i, kindName(e))
		}
		seen := make(map[string]bool)
		for j := 0; j+1 < len(e.Content); j += 2 {
			k := e.Content[j]
			if !slices.Contains(contractKeys, k.Value) {
				return nil, errAt(k, "contracts[%d]: unknown key %q (known: %s)", i, k.Value, strings.Join(contractKeys, ", "))
			}
			if seen[k.Value] {
				return nil, errAt(k, "contracts[%d]: %s given twice", i, k.Value)
			}
			seen[k.Value] = true
		}
		c := contractYAML{line: e.Line}
		if err := e.Decode(&c); err != nil {
			return nil, errAt(e, "contracts[%d]: %s", i, yamlReason(err))
		}
		out = append(out, c)
	}
	return out, nil
}

// yamlReason strips yaml.v3's "yaml: unmarshal errors:" framing.
func yamlReason(err error) string {
	if te, ok := errors.AsType[*yaml.TypeError](err); ok {
		return strings.Join(te.Errors, "; ")
	}
	return err.Error()
}

func (o *optionsYAML) set(name string, v *yaml.Node) error {
	var err error
	switch name {
	case "tablePrefix":
		o.tablePrefix, err = scalar(name, v)
	case "tableSuffix":
		o.tableSuffix, err = scalar(name, v)
	case "columnPrefix":
		o.columnPrefix, err = scalar(name, v)
	case "columnSuffix":
		o.columnSuffix, err = scalar(name, v)
	case "skip":
		o.skip, err = listMap(name, v)
	case "skipBaseColumns":
		o.skipBaseColumns, err = listMap(name, v)
	case "skipParams":
		o.skipParams, err = parseSkipParams(name, v)
	case "sqlTypes":
		o.sqlTypes, err = parseSQLTypes(name, v)
	case "disabledData":
		o.disabledData, err = stringList(name, v)
	}
	return err
}

func scalar(name string, v *yaml.Node) (string, error) {
	if v.Kind != yaml.ScalarNode {
		return "", errAt(v, "%s: want a string, got %s", name, kindName(v))
	}
	if v.Tag == "!!null" {
		return "", nil
	}
	return v.Value, nil
}

// stringList reads a list of names, or Data-Export's comma-separated string.
func stringList(name string, v *yaml.Node) ([]string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return nil, nil
		}
		return splitNames(v.Value), nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(v.Content))
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode || e.Value == "" {
				return nil, errAt(e, "%s: want names, got %s", name, kindName(e))
			}
			out = append(out, e.Value)
		}
		return out, nil
	}
	return nil, errAt(v, "%s: want a list or a comma-separated string, got %s", name, kindName(v))
}

// listMap reads {key: [names]} or Data-Export's "Key.a,b|Key2.c".
func listMap(name string, v *yaml.Node) (map[string][]string, error) {
	out := make(map[string][]string)
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return out, nil
		}
		for _, entry := range splitEntries(v.Value) {
			key, rest, ok := strings.Cut(entry, ".")
			if !ok || key == "" || rest == "" {
				return nil, errAt(v, "%s: entry %q: want Name.a,b", name, entry)
			}
			out[key] = append(out[key], splitNames(rest)...)
		}
		return out, nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(v.Content); i += 2 {
			k := v.Content[i]
			names, err := stringList(name+"."+k.Value, v.Content[i+1])
			if err != nil {
				return nil, err
			}
			out[k.Value] = append(out[k.Value], names...)
		}
		return out, nil
	}
	return nil, errAt(v, "%s: want a mapping or a Data-Export string, got %s", name, kindName(v))
}

func parseSkipParams(name string, v *yaml.Node) (map[string]map[string][]string, error) {
	out := make(map[string]map[string][]string)
	add := func(c, item string, params []string) {
		if out[c] == nil {
			out[c] = make(map[string][]string)
		}
		out[c][item] = append(out[c][item], params...)
	}
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return out, nil
		}
		for _, entry := range splitEntries(v.Value) {
			c, item, rest, ok := cutItem(entry)
			if !ok || rest == "" {
				return nil, errAt(v, "%s: entry %q: want Contract.item.p1,p2", name, entry)
			}
			add(c, item, splitNames(rest))
		}
		return out, nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(v.Content); i += 2 {
			c, items := v.Content[i].Value, v.Content[i+1]
			if items.Kind != yaml.MappingNode {
				return nil, errAt(items, "%s.%s: want a mapping of item to parameters, got %s", name, c, kindName(items))
			}
			for j := 0; j+1 < len(items.Content); j += 2 {
				item := items.Content[j].Value
				params, err := stringList(name+"."+c+"."+item, items.Content[j+1])
				if err != nil {
					return nil, err
				}
				add(c, item, params)
			}
		}
		return out, nil
	}
	return nil, errAt(v, "%s: want a mapping or a Data-Export string, got %s", name, kindName(v))
}

func parseSQLTypes(name string, v *yaml.Node) (map[string]map[string]map[string]string, error) {
	out := make(map[string]map[string]map[string]string)
	add := func(n *yaml.Node, c, item, param, typ string) error {
		if out[c] == nil {
			out[c] = make(map[string]map[string]string)
		}
		if out[c][item] == nil {
			out[c][item] = make(map[string]string)
		}
		if _, dup := out[c][item][param]; dup {
			return errAt(n, "%s: %s.%s.%s given twice", name, c, item, param)
		}
		out[c][item][param] = typ
		return nil
	}
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return out, nil
		}
		for _, entry := range splitEntries(v.Value) {
			c, item, rest, ok := cutItem(entry)
			param, typ, ok2 := strings.Cut(rest, ".")
			if !ok || !ok2 || param == "" || typ == "" {
				return nil, errAt(v, "%s: entry %q: want Contract.item.param.sqlType", name, entry)
			}
			if err := add(v, c, item, param, strings.TrimSpace(typ)); err != nil {
				return nil, err
			}
		}
		return out, nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(v.Content); i += 2 {
			c, items := v.Content[i].Value, v.Content[i+1]
			if items.Kind != yaml.MappingNode {
				return nil, errAt(items, "%s.%s: want a mapping of item to parameters, got %s", name, c, kindName(items))
			}
			for j := 0; j+1 < len(items.Content); j += 2 {
				item, params := items.Content[j].Value, items.Content[j+1]
				if params.Kind != yaml.MappingNode {
					return nil, errAt(params, "%s.%s.%s: want a mapping of parameter to SQL type, got %s", name, c, item, kindName(params))
				}
				for k := 0; k+1 < len(params.Content); k += 2 {
					p, t := params.Content[k], params.Content[k+1]
					if t.Kind != yaml.ScalarNode || t.Value == "" {
						return nil, errAt(t, "%s.%s.%s.%s: want an SQL type, got %s", name, c, item, p.Value, kindName(t))
					}
					if err := add(p, c, item, p.Value, t.Value); err != nil {
						return nil, err
					}
				}
			}
		}
		return out, nil
	}
	return nil, errAt(v, "%s: want a mapping or a Data-Export string, got %s", name, kindName(v))
}

// cutItem splits "Contract.item.rest", where item may be a signature with dots in none of
// its parts but commas and parentheses.
func cutItem(entry string) (c, item, rest string, ok bool) {
	c, after, ok := strings.Cut(entry, ".")
	if !ok || c == "" {
		return "", "", "", false
	}
	depth := 0
	for i, r := range after {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case '.':
			if depth == 0 {
				if i == 0 {
					return "", "", "", false
				}
				return c, after[:i], after[i+1:], true
			}
		}
	}
	return "", "", "", false
}

// splitEntries splits a Data-Export option string on "|".
func splitEntries(s string) []string {
	var out []string
	for _, e := range strings.Split(s, "|") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// splitNames splits on commas outside parentheses, so signatures survive.
func splitNames(s string) []string {
	var out []string
	depth, start := 0, 0
	flush := func(end int) {
		if n := strings.TrimSpace(s[start:end]); n != "" {
			out = append(out, n)
		}
	}
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				flush(i)
				start = i + 1
			}
		}
	}
	flush(len(s))
	return out
}
