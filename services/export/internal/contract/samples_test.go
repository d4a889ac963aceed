package contract

import (
	"bytes"
	"errors"
	"math/big"
	"os"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/go-cmp/cmp"
)

const samplesDir = "../../../fiscosim/internal/contracts/"

// TestSamples runs the simulator's real contracts (solc 0.6.10) through the registry: tables,
// a deployment compiled elsewhere, calls, events with indexed dynamic values, a revert.
func TestSamples(t *testing.T) {
	r, err := Load("testdata/samples.yaml", Keccak)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range r.Tables() {
		names = append(names, tb.Name)
	}
	want := []string{
		"asset_issue", "asset_transfer", "asset_balance_of", "asset_issue_method", "asset_issuer",
		"asset_total_supply", "asset_transfer_method",
		"evidence_evidence_stored", "evidence_count", "evidence_get", "evidence_store",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatalf("tables (-want +got):\n%s", diff)
	}
	asset, evidence := r.Contracts()[0], r.Contracts()[1]
	if c, ok := r.ByAddress(common.HexToAddress("0x00000000000000000000000000000000000000E1")); !ok || c != evidence {
		t.Fatal("fixed address not found")
	}

	// A deployment of Asset whose metadata differs (another build of the same source).
	bin := mustHex(t, string(must(os.ReadFile(samplesDir+"Asset.bin"))))
	deploy := concat(stripMetadata(bin), ipfsTail(0x5a))
	if c, ok := r.MatchCreation(deploy); !ok || c != asset {
		t.Fatalf("Asset deployment not matched")
	}
	if _, err := asset.DecodeConstructor(deploy); !errors.Is(err, ErrUnknownItem) {
		t.Fatalf("Asset has no constructor inputs: %v", err)
	}
	ebin := mustHex(t, string(must(os.ReadFile(samplesDir+"Evidence.bin"))))
	if c, ok := r.MatchCreation(ebin); !ok || c != evidence {
		t.Fatalf("Evidence deployment not matched")
	}

	a := parseABI(t, string(must(os.ReadFile(samplesDir+"Asset.abi.json"))))
	to := common.HexToAddress("0x00000000000000000000000000000000000000b2")
	from := common.HexToAddress("0x00000000000000000000000000000000000000a1")
	call := must(a.Pack("transfer", to, big.NewInt(250), "午饭 lunch"))
	row, err := asset.DecodeCall(call, must(a.Methods["transfer"].Outputs.Pack(true)), true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"to=" + lower(to), "amount=250", "memo=午饭 lunch", "out0=true"}, argValues(row)); diff != "" || row.Table.Name != "asset_transfer_method" {
		t.Fatalf("transfer call %s (-want +got):\n%s", row.Table.Name, diff)
	}
	reason := concat([]byte{0x08, 0xc3, 0x79, 0xa0}, must(stringArgs.Pack("insufficient balance")))
	if row, err = asset.DecodeCall(call, reason, false); err != nil || row.Values[3] != nil {
		t.Fatalf("failed transfer: %v, output %v", err, row.Values[3])
	}
	if got, ok := RevertReason(reason); !ok || got != "insufficient balance" {
		t.Fatalf("revert reason %q", got)
	}

	ev := a.Events["Transfer"]
	logRow, err := asset.DecodeLog([][]byte{ev.ID.Bytes(), common.BytesToHash(from.Bytes()).Bytes(), common.BytesToHash(to.Bytes()).Bytes()},
		must(ev.Inputs.NonIndexed().Pack(big.NewInt(250), "午饭 lunch")))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"from=" + lower(from), "to=" + lower(to), "amount=250", "memo=午饭 lunch"}, argValues(logRow)); diff != "" || logRow.Table.Name != "asset_transfer" {
		t.Fatalf("Transfer log (-want +got):\n%s", diff)
	}

	e := parseABI(t, string(must(os.ReadFile(samplesDir+"Evidence.abi.json"))))
	stored := e.Events["EvidenceStored"]
	id := crypto.Keccak256([]byte("doc-1"))
	category := crypto.Keccak256([]byte("合同"))
	var doc [32]byte
	copy(doc[:], "sha256 of the document, 32 bytes")
	logRow, err = evidence.DecodeLog([][]byte{stored.ID.Bytes(), id, common.BytesToHash(from.Bytes()).Bytes(), category},
		must(stored.Inputs.NonIndexed().Pack(doc, `{"pages":3}`)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(logRow.Values[2].([]byte), category) || logRow.Table.Columns[2].SQLType != "bytea" {
		t.Fatalf("indexed string category: %#v", logRow.Values[2])
	}
	if logRow.Args[4].Value != `{"pages":3}` || logRow.Table.Columns[3].Name != "doc_hash" {
		t.Fatalf("EvidenceStored args %v", argValues(logRow))
	}
}

// TestSamplesSM: on an SM chain selectors and topics are SM3 hashes of the same signatures.
func TestSamplesSM(t *testing.T) {
	r, err := Load("testdata/samples.yaml", SM3)
	if err != nil {
		t.Fatal(err)
	}
	asset := r.Contracts()[0]
	sm := cryptosuite.SM()
	sel := sm.Hash([]byte("transfer(address,uint256,string)")).Bytes()[:4]
	if tb := tableNamed(t, asset, "asset_transfer_method"); !bytes.Equal(tb.ID, sel) {
		t.Fatalf("SM selector %x, want %x", tb.ID, sel)
	}
	a := parseABI(t, string(must(os.ReadFile(samplesDir+"Asset.abi.json"))))
	args := must(a.Methods["transfer"].Inputs.Pack(common.Address{}, big.NewInt(1), "x"))
	if _, err := asset.DecodeCall(concat(sel, args), nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := asset.DecodeCall(concat(a.Methods["transfer"].ID, args), nil, false); !errors.Is(err, ErrUnknownItem) {
		t.Fatalf("keccak selector on an SM registry: %v", err)
	}
	topic := sm.Hash([]byte("Issue(address,uint256)")).Bytes()
	if row, err := asset.DecodeLog([][]byte{topic, make([]byte, 32)}, must(a.Events["Issue"].Inputs.NonIndexed().Pack(big.NewInt(9)))); err != nil || row.Table.Name != "asset_issue" {
		t.Fatalf("SM Issue topic: %v", err)
	}
	// FISCO's gm compiler reverts with the SM3 selector of Error(string).
	if got, ok := RevertReason(concat(sm.Hash([]byte("Error(string)")).Bytes()[:4], must(stringArgs.Pack("only the issuer can issue")))); !ok || got != "only the issuer can issue" {
		t.Fatalf("SM revert reason %q", got)
	}
}

func lower(a common.Address) string { return "0x" + common.Bytes2Hex(a.Bytes()) }
