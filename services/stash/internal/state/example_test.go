package state_test

import (
	"encoding/hex"
	"fmt"

	"github.com/bcosdata/bcosdata/services/stash/internal/state"
)

// exampleBlock is the worked example of the README's checkpoint section.
func exampleBlock() (uint64, [32]byte, []state.Table) {
	var hash [32]byte
	for i := range hash {
		hash[i] = 0x11
	}
	set := func(s string) state.Value { return state.Value{Data: []byte(s), Set: true} }
	tables := []state.Table{
		{Name: "c_01", KeyField: "key", Fields: []string{"value"}, Rows: []state.Row{
			{ID: 3, Kind: state.KindDirty, Key: set("k"), Values: []state.Value{set("v2")}},
			{ID: 2, Kind: state.KindNew, Key: set("k2"), Values: []state.Value{{}}},
		}},
		{Name: "_sys_tx_hash_2_block_", KeyField: "hash", Fields: []string{"value", "index"}, Rows: []state.Row{
			{ID: 7, Kind: state.KindNew, Key: set("bb"), Values: []state.Value{set("1"), set("0")}},
			{ID: 5, Kind: state.KindNew, Key: set("aa"), Values: []state.Value{set("1"), set("1")}},
		}},
		{Name: "_sys_hash_2_block_", KeyField: "hash", Fields: []string{"value"}, Rows: []state.Row{
			{ID: 9, Kind: state.KindNew, Key: set("1111"), Values: []state.Value{set("\xf9\x01\x02")}},
		}},
	}
	return 1, hash, tables
}

func Example_encoding() {
	n, hash, tables := exampleBlock()
	enc := state.AppendEncoding(nil, n, hash, true, tables)
	d := state.BlockDigest(n, hash, true, tables)
	fmt.Println(hex.EncodeToString(enc))
	fmt.Println(hex.EncodeToString(d[:]))
	cp := state.NextCheckpoint(state.Digest{}, d)
	fmt.Println(hex.EncodeToString(cp[:]))
	// Output:
	// 000000000000000111111111111111111111111111111111111111111111111111111111111111110100000003000000125f7379735f686173685f325f626c6f636b5f00000001000000046861736800000001000000000000000900010000000431313131000000155f7379735f74785f686173685f325f626c6f636b5f00000003000000046861736800000005696e6465780000000576616c756500000002000000000000000000010000000261610100000001310100000001310000000000000000000100000002626201000000013001000000013100000004635f303100000002000000036b65790000000576616c75650000000200000000000000020001000000026b320000000000000000030001000000016b01000000027632
	// cab03b0b22fadef2f37b2eb6162b9259934ee2770ce231f875a9dde65cc66997
	// 604833dac603c522cce7ec1b4fcc34eb135b75e67066a06e00be4a21ab782a04
}
