package rpc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/chain"
	"github.com/ethereum/go-ethereum/common"
)

type discard struct{}

func (discard) WriteRecord(*binlog.Record) error { return nil }

type env struct {
	c     *chain.Chain
	h     *Handler
	suite *cryptosuite.Suite
	user  *cryptosuite.PrivateKey
	nonce int64
}

func newEnv(t testing.TB, version string) *env {
	t.Helper()
	s := cryptosuite.ECDSA()
	v, err := chain.ParseVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	var sealers []*cryptosuite.PrivateKey
	for i := range 4 {
		k, _ := s.KeyFromSeed([]byte{byte(i)})
		sealers = append(sealers, k)
	}
	c, err := chain.New(chain.Params{Suite: s, ChainID: 1, GroupID: 1, Version: v, Sealers: sealers, GenesisTime: 1, Retain: true}, discard{})
	if err != nil {
		t.Fatal(err)
	}
	user, _ := s.KeyFromSeed([]byte("user"))
	h := NewHandler(Config{Chain: c, Info: NodeInfo{Version: version, SupportedVersion: v, ChainID: 1, GroupID: 1, NodeID: sealers[0].PublicKey().String()}})
	return &env{c: c, h: h, suite: s, user: user}
}

func (e *env) rawTx(t testing.TB, data []byte) string {
	t.Helper()
	e.nonce++
	to := common.HexToAddress("0x0000000000000000000000000000000000001234")
	tx := &block.Transaction{Nonce: big.NewInt(e.nonce), Gas: big.NewInt(100000), BlockLimit: new(big.Int).SetUint64(e.c.HeadNumber() + 100),
		To: &to, Data: data, ChainID: big.NewInt(1), GroupID: big.NewInt(1)}
	if err := tx.Sign(e.suite, e.user); err != nil {
		t.Fatal(err)
	}
	return "0x" + hex.EncodeToString(tx.Encode())
}

func (e *env) do(t *testing.T, body string) map[string]any {
	t.Helper()
	out := e.h.Handle(t.Context(), []byte(body))
	if !bytes.HasSuffix(out, []byte("\n")) || bytes.Count(out, []byte("\n")) != 1 {
		t.Fatalf("response is not one newline-terminated line: %q", out)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	return m
}

func req(method string, params ...any) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
	return string(b)
}

// TestErrorCodes checks the node's error codes for malformed and unanswerable requests.
func TestErrorCodes(t *testing.T) {
	e := newEnv(t, "2.9.0")
	cases := []struct {
		name, body string
		code       float64
	}{
		{"parse error", `{"jsonrpc":"2.0","id":1,"method":`, CodeParseError},
		{"not a request", `{"id":1}`, CodeInvalidRequest},
		{"unknown method", req("getNothing", 1), CodeMethodNotFound},
		{"group as string", req("getBlockNumber", "1"), CodeInvalidParams},
		{"missing param", req("getBlockByNumber", 1, "0x0"), CodeInvalidParams},
		{"number as integer", req("getBlockByNumber", 1, 0, false), CodeInvalidParams},
		{"unknown group", req("getBlockNumber", 2), CodeGroupID},
		{"unknown block number", req("getBlockByNumber", 1, "0x9", false), CodeBlockNumber},
		{"unknown block hash", req("getBlockByHash", 1, "0x"+strings.Repeat("ab", 32), false), CodeBlockHash},
		{"bad number", req("getBlockByNumber", 1, "zz", false), CodeInternalError},
		{"batch of empty block", req("getBatchReceiptsByBlockNumberAndRange", 1, "0", "0", "-1", false), CodeIndexOutOfRange},
		{"call without from", req("call", 1, map[string]any{"to": "0x01", "data": "0x"}), CodeCallFrom},
		{"bad system config", req("getSystemConfigByKey", 1, "nope"), CodeInvalidSysCfg},
		{"raw tx garbage", req("sendRawTransaction", 1, "0xc0"), CodeInternalError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := e.do(t, tc.body)
			errObj, ok := m["error"].(map[string]any)
			if !ok || errObj["code"] != tc.code || m["jsonrpc"] != "2.0" {
				t.Fatalf("got %v, want code %v", m, tc.code)
			}
		})
	}
}

// TestNumbersDecimalOrHex checks that block numbers are accepted in both forms and that an
// unknown transaction is a null result, not an error.
func TestNumbersDecimalOrHex(t *testing.T) {
	e := newEnv(t, "2.9.0")
	for _, n := range []string{"0", "0x0", "0X0"} {
		m := e.do(t, req("getBlockHashByNumber", 1, n))
		if _, ok := m["result"].(string); !ok {
			t.Fatalf("%s: %v", n, m)
		}
	}
	m := e.do(t, req("getTransactionByHash", 1, "0x"+strings.Repeat("00", 32)))
	if r, ok := m["result"]; !ok || r != nil {
		t.Fatalf("unknown tx: %v", m)
	}
	m = e.do(t, req("getTransactionReceipt", 1, "0x"+strings.Repeat("00", 32)))
	if r, ok := m["result"]; !ok || r != nil {
		t.Fatalf("unknown receipt: %v", m)
	}
}

// TestSendRawTransaction submits, rejects a replay, seals and reads the transaction back.
func TestSendRawTransaction(t *testing.T) {
	e := newEnv(t, "2.9.0")
	raw := e.rawTx(t, nil)
	m := e.do(t, req("sendRawTransaction", 1, raw))
	hash, ok := m["result"].(string)
	if !ok || len(hash) != 66 {
		t.Fatalf("sendRawTransaction: %v", m)
	}
	m = e.do(t, req("sendRawTransaction", 1, raw))
	if errObj, _ := m["error"].(map[string]any); errObj == nil || errObj["code"] != float64(CodeInternalError) || !strings.Contains(errObj["message"].(string), "AlreadyKnown") {
		t.Fatalf("replay: %v", m)
	}
	if p := e.do(t, req("getPendingTxSize", 1))["result"]; p != "0x1" {
		t.Fatalf("pending %v", p)
	}
	if _, err := e.c.Seal(e.c.TakePending(10), 0); err != nil {
		t.Fatal(err)
	}
	tx := e.do(t, req("getTransactionByHash", 1, hash))["result"].(map[string]any)
	if tx["hash"] != hash || tx["blockNumber"] != "0x1" || tx["blockLimit"] == nil {
		t.Fatalf("tx %v", tx)
	}
	sig := tx["signature"].(map[string]any)
	if v := sig["v"]; v != "0x0" && v != "0x1" {
		t.Fatalf("ECDSA v %v, want the recovery id", v)
	}
	rc := e.do(t, req("getTransactionReceipt", 1, hash))["result"].(map[string]any)
	// A call to an address without code fails as the node does.
	if rc["status"] != "0x1a" || rc["statusMsg"] != "CallAddressError" || rc["remainGas"] == nil {
		t.Fatalf("receipt %v", rc)
	}
}

// TestVersionShapes checks the fields that come and go with the version.
func TestVersionShapes(t *testing.T) {
	cases := []struct {
		version                         string
		headerRPC, statusMsg, remainGas bool
		sigsInBlock, txExtras           bool
	}{
		{"2.5.0", false, false, false, false, false},
		{"2.6.0", true, false, false, false, false},
		{"2.7.0", true, true, false, true, true},
		{"2.9.0", true, true, true, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.version, func(t *testing.T) {
			e := newEnv(t, tc.version)
			hash := e.do(t, req("sendRawTransaction", 1, e.rawTx(t, nil)))["result"]
			if _, err := e.c.Seal(e.c.TakePending(10), 0); err != nil {
				t.Fatal(err)
			}
			m := e.do(t, req("getBlockHeaderByNumber", 1, "1", true))
			if _, ok := m["result"]; ok != tc.headerRPC {
				t.Fatalf("getBlockHeaderByNumber answered %v", m)
			}
			blk := e.do(t, req("getBlockByNumber", 1, "1", true))["result"].(map[string]any)
			if _, ok := blk["signatureList"]; ok != tc.sigsInBlock {
				t.Fatalf("signatureList present %v", ok)
			}
			tx := blk["transactions"].([]any)[0].(map[string]any)
			if _, ok := tx["blockLimit"]; ok != tc.txExtras {
				t.Fatalf("tx blockLimit present %v", ok)
			}
			rc := e.do(t, req("getTransactionReceipt", 1, hash))["result"].(map[string]any)
			_, sm := rc["statusMsg"]
			_, rg := rc["remainGas"]
			if sm != tc.statusMsg || rg != tc.remainGas {
				t.Fatalf("receipt statusMsg %v remainGas %v", sm, rg)
			}
		})
	}
}

// TestHTTPFraming checks POST on any path with sorted compact keys, and 405 for GET.
func TestHTTPFraming(t *testing.T) {
	e := newEnv(t, "2.9.0")
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/any/path", "application/json", strings.NewReader(req("getBlockNumber", 1)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"id":7,"jsonrpc":"2.0","result":"0x0"}` + "\n"; string(body) != want {
		t.Fatalf("body %q, want %q", body, want)
	}
	resp, err = http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	// Keys are sorted at every level.
	out := string(e.h.Handle(t.Context(), []byte(req("getSyncStatus", 1))))
	for _, pair := range [][2]string{{`"blockNumber"`, `"genesisHash"`}, {`"knownLatestHash"`, `"latestHash"`}, {`"peers"`, `"protocolId"`}} {
		if strings.Index(out, pair[0]) > strings.Index(out, pair[1]) {
			t.Fatalf("%s after %s in %s", pair[0], pair[1], out)
		}
	}
	// A batch answers every request in order.
	batch := fmt.Sprintf("[%s,%s]", req("getBlockNumber", 1), req("getGroupList"))
	var arr []map[string]any
	if err := json.Unmarshal(e.h.Handle(t.Context(), []byte(batch)), &arr); err != nil || len(arr) != 2 {
		t.Fatalf("batch: %v %v", arr, err)
	}
}

// FuzzHandle feeds arbitrary request bodies to the handler: it must never panic and must
// answer with one line of valid JSON (or nothing, for notifications).
func FuzzHandle(f *testing.F) {
	for _, s := range []string{
		req("getBlockByNumber", 1, "0x0", true), req("sendRawTransaction", 1, "0xf8"), `[` + req("getBlockNumber", 1) + `]`,
		`{"jsonrpc":"2.0","method":"getBatchReceiptsByBlockNumberAndRange","params":[1,"0","1","-1",true]}`, `[]`, `{}`, `null`,
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f, "2.9.0")
	f.Fuzz(func(t *testing.T, body []byte) {
		out := e.h.Handle(t.Context(), body)
		if out == nil {
			return
		}
		if !json.Valid(out) || !bytes.HasSuffix(out, []byte("\n")) {
			t.Fatalf("response %q", out)
		}
	})
}
