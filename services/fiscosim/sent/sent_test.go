package sent

import (
	"encoding/json"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// TestJSON checks the JSON conventions: integers as decimal strings, bytes and bytesN as 0x
// hex, addresses lowercase, tuples as objects in field order.
func TestJSON(t *testing.T) {
	maxU := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	r := Record{
		Seq: 3, TxHash: common.HexToHash("0xAB"), From: common.HexToAddress("0xABCDEF0000000000000000000000000000000001"),
		Contract: "Ledger", Method: "post", Signature: "post(address,uint256)",
		Inputs: []Value{
			{Name: "amount", Type: "uint256", Value: maxU},
			{Name: "fee", Type: "int64", Value: int64(-5)},
			{Name: "memo", Type: "string", Value: "转账备注"},
			{Name: "doc", Type: "bytes", Value: []byte{}},
			{Name: "kind", Type: "bytes4", Value: [4]byte{'C', 'R', 'D', 'T'}},
			{Name: "window", Type: "uint64[2]", Value: [2]uint64{1, 2}},
			{Name: "e", Type: "(address,uint256[])", Value: Tuple{
				{Name: "account", Type: "address", Value: common.HexToAddress("0xAB")},
				{Name: "lines", Type: "uint256[]", Value: []*big.Int{big.NewInt(-1)}},
			}},
		},
		Events: []Event{{Name: "Posted", Args: []Value{{Name: "account", Type: "address", Indexed: true, Value: common.Address{}}}}},
	}
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":3,"txHash":"0x00000000000000000000000000000000000000000000000000000000000000ab",` +
		`"from":"0xabcdef0000000000000000000000000000000001","contract":"Ledger","to":"0x0000000000000000000000000000000000000000",` +
		`"method":"post","signature":"post(address,uint256)","inputs":[` +
		`{"name":"amount","type":"uint256","value":"115792089237316195423570985008687907853269984665640564039457584007913129639935"},` +
		`{"name":"fee","type":"int64","value":"-5"},{"name":"memo","type":"string","value":"转账备注"},` +
		`{"name":"doc","type":"bytes","value":"0x"},{"name":"kind","type":"bytes4","value":"0x43524454"},` +
		`{"name":"window","type":"uint64[2]","value":["1","2"]},` +
		`{"name":"e","type":"(address,uint256[])","value":{"account":"0x00000000000000000000000000000000000000ab","lines":["-1"]}}],` +
		`"events":[{"contract":"","name":"Posted","signature":"","address":"0x0000000000000000000000000000000000000000",` +
		`"args":[{"name":"account","type":"address","indexed":true,"value":"0x0000000000000000000000000000000000000000"}]}]}`
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
