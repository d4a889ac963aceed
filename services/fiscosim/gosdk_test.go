package fiscosim_test

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/FISCO-BCOS/go-sdk/client"
	"github.com/FISCO-BCOS/go-sdk/conf"
	"github.com/FISCO-BCOS/go-sdk/conn"
	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fixtures"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/contracts"
)

// recorded returns the .response (or its .result) of an RPC fixture.
func recorded(t *testing.T, file string) any {
	t.Helper()
	var f struct {
		Response map[string]any `json:"response"`
	}
	if err := json.Unmarshal(fixtures.Read(t, "rpc", file), &f); err != nil {
		t.Fatalf("fixture %s: %v", file, err)
	}
	if r, ok := f.Response["result"]; ok {
		return r
	}
	return f.Response // a bare result object
}

// TestGoSDKReadsChain connects go-sdk v1.1.1 over HTTP to a running simulator, reads blocks,
// transactions, receipts and sealers through its typed API, and checks every response the
// readers use against the field set and JSON types of the recorded node responses, allowing
// only the documented version deltas.
func TestGoSDKReadsChain(t *testing.T) {
	for _, sm := range []bool{false, true} {
		name := map[bool]string{false: "ecdsa", true: "sm"}[sm]
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.SM = sm
			sim := startSim(t, cfg)
			waitBlock(t, sim, 6)
			url := sim.RPCURL()

			c, err := client.Dial(&conf.Config{IsHTTP: true, ChainID: 1, GroupID: 1, NodeURL: sim.RPCAddr(), DynamicKey: true, IsSMCrypto: sm})
			if err != nil {
				t.Fatalf("go-sdk Dial: %v", err)
			}
			defer c.Close()
			ctx := t.Context()

			head, err := c.GetBlockNumber(ctx)
			if err != nil || head < 6 {
				t.Fatalf("GetBlockNumber = %d, %v", head, err)
			}
			sealers, err := c.GetSealerList(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			if err := json.Unmarshal(sealers, &ids); err != nil || !reflect.DeepEqual(ids, sim.SealerIDs()) || len(ids) != 4 {
				t.Fatalf("GetSealerList = %s (%v), want %v", sealers, err, sim.SealerIDs())
			}

			// Block 1 deploys the contracts; later blocks carry transfers and evidence.
			b1, err := c.GetBlockByNumber(ctx, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			if b1.Number != "0x1" || len(b1.Transactions) == 0 || len(b1.SignatureList) != 3 {
				t.Fatalf("block 1: number %s, %d txs, %d sigs", b1.Number, len(b1.Transactions), len(b1.SignatureList))
			}
			byHash, err := c.GetBlockByHash(ctx, common.HexToHash(b1.Hash), false)
			if err != nil || byHash.Hash != b1.Hash || len(byHash.SignatureList) != 0 {
				t.Fatalf("GetBlockByHash: %+v, %v", byHash, err)
			}
			deployHash := common.HexToHash(byHash.Transactions[0].(string))
			tx, err := c.GetTransactionByHash(ctx, deployHash)
			if err != nil || tx.Hash != deployHash.Hex() || tx.BlockNumber != "0x1" {
				t.Fatalf("GetTransactionByHash: %+v, %v", tx, err)
			}
			rc, err := c.GetTransactionReceipt(ctx, deployHash)
			if err != nil || rc.Status != 0 {
				t.Fatalf("GetTransactionReceipt(deploy): %+v, %v", rc, err)
			}
			asset := sim.Contracts()[0]
			if !strings.EqualFold(rc.ContractAddress.Hex(), asset.Address) {
				t.Fatalf("deployed at %s, want %s", rc.ContractAddress.Hex(), asset.Address)
			}
			codeJSON, err := c.GetCode(ctx, common.HexToAddress(asset.Address))
			if err != nil {
				t.Fatal(err)
			}
			var codeHex string
			if err := json.Unmarshal(codeJSON, &codeHex); err != nil {
				t.Fatalf("GetCode returned %s: %v", codeJSON, err)
			}
			code, _ := hex.DecodeString(strings.TrimPrefix(codeHex, "0x"))
			suite := cryptosuite.ECDSA()
			if sm {
				suite = cryptosuite.SM()
			}
			contract, err := contracts.Load(contracts.NameAsset, suite.Hash)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(code, contract.Runtime) {
				t.Fatal("GetCode differs from the asset runtime code")
			}

			// Find a transfer receipt with its event.
			transferTopic, _ := contract.Topic("Transfer")
			var transferTx, transferBlock string
			for n := int64(2); n <= head && transferTx == ""; n++ {
				blk, err := c.GetBlockByNumber(ctx, n, false)
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range blk.Transactions {
					r, err := c.GetTransactionReceipt(ctx, common.HexToHash(h.(string)))
					if err != nil {
						t.Fatal(err)
					}
					if r.Status == 0 && len(r.Logs) == 1 && r.Logs[0].Topics[0] == transferTopic.Hex() {
						transferTx, transferBlock = h.(string), blk.Hash
						break
					}
				}
			}
			if transferTx == "" {
				t.Fatal("no successful transfer in the first blocks")
			}
			total, err := c.GetTotalTransactionCount(ctx)
			if err != nil || total.TxSum == "" {
				t.Fatalf("GetTotalTransactionCount: %+v, %v", total, err)
			}
			cv, err := c.GetClientVersion(ctx)
			if err != nil || cv.SupportedVersion != "2.9.0" || strings.HasSuffix(cv.FiscoBcosVersion, " gm") != sm {
				t.Fatalf("GetClientVersion: %+v, %v", cv, err)
			}

			// The two methods go-sdk lacks, through its raw connection.
			rawConn, err := conn.DialContextHTTP(sim.RPCAddr())
			if err != nil {
				t.Fatal(err)
			}
			var header map[string]any
			if err := rawConn.CallContext(ctx, &header, "getBlockHeaderByNumber", 1, "0x1", true); err != nil {
				t.Fatal(err)
			}
			if header["hash"] != b1.Hash || header["number"] != float64(1) {
				t.Fatalf("getBlockHeaderByNumber: hash %v number %v", header["hash"], header["number"])
			}
			var plain map[string]any
			var packed string
			if err := rawConn.CallContext(ctx, &plain, "getBatchReceiptsByBlockNumberAndRange", 1, "1", "0", "-1", false); err != nil {
				t.Fatal(err)
			}
			if err := rawConn.CallContext(ctx, &packed, "getBatchReceiptsByBlockNumberAndRange", 1, "1", "0", "-1", true); err != nil {
				t.Fatal(err)
			}
			z, err := base64.StdEncoding.DecodeString(packed)
			if err != nil {
				t.Fatal(err)
			}
			zr, err := zlib.NewReader(bytes.NewReader(z))
			if err != nil {
				t.Fatal(err)
			}
			unpacked, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			plainJSON := rpcRaw(t, url, "getBatchReceiptsByBlockNumberAndRange", 1, "1", "0", "-1", false)
			var env struct{ Result json.RawMessage }
			_ = json.Unmarshal(plainJSON, &env)
			if string(unpacked) != string(env.Result)+"\n" {
				t.Fatalf("compressed batch does not decode to the plain one + newline:\n%s\n%s", unpacked, env.Result)
			}

			// Shapes against recorded node responses.
			headerFixture, txFixture, deployFixture := "javasdk_ecdsa_getBlockHeaderByHash.json", "doc_getTransactionByHash.json", "doc_getTransactionByHash.json"
			if sm {
				headerFixture, txFixture, deployFixture = "javasdk_sm_getBlockHeader.json", "javasdk_sm_getTransactionByHash_call.json", "javasdk_sm_getTransactionByHash_deploy.json"
			}
			receiptDelta := map[string]bool{"statusMsg": true, "remainGas": true}
			pyReceiptDelta := map[string]bool{"statusMsg": true, "remainGas": true, "root": true, "input": true}
			cases := []struct {
				fixture string
				method  string
				params  []any
				extra   map[string]bool
			}{
				{"doc_getClientVersion_en.json", "getClientVersion", nil, nil},
				{"doc_getBlockNumber.json", "getBlockNumber", []any{1}, nil},
				{"doc_getBlockByHash_includeTx_true.json", "getBlockByHash", []any{1, transferBlock, true}, nil},
				{"doc_getBlockByHash_includeTx_false.json", "getBlockByHash", []any{1, transferBlock, false}, nil},
				{"doc_getBlockByHash_includeTx_true.json", "getBlockByNumber", []any{1, "2", true}, nil},
				{headerFixture, "getBlockHeaderByHash", []any{1, transferBlock, true}, nil},
				{headerFixture, "getBlockHeaderByNumber", []any{1, "0x2", true}, nil},
				{"doc_getBlockHashByNumber.json", "getBlockHashByNumber", []any{1, "1"}, nil},
				{txFixture, "getTransactionByHash", []any{1, transferTx}, nil},
				{deployFixture, "getTransactionByHash", []any{1, deployHash.Hex()}, nil},
				{txFixture, "getTransactionByBlockNumberAndIndex", []any{1, "1", "0"}, nil},
				{"doc_getTransactionReceipt.json", "getTransactionReceipt", []any{1, transferTx}, receiptDelta},
				{"pysdk_receipt_with_logs.json", "getTransactionReceipt", []any{1, transferTx}, pyReceiptDelta},
				{"javasdk_getBatchReceiptsByBlockNumberAndRange_plain.json", "getBatchReceiptsByBlockNumberAndRange", []any{1, "1", "0", "-1", false}, nil},
				{"javasdk_getBatchReceiptsByBlockNumberAndRange_compressed.json", "getBatchReceiptsByBlockNumberAndRange", []any{1, "1", "0", "1", true}, nil},
				{"doc_getSealerList.json", "getSealerList", []any{1}, nil},
				{"doc_getObserverList.json", "getObserverList", []any{1}, nil},
				{"doc_getGroupList.json", "getGroupList", []any{}, nil},
				{"doc_getSyncStatus.json", "getSyncStatus", []any{1}, nil},
				{"doc_getTotalTransactionCount.json", "getTotalTransactionCount", []any{1}, nil},
				{"doc_getPendingTxSize.json", "getPendingTxSize", []any{1}, nil},
				{"doc_getCode.json", "getCode", []any{1, asset.Address}, nil},
				{"doc_getSystemConfigByKey.json", "getSystemConfigByKey", []any{1, "tx_count_limit"}, nil},
				{"doc_call.json", "call", []any{1, map[string]any{"from": asset.Address, "to": asset.Address, "data": "0x" + hex.EncodeToString(mustPack(t, contract, "totalSupply"))}}, nil},
			}
			for _, tc := range cases {
				got := rpcResult(t, url, tc.method, tc.params...)
				if d := shapeDiff(tc.method, got, recorded(t, tc.fixture), tc.extra); len(d) > 0 {
					t.Errorf("%s vs %s:\n  %s", tc.method, tc.fixture, strings.Join(d, "\n  "))
				}
			}
			// The deploy transaction's "to" is the zero address (2.7+), as in the SM sample.
			if to := rpcResult(t, url, "getTransactionByHash", 1, deployHash.Hex()).(map[string]any)["to"]; to != "0x0000000000000000000000000000000000000000" {
				t.Errorf("deploy tx to = %v", to)
			}
		})
	}
}

func mustPack(t *testing.T, c *contracts.Contract, method string, args ...any) []byte {
	t.Helper()
	b, err := c.Pack(method, args...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestClientVersionShape checks the fields go-sdk's Dial validates.
func TestClientVersionShape(t *testing.T) {
	cfg := testConfig(t)
	cfg.TPS = 0
	cfg.ChainID = 7
	sim := startSim(t, cfg)
	v := rpcResult(t, sim.RPCURL(), "getClientVersion").(map[string]any)
	if v["Chain Id"] != "7" || v["Supported Version"] != "2.9.0" || v["FISCO-BCOS Version"] != "2.9.0" {
		t.Fatalf("getClientVersion = %v", v)
	}
	if _, err := strconv.Atoi(strings.Split(v["Supported Version"].(string), ".")[2]); err != nil {
		t.Fatal(err)
	}
	_, err := client.Dial(&conf.Config{IsHTTP: true, ChainID: 1, GroupID: 1, NodeURL: sim.RPCAddr(), DynamicKey: true})
	if err == nil || !strings.Contains(err.Error(), "chain ID") {
		t.Fatalf("Dial with the wrong chain id: %v", err)
	}
}
