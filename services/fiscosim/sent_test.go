package fiscosim_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/contracts"
	"github.com/bcosdata/bcosdata/services/fiscosim/sent"
)

type rpcReceipt struct {
	Status          string `json:"status"`
	Output          string `json:"output"`
	ContractAddress string `json:"contractAddress"`
	To              string `json:"to"`
	Logs            []struct {
		Address string   `json:"address"`
		Topics  []string `json:"topics"`
		Data    string   `json:"data"`
	} `json:"logs"`
}

// TestSentMatchesChain checks the generator's record against the chain for a few hundred
// transactions of the full mix, on keccak and SM chains, without decoding anything: each
// recorded event is in the receipt, in order, with the recorded address and topic count, its
// topics and data equal to encodings built independently from the recorded values
// (abi.Arguments.Pack, the chain's hash for topic 0 and for indexed string and bytes); outputs
// likewise; reverts have a non-zero status and the recorded Error(string); deploys and
// contracts created by contracts have code at the recorded address.
func TestSentMatchesChain(t *testing.T) {
	for _, sm := range []bool{false, true} {
		t.Run(map[bool]string{false: "ecdsa", true: "sm"}[sm], func(t *testing.T) {
			suite := cryptosuite.ECDSA()
			if sm {
				suite = cryptosuite.SM()
			}
			cfg := testConfig(t)
			cfg.SM, cfg.Blocks = sm, 40
			sim := startSim(t, cfg)
			waitBlock(t, sim, cfg.Blocks)
			recs := sim.Sent()
			if len(recs) < 300 {
				t.Fatalf("%d records, want a few hundred", len(recs))
			}
			abis := map[string]*contracts.Contract{}
			for _, n := range contracts.Names() {
				c, err := contracts.Load(n, suite.Hash)
				if err != nil {
					t.Fatal(err)
				}
				abis[n] = c
			}
			var nested, reverts, deploys, created int
			sigs := map[string]bool{}
			for _, rec := range recs {
				what := fmt.Sprintf("tx %d %s %s.%s", rec.Seq, rec.TxHash.Hex(), rec.Contract, rec.Signature)
				var rc rpcReceipt
				raw, _ := json.Marshal(rpcResult(t, sim.RPCURL(), "getTransactionReceipt", 1, rec.TxHash.Hex()))
				if err := json.Unmarshal(raw, &rc); err != nil || rc.Status == "" {
					t.Fatalf("%s: receipt %s: %v", what, raw, err)
				}
				c := abis[rec.Contract]
				if rec.Reverted {
					reverts++
					want := append([]byte{0x08, 0xc3, 0x79, 0xa0}, pack(t, abi.Arguments{{Type: mustType(t, "string")}}, []any{rec.RevertReason})...)
					if rc.Status == "0x0" || rc.Output != hexOf(want) || len(rc.Logs) != 0 || len(rec.Events) != 0 || rec.Outputs != nil {
						t.Fatalf("%s: want revert %q without events or outputs, got status %s output %s, %d logs; recorded %d events, outputs %v", what, rec.RevertReason, rc.Status, rc.Output, len(rc.Logs), len(rec.Events), rec.Outputs)
					}
					continue
				}
				if rc.Status != "0x0" {
					t.Fatalf("%s: status %s output %s, recorded as successful", what, rc.Status, rc.Output)
				}
				sigs[rec.Contract+"."+rec.Signature] = true
				if rec.Deploy {
					deploys++
					if rc.ContractAddress != lower(rec.To) {
						t.Fatalf("%s: deployed at %s, recorded %s", what, rc.ContractAddress, lower(rec.To))
					}
					wantCode(t, sim, rec.To, c)
				} else if rc.To != lower(rec.To) {
					t.Fatalf("%s: to %s, recorded %s", what, rc.To, lower(rec.To))
				}
				for _, cr := range rec.Created {
					created++
					wantCode(t, sim, cr.Address, abis[cr.Contract])
				}
				if len(rc.Logs) != len(rec.Events) {
					t.Fatalf("%s: %d logs, recorded %d events", what, len(rc.Logs), len(rec.Events))
				}
				for i, ev := range rec.Events {
					lg := rc.Logs[i]
					sigs[ev.Contract+"."+ev.Signature] = true
					if ev.Address != rec.To {
						nested++
					}
					if lg.Address != lower(ev.Address) {
						t.Fatalf("%s: log %d from %s, recorded %s", what, i, lg.Address, lower(ev.Address))
					}
					topics, data := eventEncoding(t, suite, abis[ev.Contract], ev)
					if len(lg.Topics) != len(topics) {
						t.Fatalf("%s: log %d has %d topics, recorded %d", what, i, len(lg.Topics), len(topics))
					}
					for j := range topics {
						if lg.Topics[j] != topics[j].Hex() {
							t.Fatalf("%s: log %d topic %d is %s, recorded values give %s", what, i, j, lg.Topics[j], topics[j].Hex())
						}
					}
					if lg.Data != hexOf(data) {
						t.Fatalf("%s: log %d data\n%s\nrecorded values give\n%s", what, i, lg.Data, hexOf(data))
					}
				}
				if rec.Outputs != nil {
					m, err := c.Method(rec.Signature)
					if err != nil {
						t.Fatal(err)
					}
					if want := hexOf(pack(t, m.Outputs, valuesOf(t, m.Outputs, rec.Outputs))); rc.Output != want {
						t.Fatalf("%s: output %s, recorded values give %s", what, rc.Output, want)
					}
				}
			}
			// The mix must have reached every shape the record promises.
			for _, n := range []string{contracts.NameLedger, contracts.NameRegistry} {
				c := abis[n]
				for _, m := range c.ABI.Methods {
					if m.IsConstant() {
						continue
					}
					if !sigs[n+"."+m.Sig] {
						t.Errorf("no successful %s.%s in %d transactions", n, m.Sig, len(recs))
					}
				}
				for _, e := range c.ABI.Events {
					if !sigs[n+"."+e.Sig] {
						t.Errorf("no %s.%s event in %d transactions", n, e.Sig, len(recs))
					}
				}
			}
			t.Logf("%d records: %d nested-call logs, %d reverts, %d deploys, %d created by contracts, %d signatures", len(recs), nested, reverts, deploys, created, len(sigs))
			if nested == 0 || reverts == 0 || deploys != 6 || created != 1 {
				t.Errorf("nested-call logs %d, reverts %d, deploys %d, created by contracts %d", nested, reverts, deploys, created)
			}
			// The JSON lines carry the same records.
			f, err := os.ReadFile(sim.SentPath())
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(f)), "\n")
			if len(lines) < len(recs) {
				t.Fatalf("%d JSON lines, %d records", len(lines), len(recs))
			}
			for i, rec := range recs {
				want, _ := json.Marshal(rec)
				if lines[i] != string(want) {
					t.Fatalf("JSON line %d differs from record:\n%s\n%s", i, lines[i], want)
				}
			}
		})
	}
}

// eventEncoding builds topics and data of ev from its recorded values.
func eventEncoding(t *testing.T, suite *cryptosuite.Suite, c *contracts.Contract, ev sent.Event) ([]common.Hash, []byte) {
	t.Helper()
	e, err := c.Event(ev.Signature)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Inputs) != len(ev.Args) {
		t.Fatalf("%s: %d recorded args, ABI has %d", ev.Signature, len(ev.Args), len(e.Inputs))
	}
	topics := []common.Hash{suite.Hash([]byte(ev.Signature))}
	var dataArgs abi.Arguments
	var dataVals []any
	for i, a := range e.Inputs {
		v := ev.Args[i]
		if v.Indexed != a.Indexed || v.Type != a.Type.String() {
			t.Fatalf("%s arg %d: recorded %s indexed %v, ABI %s indexed %v", ev.Signature, i, v.Type, v.Indexed, a.Type, a.Indexed)
		}
		if !a.Indexed {
			dataArgs = append(dataArgs, abi.Argument{Name: a.Name, Type: a.Type})
			dataVals = append(dataVals, packable(t, a.Type, v.Value))
			continue
		}
		switch a.Type.T {
		case abi.StringTy:
			topics = append(topics, suite.Hash([]byte(v.Value.(string))))
		case abi.BytesTy:
			topics = append(topics, suite.Hash(v.Value.([]byte)))
		default:
			topics = append(topics, common.BytesToHash(pack(t, abi.Arguments{{Type: a.Type}}, []any{v.Value})))
		}
	}
	return topics, pack(t, dataArgs, dataVals)
}

// valuesOf returns the recorded values in the shape the ABI packer takes.
func valuesOf(t *testing.T, args abi.Arguments, vals []sent.Value) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = packable(t, args[i].Type, v.Value)
	}
	return out
}

// packable turns a recorded sent.Tuple into the struct type the ABI packer wants.
func packable(t *testing.T, typ abi.Type, v any) any {
	if typ.T != abi.TupleTy {
		return v
	}
	tup, ok := v.(sent.Tuple)
	if !ok {
		t.Fatalf("tuple recorded as %T", v)
	}
	sv := reflect.New(typ.TupleType).Elem()
	for i, e := range typ.TupleElems {
		sv.Field(i).Set(reflect.ValueOf(packable(t, *e, tup[i].Value)))
	}
	return sv.Interface()
}

func pack(t *testing.T, args abi.Arguments, vals []any) []byte {
	t.Helper()
	b, err := args.Pack(vals...)
	if err != nil {
		t.Fatalf("pack %v: %v", vals, err)
	}
	return b
}

func mustType(t *testing.T, s string) abi.Type {
	typ, err := abi.NewType(s, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return typ
}

// wantCode checks that addr holds c's runtime code.
func wantCode(t *testing.T, sim *fiscosim.Sim, addr common.Address, c *contracts.Contract) {
	t.Helper()
	code, _ := rpcResult(t, sim.RPCURL(), "getCode", 1, lower(addr)).(string)
	if code != hexOf(c.Runtime) {
		t.Fatalf("code at %s is not %s's runtime code (%d hex digits)", lower(addr), c.Name, len(code))
	}
}

func hexOf(b []byte) string { return "0x" + hex.EncodeToString(b) }

func lower(a common.Address) string { return strings.ToLower(a.Hex()) }

// TestRestartRefusesFullMixOnClassicChain checks that a chain started with the classic mix is
// not continued with the full one, whose contracts it never deployed (the record would promise
// events that calls to empty addresses cannot emit).
func TestRestartRefusesFullMixOnClassicChain(t *testing.T) {
	cfg := testConfig(t)
	cfg.RPCAddr, cfg.BinlogAddr = "", ""
	cfg.Blocks, cfg.Mix = 3, fiscosim.MixClassic
	runToEnd(t, cfg)
	cfg.Blocks, cfg.Mix = 6, fiscosim.MixFull
	if _, err := fiscosim.New(cfg, nil); !errors.Is(err, fiscosim.ErrConfig) {
		t.Fatalf("restart with the full mix: %v, want ErrConfig", err)
	}
	cfg.Mix = fiscosim.MixClassic
	runToEnd(t, cfg)
}
