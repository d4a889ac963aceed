package demo

import (
	"bytes"
	"testing"

	"github.com/bcosdata/bcosdata/services/fiscosim"
)

// TestSampleContractsMatchTheSimulator keeps the demo's copies of the sample contracts' ABIs in
// step with the simulator's: a stale copy would leave the demo's typed tables empty.
func TestSampleContractsMatchTheSimulator(t *testing.T) {
	cfg := fiscosim.DefaultConfig()
	cfg.Data, cfg.RPCAddr, cfg.BinlogAddr = t.TempDir(), "", ""
	sim, err := fiscosim.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range sim.Contracts() {
		abi, err := sampleContracts.ReadFile("contracts/" + c.Name + ".abi.json")
		if err != nil {
			t.Fatalf("the demo's contracts lack %s: %v", c.Name, err)
		}
		if !bytes.Equal(bytes.TrimSpace(abi), bytes.TrimSpace(c.ABI)) {
			t.Errorf("contracts/%s.abi.json differs from the simulator's ABI: copy it from services/fiscosim/internal/contracts", c.Name)
		}
	}
}
