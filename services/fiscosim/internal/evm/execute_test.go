package evm

import (
	"bytes"
	"math/big"
	"strings"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/contracts"
	"github.com/ethereum/go-ethereum/common"
)

type fixture struct {
	name  string
	suite *cryptosuite.Suite
	sm    bool
}

func suites() []fixture {
	return []fixture{{"ecdsa", cryptosuite.ECDSA(), false}, {"sm", cryptosuite.SM(), true}}
}

func mustLoad(t *testing.T, name string, h Hasher) *contracts.Contract {
	t.Helper()
	c, err := contracts.Load(name, contracts.Hasher(h))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pack(t *testing.T, c *contracts.Contract, method string, args ...any) []byte {
	t.Helper()
	b, err := c.Pack(method, args...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAssetLifecycle deploys the asset ledger and runs issue, transfer, a failing transfer and
// a read-only balanceOf, checking receipts, logs and the storage rows a node would write.
func TestAssetLifecycle(t *testing.T) {
	for _, f := range suites() {
		t.Run(f.name, func(t *testing.T) {
			h := Hasher(f.suite.Hash)
			asset := mustLoad(t, contracts.NameAsset, h)
			ex := NewExecutor(h, f.sm)
			st := NewState(h)
			issuer := common.HexToAddress("0x1000000000000000000000000000000000000001")
			alice := common.HexToAddress("0x2000000000000000000000000000000000000002")
			bob := common.HexToAddress("0x3000000000000000000000000000000000000003")

			blk, err := ex.NewBlock(st, BlockContext{Number: 1, Timestamp: 1700000000000})
			if err != nil {
				t.Fatal(err)
			}
			dep := blk.Apply(Message{From: issuer, Data: asset.Creation, Gas: 30000000})
			if dep.Status != StatusNone {
				t.Fatalf("deploy status %d", dep.Status)
			}
			want := ex.ContractAddress(issuer, 0)
			if dep.ContractAddress != want {
				t.Fatalf("contract address %s, want %s", dep.ContractAddress.Hex(), want.Hex())
			}
			ch := blk.Changes(false)
			if len(ch) != 2 || !ch[0].Created || !ch[1].Created {
				t.Fatalf("deploy changes: %+v", ch)
			}
			byAddr := map[common.Address]AccountChange{ch[0].Address: ch[0], ch[1].Address: ch[1]}
			keys := func(c AccountChange) string {
				var k []string
				for _, r := range c.Rows {
					k = append(k, r.Key)
				}
				return strings.Join(k, ",")
			}
			if got := keys(byAddr[issuer]); got != "alive,balance,code,codeHash,nonce" {
				t.Errorf("issuer rows %s", got)
			}
			if got := keys(byAddr[want]); got != "0,alive,authority,balance,code,codeHash,nonce" {
				t.Errorf("contract rows %s", got)
			}
			for _, r := range byAddr[want].Rows {
				switch r.Key {
				case "code":
					if !bytes.Equal(r.Value, asset.Runtime) {
						t.Errorf("deployed code differs from the runtime code")
					}
				case "codeHash":
					if hh := f.suite.Hash(asset.Runtime); !bytes.Equal(r.Value, hh[:]) {
						t.Errorf("codeHash %x, want %x", r.Value, hh)
					}
				case "nonce":
					if string(r.Value) != "0" {
						t.Errorf("contract nonce %s, want 0", r.Value)
					}
				case "0":
					if want := new(big.Int).SetBytes(issuer[:]).String(); string(r.Value) != want {
						t.Errorf("slot 0 = %s, want issuer %s", r.Value, want)
					}
				}
			}
			for _, r := range byAddr[issuer].Rows {
				if r.Key == "nonce" && string(r.Value) != "1" {
					t.Errorf("issuer nonce %s, want 1", r.Value)
				}
			}
			blk.Commit()

			blk, err = ex.NewBlock(st, BlockContext{Number: 2, Timestamp: 1700000001000})
			if err != nil {
				t.Fatal(err)
			}
			res := blk.Apply(Message{From: issuer, To: &want, Data: pack(t, asset, "issue", alice, big.NewInt(100)), Gas: 30000000})
			if res.Status != StatusNone || len(res.Logs) != 1 {
				t.Fatalf("issue: status %d, %d logs", res.Status, len(res.Logs))
			}
			issueTopic, _ := asset.Topic("Issue")
			if lg := res.Logs[0]; lg.Topics[0] != issueTopic || lg.Topics[1] != common.BytesToHash(alice[:]) {
				t.Fatalf("issue log topics %v", lg.Topics)
			}
			// The balances mapping sits at slot 2: its key is Hash(pad(alice) ‖ pad(2)), which
			// is SM3 on SM chains only if the SHA3 opcode hashes with the suite.
			slot := f.suite.Hash(common.LeftPadBytes(alice[:], 32), common.LeftPadBytes([]byte{2}, 32))
			ch = blk.Changes(false)
			if len(ch) != 1 || ch[0].Created {
				t.Fatalf("issue changes %+v", ch)
			}
			wantKey := new(big.Int).SetBytes(slot[:]).String()
			found := false
			for _, r := range ch[0].Rows {
				if r.Key == wantKey && string(r.Value) == "100" {
					found = true
				}
			}
			if !found {
				t.Fatalf("no balance row %s=100 in %+v", wantKey, ch[0].Rows)
			}

			res = blk.Apply(Message{From: alice, To: &want, Data: pack(t, asset, "transfer", bob, big.NewInt(30), "rent"), Gas: 30000000})
			if res.Status != StatusNone || len(res.Logs) != 1 {
				t.Fatalf("transfer: status %d, %d logs", res.Status, len(res.Logs))
			}
			lg := res.Logs[0]
			trTopic, _ := asset.Topic("Transfer")
			if lg.Topics[0] != trTopic || lg.Topics[1] != common.BytesToHash(alice[:]) || lg.Topics[2] != common.BytesToHash(bob[:]) {
				t.Fatalf("transfer topics %v", lg.Topics)
			}
			vals, err := asset.ABI.Events["Transfer"].Inputs.NonIndexed().UnpackValues(lg.Data)
			if err != nil || vals[0].(*big.Int).Int64() != 30 || vals[1].(string) != "rent" {
				t.Fatalf("transfer data %v %v", vals, err)
			}
			if out, _ := asset.Unpack("transfer", res.Output); out[0] != true {
				t.Fatalf("transfer returned %v", out)
			}

			res = blk.Apply(Message{From: bob, To: &want, Data: pack(t, asset, "transfer", alice, big.NewInt(1000), "too much"), Gas: 30000000})
			if res.Status != StatusRevertInstruction || len(res.Logs) != 0 {
				t.Fatalf("overdraft: status %d, %d logs", res.Status, len(res.Logs))
			}
			if len(res.Output) < 68 || !strings.Contains(string(res.Output[68:]), "insufficient balance") {
				t.Fatalf("revert output %x", res.Output)
			}
			blk.Commit()

			call, err := ex.Call(st, BlockContext{Number: 2}, Message{From: alice, To: &want, Data: pack(t, asset, "balanceOf", bob), Gas: 30000000})
			if err != nil {
				t.Fatal(err)
			}
			if out, _ := asset.Unpack("balanceOf", call.Output); out[0].(*big.Int).Int64() != 30 {
				t.Fatalf("balanceOf(bob) = %v", out)
			}
			bad := common.HexToAddress("0xdead")
			if r, _ := ex.Call(st, BlockContext{Number: 2}, Message{From: alice, To: &bad, Gas: 30000000}); r.Status != StatusCallAddressError {
				t.Fatalf("call to empty address: status %d", r.Status)
			}
		})
	}
}

// TestEvidenceStoreOnce checks the notary: indexed dynamic topic, stored record, duplicate
// rejected.
func TestEvidenceStoreOnce(t *testing.T) {
	for _, f := range suites() {
		t.Run(f.name, func(t *testing.T) {
			h := Hasher(f.suite.Hash)
			ev := mustLoad(t, contracts.NameEvidence, h)
			ex := NewExecutor(h, f.sm)
			st := NewState(h)
			from := common.HexToAddress("0x4000000000000000000000000000000000000004")
			blk, err := ex.NewBlock(st, BlockContext{Number: 1, Timestamp: 1})
			if err != nil {
				t.Fatal(err)
			}
			dep := blk.Apply(Message{From: from, Data: ev.Creation, Gas: 30000000})
			if dep.Status != StatusNone {
				t.Fatalf("deploy status %d", dep.Status)
			}
			to := dep.ContractAddress
			id := f.suite.Hash([]byte("doc-1"))
			doc := f.suite.Hash([]byte("content"))
			data := pack(t, ev, "store", id, doc, "contract", "signed by both parties")
			res := blk.Apply(Message{From: from, To: &to, Data: data, Gas: 30000000})
			if res.Status != StatusNone || len(res.Logs) != 1 {
				t.Fatalf("store: status %d logs %d", res.Status, len(res.Logs))
			}
			topic, _ := ev.Topic("EvidenceStored")
			lg := res.Logs[0]
			if lg.Topics[0] != topic || lg.Topics[1] != id || lg.Topics[3] != f.suite.Hash([]byte("contract")) {
				t.Fatalf("topics %v", lg.Topics)
			}
			if r := blk.Apply(Message{From: from, To: &to, Data: data, Gas: 30000000}); r.Status != StatusRevertInstruction {
				t.Fatalf("second store: status %d", r.Status)
			}
			blk.Commit()
			call, err := ex.Call(st, BlockContext{Number: 1}, Message{From: from, To: &to, Data: pack(t, ev, "get", id), Gas: 30000000})
			if err != nil {
				t.Fatal(err)
			}
			out, err := ev.Unpack("get", call.Output)
			if err != nil || out[0].(common.Address) != from || out[3].(string) != "signed by both parties" || out[4].(*big.Int).Int64() != 1 {
				t.Fatalf("get = %v, %v", out, err)
			}
		})
	}
}

// TestFailedTxLeavesNoRows checks that a reverted transaction writes nothing.
func TestFailedTxLeavesNoRows(t *testing.T) {
	h := Hasher(cryptosuite.ECDSA().Hash)
	asset := mustLoad(t, contracts.NameAsset, h)
	ex := NewExecutor(h, false)
	st := NewState(h)
	issuer := common.HexToAddress("0x01")
	blk, _ := ex.NewBlock(st, BlockContext{Number: 1})
	addr := blk.Apply(Message{From: issuer, Data: asset.Creation, Gas: 30000000}).ContractAddress
	blk.Commit()
	blk, _ = ex.NewBlock(st, BlockContext{Number: 2})
	res := blk.Apply(Message{From: common.HexToAddress("0x02"), To: &addr, Data: pack(t, asset, "issue", issuer, big.NewInt(1)), Gas: 30000000})
	if res.Status != StatusRevertInstruction {
		t.Fatalf("issue by stranger: status %d", res.Status)
	}
	if ch := blk.Changes(false); len(ch) != 0 {
		t.Fatalf("reverted tx wrote %+v", ch)
	}
}
