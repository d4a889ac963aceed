package compat

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bcosdata/bcosdata/services/export/internal/contract"
)

func TestUnderlineFollowsDataExport(t *testing.T) {
	for in, want := range map[string]string{
		"set":             "set",
		"balanceOf":       "balance_of",
		"HelloWorld":      "hello_world",
		"ERC20Token":      "erc20_token",
		"getURL":          "get_url",
		"URLValue":        "url_value",
		"_to":             "_to",
		"docHash":         "doc_hash",
		"modifyUserEvent": "modify_user_event",
		"value2":          "value2",
	} {
		if got := underline(in); got != want {
			t.Errorf("underline(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStripIsOnlyBeforeAnUpperCaseLetter(t *testing.T) {
	for in, want := range map[string]string{"isActive": "active", "issuer": "issuer", "is": "is", "isX": "x"} {
		if got := stripIs(in); got != want {
			t.Errorf("stripIs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestViewNamesAndColumnsFollowDataExport(t *testing.T) {
	dir := t.TempDir()
	abi := `[
	 {"type":"constructor","inputs":[{"name":"owner","type":"address"}]},
	 {"type":"event","name":"SetEvent","inputs":[{"name":"userName","type":"string","indexed":false},{"name":"isOld","type":"bool","indexed":false}]},
	 {"type":"function","name":"set","inputs":[{"name":"n","type":"string"}],"outputs":[],"stateMutability":"nonpayable"},
	 {"type":"function","name":"set","inputs":[{"name":"n","type":"string"},{"name":"isActive","type":"bool"}],"outputs":[],"stateMutability":"nonpayable"},
	 {"type":"function","name":"setAndGet","inputs":[{"name":"docHash","type":"bytes32"}],"outputs":[{"name":"","type":"uint256"},{"name":"s","type":"string"}],"stateMutability":"nonpayable"}
	]`
	if err := os.WriteFile(filepath.Join(dir, "h.abi"), []byte(abi), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("tablePrefix: g1_\ncontracts:\n  - name: HelloWorld\n    abi: h.abi\n    addresses: [\"0x00000000000000000000000000000000000000e1\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reg, err := contract.Load(file, contract.Keccak)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(reg.Options())
	if err != nil {
		t.Fatal(err)
	}
	views, err := Views(reg, p, "de")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range views {
		got[v.Name] = v.Select
	}
	for name, cols := range map[string][]string{
		"g1_helloworld_set_event_event":    {`AS "block_height"`, `AS "tx_hash"`, `AS "user_name"`, `AS "is_old"`},
		"g1_helloworld_set_0_method":       {`AS "method_status"`, `AS "n"`},
		"g1_helloworld_set_1_method":       {`AS "n"`, `AS "active"`},
		"g1_helloworld_set_and_get_method": {`AS "doc_hash"`, `AS "output1"`, `AS "output2"`},
		"g1_helloworld_constructor_method": {`AS "owner"`},
		"g1_block_detail_info":             {`AS "tx_count"`},
		"g1_block_task_pool":               {`AS "sync_status"`},
		"g1_block_tx_detail_info":          {`'set' AS method_name`},
	} {
		sel, ok := got[name]
		if !ok {
			t.Errorf("no view %s; views: %v", name, keys(got))
			continue
		}
		for _, c := range cols {
			if !strings.Contains(sel, c) {
				t.Errorf("view %s has no %q: %s", name, c, sel)
			}
		}
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
