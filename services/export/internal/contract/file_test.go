package contract

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/google/go-cmp/cmp"
)

const assetABI = `[
 {"type":"event","name":"Transfer","inputs":[{"name":"from","type":"address","indexed":true},{"name":"amount","type":"uint256"},{"name":"memo","type":"string"}]},
 {"type":"event","name":"Issue","inputs":[{"name":"amount","type":"uint256"}]},
 {"type":"function","name":"transfer","stateMutability":"nonpayable","inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"}],"outputs":[]},
 {"type":"function","name":"transfer","stateMutability":"nonpayable","inputs":[{"name":"to","type":"address"}],"outputs":[]}
]`

var baseFiles = files{
	"a.json":     assetABI,
	"a.bin":      "0x6080604052",
	"bad.json":   `[{"type":"function","name":"f","inputs":[{"name":"x","type":"uint257"}]}]`,
	"notjson":    `{"abi": 3}`,
	"fixed.json": `[{"type":"event","name":"E","inputs":[{"name":"x","type":"fixed128x18"}]}]`,
	"huge.json":  `[{"type":"event","name":"E","inputs":[{"name":"x","type":"uint256[1000][1000]"}]}]`,
	"weird.json": `[{"type":"event","name":"E","inputs":[{"name":"x","type":"tuple","components":[{"name":"a-b","type":"uint8"}]}]}]`,
	"dup.json":   `[{"type":"event","name":"E","inputs":[]},{"type":"event","name":"E","inputs":[]}]`,
	"link.bin":   "6080__$a1b2$__6040",
	"odd.bin":    "0x608",
}

const asset = `  - name: Asset
    abi: a.json
    addresses: ["0x00000000000000000000000000000000000000aa"]
`

// TestLoadErrors: every rejected file names the file, the line and the reason.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // substring after "contracts file test.yaml"
	}{
		{"empty", "", "test.yaml: empty file"},
		{"not a mapping", "- a\n", "test.yaml:1: want a mapping"},
		{"yaml syntax", "contracts: [\n", "test.yaml: yaml: line"},
		{"unknown top-level key", "contracts: []\ntablePrefx: x\n", `test.yaml:2: unknown key "tablePrefx"`},
		{"unknown contract key", "contracts:\n  - name: A\n    abi: a.json\n    adress: x\n", `test.yaml:4: contracts[0]: unknown key "adress"`}, //nolint:misspell // the typo is the case
		{"contracts not a list", "contracts: {a: 1}\n", "test.yaml:1: contracts: want a list"},
		{"wrong value type", "contracts:\n  - name: A\n    abi: a.json\n    learn: maybe\n", "test.yaml:2: contracts[0]: line 4: cannot unmarshal"},
		{"missing name", "contracts:\n  - abi: a.json\n", "test.yaml:2: contracts[0] \"\": name missing"},
		{"missing abi", "contracts:\n  - name: A\n", `test.yaml:2: contracts[0] "A": abi missing`},
		{"abi file missing", "contracts:\n  - name: A\n    abi: nope.json\n    learn: false\n", `test.yaml:2: contracts[0] "A": read abi: open nope.json: file does not exist`},
		{"bad abi type", "contracts:\n  - name: A\n    abi: bad.json\n", `contracts[0] "A": abi bad.json: entry 0 (f(uint257)): type uint257: integer size not in 8`},
		{"abi not an array", "contracts:\n  - name: A\n    abi: notjson\n", `abi notjson: parse`},
		{"fixed-point type", "contracts:\n  - name: A\n    abi: fixed.json\n", `abi fixed.json: entry 0 (event E)`},
		{"huge static type", "contracts:\n  - name: A\n    abi: huge.json\n", `static size over`},
		{"tuple name go-ethereum cannot take", "contracts:\n  - name: A\n    abi: weird.json\n", `abi weird.json:`},
		{"duplicate ABI entry", "contracts:\n  - name: A\n    abi: dup.json\n", `entry 1 repeats entry 0 (E())`},
		{"unlinked library", "contracts:\n  - name: A\n    abi: a.json\n    bin: link.bin\n    learn: true\n", `bin link.bin: unlinked library placeholder`},
		{"bin not hex", "contracts:\n  - name: A\n    abi: a.json\n    bin: odd.bin\n    learn: true\n", `bin odd.bin: not hex`},
		{"learn without bin", "contracts:\n  - name: A\n    abi: a.json\n    learn: true\n", `learn needs bin`},
		{"nothing to match", "contracts:\n  - name: A\n    abi: a.json\n", `neither learn nor addresses`},
		{"malformed address", "contracts:\n  - name: A\n    abi: a.json\n    addresses: [\"0x12\"]\n", `address "0x12": want 0x and 40 hex digits`},
		{"address without 0x", "contracts:\n  - name: A\n    abi: a.json\n    addresses: [\"00000000000000000000000000000000000000aa\"]\n", `want 0x and 40 hex digits`},
		{"two contracts at one address", "contracts:\n" + asset + strings.Replace(asset, "Asset", "Other", 1), `test.yaml:5: contracts[1] "Other": address 0x00000000000000000000000000000000000000aa already belongs to "Asset"`},
		{"duplicate name", "contracts:\n" + asset + strings.Replace(asset, "aa\"", "ab\"", 1), `test.yaml:5: contracts[1]: name "Asset" already used by contracts[0]`},
		{"table name collision", "contracts:\n" + asset + strings.Replace(strings.Replace(asset, "Asset", "asset", 1), "aa\"", "ab\"", 1), `name "asset" already used`},
		{"snake collision across contracts", "contracts:\n" + strings.Replace(asset, "Asset", "A_b", 1) + "  - name: A\n    abi: ab.json\n    addresses: [\"0x00000000000000000000000000000000000000ab\"]\n", `test.yaml: table name a_b_issue of A.B_issue(uint256) collides with a table of A_b.Issue(uint256)`},
		{"two aliases", "tablePostfix: _x\ntableSuffix: _y\ncontracts: []\n", `test.yaml:2: tableSuffix sets the same option as tablePostfix`},
		{"prefix not an identifier", "tablePrefix: \"my-\"\ncontracts: []\n", `test.yaml:1: tablePrefix "my-": use lowercase letters`},
		{"skip unknown contract", "skip: {Nope: [x]}\ncontracts:\n" + asset, `test.yaml:1: skip: no contract named "Nope"`},
		{"skip unknown item", "generatedOffStr: \"Asset.Nope\"\ncontracts:\n" + asset, `test.yaml:1: skip: contract "Asset" has no event, method or constructor "Nope"`},
		{"skipParams unknown param", "ignoreParam: \"Asset.Transfer.nope\"\ncontracts:\n" + asset, `test.yaml:1: skipParams: Transfer(address,uint256,string) has no parameter "nope"`},
		{"skipParams bad string", "ignoreParam: \"Asset.Transfer\"\ncontracts:\n" + asset, `want Contract.item.p1,p2`},
		{"sqlTypes injection", "sqlTypes: {Asset: {Transfer: {memo: \"text; drop table x\"}}}\ncontracts:\n" + asset, `is not an SQL type name`},
		{"sqlTypes numeric for a string", "paramSQLType: \"Asset.Transfer.memo.bigint\"\ncontracts:\n" + asset, `bigint cannot hold a string`},
		{"sqlTypes twice", "paramSQLType: \"Asset.Transfer.memo.text|Asset.Transfer.memo.text\"\ncontracts:\n" + asset, `given twice`},
		{"disabledData not a list", "disabledData: {a: 1}\ncontracts: []\n", `test.yaml:1: disabledData: want a list`},
	}
	fs := files{}
	for k, v := range baseFiles {
		fs[k] = v
	}
	fs["ab.json"] = `[{"type":"event","name":"B_issue","inputs":[{"name":"amount","type":"uint256"}]}]`
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load("test.yaml", []byte(tc.yaml), fs.read, Keccak)
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.HasPrefix(err.Error(), "contracts file test.yaml") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load("testdata/nope.yaml", Keccak); err == nil || !strings.Contains(err.Error(), "testdata/nope.yaml") {
		t.Fatalf("error %v", err)
	}
	if _, err := Load("testdata/samples.yaml", Suite(9)); err == nil || !strings.Contains(err.Error(), "unknown crypto suite") {
		t.Fatalf("error %v", err)
	}
}

// TestOptions: our option names and Data-Export's, in YAML and in Data-Export's string form,
// configure the same registry.
func TestOptions(t *testing.T) {
	ours := `tablePrefix: g1_
tableSuffix: _v1
columnPrefix: p_
columnSuffix: _c
skip:
  Asset: [Issue, "transfer(address)"]
skipParams:
  Asset: {Transfer: [memo]}
sqlTypes:
  Asset: {transfer: {to: "VARCHAR(42)", amount: "numeric(80, 0)"}}
disabledData: [contract_info, block_raw_data]
skipBaseColumns:
  tx_raw_data: [from, to]
  block_raw_data: [db_hash]
contracts:
` + asset
	theirs := `tablePrefix: g1_
tablePostfix: _v1
namePrefix: p_
namePostfix: _c
generatedOffStr: "Asset.Issue,transfer(address)"
ignoreParam: "Asset.Transfer.memo"
paramSQLType: "Asset.transfer.to.VARCHAR(42)|Asset.transfer.amount.numeric(80, 0)"
dataTypeBlackLists: "contract_info,block_raw_data"
ignoreBasicDataTableParams: "tx_raw_data.from,to|block_raw_data.db_hash"
contracts:
` + asset
	var regs []*Registry
	for _, y := range []string{ours, theirs} {
		regs = append(regs, loadTest(t, y, baseFiles, Keccak))
	}
	type col struct{ Name, SQL string }
	summary := func(r *Registry) map[string][]col {
		m := make(map[string][]col)
		for _, tb := range r.Tables() {
			m[tb.Name] = []col{}
			for _, c := range tb.Columns {
				m[tb.Name] = append(m[tb.Name], col{c.Name, c.SQLType})
			}
		}
		return m
	}
	want := map[string][]col{
		"g1_asset_transfer_v1":        {{"p_from_c", "text"}, {"p_amount_c", "numeric(78,0)"}},
		"g1_asset_transfer_method_v1": {{"p_to_c", "varchar(42)"}, {"p_amount_c", "numeric(80, 0)"}},
	}
	for i, r := range regs {
		if diff := cmp.Diff(want, summary(r)); diff != "" {
			t.Errorf("registry %d tables (-want +got):\n%s", i, diff)
		}
	}
	wantOpts := Options{
		TablePrefix: "g1_", TableSuffix: "_v1", ColumnPrefix: "p_", ColumnSuffix: "_c",
		DisabledData:    []string{"contract_info", "block_raw_data"},
		SkipBaseColumns: map[string][]string{"tx_raw_data": {"from", "to"}, "block_raw_data": {"db_hash"}},
	}
	for i, r := range regs {
		if diff := cmp.Diff(wantOpts, r.Options()); diff != "" {
			t.Errorf("registry %d options (-want +got):\n%s", i, diff)
		}
	}

	// Skipped items are known but not exported; skipped parameters stay in Args only; a text
	// override stores the text.
	c := regs[0].Contracts()[0]
	a := parseABI(t, assetABI)
	data := must(a.Events["Issue"].Inputs.Pack(big.NewInt(1)))
	if _, err := c.DecodeLog([][]byte{a.Events["Issue"].ID.Bytes()}, data); !errors.Is(err, ErrSkippedItem) {
		t.Fatalf("skipped event: %v", err)
	}
	var short, long string
	for n, m := range a.Methods {
		if len(m.Inputs) == 1 {
			short = n
		} else {
			long = n
		}
	}
	if _, err := c.DecodeCall(must(a.Pack(short, common.Address{})), nil, true); !errors.Is(err, ErrSkippedItem) {
		t.Fatalf("skipped overload: %v", err)
	}
	row, err := c.DecodeCall(must(a.Pack(long, common.HexToAddress("0x00000000000000000000000000000000000000Ff"), big.NewInt(3))), nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if row.Values[0] != "0x00000000000000000000000000000000000000ff" {
		t.Fatalf("varchar override value %#v", row.Values[0])
	}
	ev := a.Events["Transfer"]
	row, err = c.DecodeLog([][]byte{ev.ID.Bytes(), make([]byte, 32)}, must(ev.Inputs.NonIndexed().Pack(big.NewInt(2), "skipped memo")))
	if err != nil {
		t.Fatal(err)
	}
	if len(row.Values) != 2 || len(row.Args) != 3 || row.Args[2].Value != "skipped memo" {
		t.Fatalf("skipped param: values %v args %v", row.Values, argValues(row))
	}
}

// TestCustomErrorsIgnored: solc 0.8 ABIs carry "error" entries go-ethereum v1.9.16 rejects.
func TestCustomErrorsIgnored(t *testing.T) {
	c := oneContract(t, "T", `[{"type":"error","name":"Low","inputs":[{"name":"have","type":"uint256"}]},
		{"type":"function","name":"f","stateMutability":"nonpayable","inputs":[],"outputs":[]}]`, Keccak)
	if len(c.Tables) != 1 || c.Tables[0].Name != "t_f" {
		t.Fatalf("tables %+v", c.Tables)
	}
}

func TestReservedTables(t *testing.T) {
	_, err := load("test.yaml", []byte("contracts:\n"+asset), baseFiles.read, Keccak, WithReservedTables("blocks", "asset_issue"))
	if err == nil || !strings.Contains(err.Error(), "table name asset_issue of Asset.Issue(uint256) collides with the service's own tables") {
		t.Fatalf("error %v", err)
	}
}
