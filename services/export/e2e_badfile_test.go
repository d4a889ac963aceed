package export_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/services/export"
	"github.com/bcosdata/bcosdata/services/fiscosim/simtest"
)

// TestEndToEndBadContractsRejectedAtStart: export refuses to start on a broken contracts file
// or a broken ABI or bytecode file it names, and the error names the file and the reason.
func TestEndToEndBadContractsRejectedAtStart(t *testing.T) {
	t.Parallel()
	good := "contracts:\n  - name: Ledger\n    abi: Ledger.abi.json\n    bin: Ledger.bin\n    learn: true\n"
	for _, tc := range []struct {
		name     string
		yaml     string
		files    map[string]string // written over the good copies
		wantFile string            // the file the error must name (relative to the directory)
		want     []string          // the line, the entry and the reason
	}{
		{name: "ABI not JSON", yaml: good, files: map[string]string{"Ledger.abi.json": `[{"type":"event","name":`}, wantFile: "contracts.yaml", want: []string{`:2: contracts[0] "Ledger": abi Ledger.abi.json: parse: unexpected end of JSON input`}},
		{name: "ABI missing", yaml: strings.Replace(good, "Ledger.abi.json", "gone.abi.json", 1), wantFile: "contracts.yaml", want: []string{`:2: contracts[0] "Ledger": read abi: open `, `gone.abi.json: no such file or directory`}},
		{name: "ABI unknown type", yaml: good, files: map[string]string{"Ledger.abi.json": `[{"type":"event","name":"E","inputs":[{"name":"x","type":"uint257"}]}]`}, wantFile: "contracts.yaml", want: []string{`:2: contracts[0] "Ledger": abi Ledger.abi.json: entry 0 (E(uint257)): type uint257: integer size not in 8, 16, …, 256`}},
		{name: "bytecode not hex", yaml: good, files: map[string]string{"Ledger.bin": "60806040zz"}, wantFile: "contracts.yaml", want: []string{`:2: contracts[0] "Ledger": bin Ledger.bin: not hex`}},
		{name: "unknown key", yaml: strings.Replace(good, "learn:", "lern:", 1), wantFile: "contracts.yaml", want: []string{`:5: contracts[0]: unknown key "lern"`}},
		{name: "not YAML", yaml: "contracts: [\n", wantFile: "contracts.yaml", want: []string{`: yaml: line 1: did not find expected node content`}},
		{name: "address claimed twice", yaml: good + "    addresses: [\"0x00000000000000000000000000000000000000e1\"]\n  - name: Other\n    abi: Ledger.abi.json\n    addresses: [\"0x00000000000000000000000000000000000000E1\"]\n", wantFile: "contracts.yaml", want: []string{`:7: contracts[1] "Other": address 0x00000000000000000000000000000000000000e1 already belongs to "Ledger"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			simtest.WriteContracts(t, dir, false, "Ledger")
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			file := filepath.Join(dir, "contracts.yaml")
			if err := os.WriteFile(file, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			var cfg export.Config
			cfg.RegisterFlags(newFlagSet())
			cfg.Contracts = file
			_, err := export.New(cfg, app.Deps{})
			if err == nil {
				t.Fatal("New accepted the file")
			}
			t.Logf("%v", err)
			for _, w := range append([]string{"-contracts: contracts file " + filepath.Join(dir, tc.wantFile)}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
