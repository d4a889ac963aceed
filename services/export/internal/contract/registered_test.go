package contract

import (
	"os"
	"strings"
	"testing"
)

// TestRegisteredContractsJoinTheFile checks that contracts registered over the API load after
// the file's, with their tables named by the file's options, and that a registration the file
// would refuse is refused with the contract's name and the reason.
func TestRegisteredContractsJoinTheFile(t *testing.T) {
	ledgerABI, err := os.ReadFile("../../../fiscosim/internal/contracts/Ledger.abi.json")
	if err != nil {
		t.Fatal(err)
	}
	ledgerBin, err := os.ReadFile("../../../fiscosim/internal/contracts/Ledger.bin")
	if err != nil {
		t.Fatal(err)
	}
	file, err := Load("testdata/samples.yaml", Keccak)
	if err != nil {
		t.Fatal(err)
	}
	hasLedger := false
	for _, c := range file.Contracts() {
		hasLedger = hasLedger || c.Name == "Ledger"
	}
	name := "Ledger"
	if hasLedger {
		name = "LedgerAgain"
	}
	r, err := Load("testdata/samples.yaml", Keccak, WithRegistered(Registered{Name: name, ABI: ledgerABI, Bin: ledgerBin, Learn: true}))
	if err != nil {
		t.Fatalf("load with %s registered: %v", name, err)
	}
	got := r.Contracts()
	if len(got) != len(file.Contracts())+1 || got[len(got)-1].Name != name || len(got[len(got)-1].Tables) == 0 || got[len(got)-1].Bin == nil {
		t.Fatalf("contracts %d (last %q with %d tables), want the file's %d and %s last with tables and bytecode",
			len(got), got[len(got)-1].Name, len(got[len(got)-1].Tables), len(file.Contracts()), name)
	}

	alone, err := LoadRegistered([]Registered{{Name: "Ledger", ABI: ledgerABI, Bin: ledgerBin, Learn: true}}, Keccak)
	if err != nil || len(alone.Contracts()) != 1 {
		t.Fatalf("LoadRegistered: %v", err)
	}

	for _, tc := range []struct {
		name string
		reg  Registered
		want string
	}{
		{"bad abi", Registered{Name: "Broken", ABI: []byte(`[{"type":"event"`), Learn: true, Bin: ledgerBin}, `"Broken"`},
		{"name taken", Registered{Name: "Asset", ABI: ledgerABI, Bin: ledgerBin, Learn: true}, `name "Asset" already used`},
		{"nothing to decode", Registered{Name: "Idle", ABI: ledgerABI}, "neither learn nor addresses"},
		{"bad address", Registered{Name: "Odd", ABI: ledgerABI, Addresses: []string{"0x12"}}, `address "0x12"`},
	} {
		_, err := Load("testdata/samples.yaml", Keccak, WithRegistered(tc.reg))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %s", tc.name, err, tc.want)
		}
	}
}
