package demo

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/services/export"
	"github.com/bcosdata/bcosdata/services/fiscosim"
)

// TestContractsFileCoversTheTraffic: the contracts file the demo writes registers every
// contract the simulator's traffic deploys, once each, with the chain's own creation code, and
// export accepts it — on ECDSA and SM chains alike.
func TestContractsFileCoversTheTraffic(t *testing.T) {
	for _, sm := range []bool{false, true} {
		cfg := fiscosim.DefaultConfig()
		cfg.Data, cfg.RPCAddr, cfg.BinlogAddr, cfg.SM = t.TempDir(), "", "", sm
		sim, err := fiscosim.New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		path, err := writeContracts(dir, sim.Contracts())
		if err != nil {
			t.Fatal(err)
		}
		yaml, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, c := range sim.Contracts() {
			names[c.Name] = true
			if n := strings.Count(string(yaml), "name: "+c.Name+"\n"); n != 1 {
				t.Errorf("sm=%v: %s registered %d times", sm, c.Name, n)
			}
			bin, err := os.ReadFile(filepath.Join(dir, c.Name+".bin"))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(bin)); len(c.Creation) == 0 || got != hex.EncodeToString(c.Creation) {
				t.Errorf("sm=%v: %s.bin is not the chain's creation code", sm, c.Name)
			}
		}
		if len(names) < 4 {
			t.Errorf("sm=%v: the traffic deploys %d contracts, want Asset, Evidence, Ledger and Registry", sm, len(names))
		}
		ecfg := serviceDefaults[export.Config]()
		ecfg.Contracts = path
		if sm {
			ecfg.Crypto = "sm"
		}
		if _, err := export.New(ecfg, app.Deps{}); err != nil {
			t.Errorf("sm=%v: export rejects the demo's contracts file: %v", sm, err)
		}
	}
}
