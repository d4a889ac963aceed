package store_test

import (
	"bytes"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// TestTransactionDetailReadsThePickedTables stores a call to a contract whose method and event
// tables have parameters named like the reading function's own variables, and checks that
// TransactionDetail returns the transaction, its log and exactly its rows of the tables its
// call and log pick (not those of another method, event or contract), with their values (a
// NULL as nil); and
// that registries (one function each) read the same database side by side, their first calls
// at once from two instances included.
func TestTransactionDetailReadsThePickedTables(t *testing.T) {
	t.Parallel()
	pool, st := openInitialized(t)
	ctx := t.Context()
	addr, other := bytes.Repeat([]byte{0xaa}, 20), bytes.Repeat([]byte{0xbb}, 20)
	col := func(name string) contract.Column {
		return contract.Column{Name: name, Param: name, ABIType: "uint256", SQLType: "numeric(78,0)"}
	}
	table := func(name, owner string, kind contract.Kind, id byte, cols ...string) *contract.Table {
		tb := &contract.Table{Name: name, Kind: kind, Contract: owner, Item: name, ID: []byte{id, 1, 2, 3}}
		for _, c := range cols {
			tb.Columns = append(tb.Columns, col(c))
		}
		return tb
	}
	call := table("token_set", "Token", contract.MethodTable, 0x11, "bn", "ti", "k")
	event := table("token_was_set", "Token", contract.EventTable, 0x22, "f", "toa", "sel")
	tables := []*contract.Table{
		table("token_get", "Token", contract.MethodTable, 0x12, "bn"), // another method
		event, call,
		table("token_other", "Token", contract.EventTable, 0x23, "bn"), // another event
		table("vault_set", "Vault", contract.MethodTable, 0x11, "bn"),  // the same selector, another contract
	}
	hash := bytes.Repeat([]byte{0x01}, 32)
	write(t, st, func(tx *store.Tx) error {
		for _, tb := range tables {
			if _, err := tx.CreateTypedTable(ctx, tb); err != nil {
				return err
			}
		}
		if _, err := tx.AddDeployments(ctx, []store.Deployment{{Address: addr, Contract: "Token"}, {Address: other, Contract: "Vault"}}); err != nil {
			return err
		}
		if err := tx.WriteBase(ctx, []store.Block{{Number: 0, Hash: []byte{0}, Parent: []byte{0}, Time: time.Unix(0, 0), GasUsed: new(big.Int)},
			{Number: 1, Hash: []byte{1}, Parent: []byte{0}, Time: time.Unix(1, 0), GasUsed: new(big.Int)}},
			[]store.Transaction{{BlockNumber: 1, Index: 3, Hash: hash, From: other, To: addr, Input: []byte{0x11, 1, 2, 3, 9}, BlockLimit: big.NewInt(1), Output: []byte{}}},
			[]store.Log{{BlockNumber: 1, TxHash: hash, TxIndex: 3, LogIndex: 0, Address: addr, Topics: [][]byte{event.ID}, Data: []byte{}}}, 0); err != nil {
			return err
		}
		row := func(tb *contract.Table, log uint32, vals ...any) store.TypedRow {
			return store.TypedRow{Table: tb, BlockNumber: 1, BlockTime: time.Unix(1, 0), TxHash: hash, TxIndex: 3, LogIndex: log,
				ContractAddress: addr, From: other, Values: vals}
		}
		// Rows of this transaction in tables it does not pick too: a wrong pick shows.
		return tx.WriteTyped(ctx, []store.TypedRow{row(call, 0, 1, 2, 3), row(event, 0, 4, nil, 6),
			row(tables[0], 0, 7), row(tables[3], 1, 8), row(tables[4], 0, 9)})
	})

	for _, reg := range [][]*contract.Table{tables, {call, event}} {
		d, rows, err := st.TransactionDetail(ctx, hash, store.NewTxTables(reg))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d.Tx.Hash, hash) || d.Tx.Index != 3 || len(d.Logs) != 1 || !bytes.Equal(d.Logs[0].Address, addr) {
			t.Fatalf("transaction %x index %d with %d logs, want %x, 3, 1 log", d.Tx.Hash, d.Tx.Index, len(d.Logs), hash)
		}
		got := map[string][]string{}
		for _, r := range rows {
			for _, v := range r.Values {
				s := "NULL"
				if v != nil {
					s = *v
				}
				got[r.Table.Name] = append(got[r.Table.Name], s)
			}
		}
		want := map[string][]string{"token_set": {"1", "2", "3"}, "token_was_set": {"4", "NULL", "6"}}
		if len(got) != len(want) || len(rows) != 2 || !slices.Equal(got["token_set"], want["token_set"]) || !slices.Equal(got["token_was_set"], want["token_was_set"]) {
			t.Fatalf("registry of %d tables: decoded rows %v, want %v", len(reg), got, want)
		}
	}
	// The first calls of a registry, at once, from two stores (two instances): each creates
	// the function or finds it made.
	second, err := store.Open(ctx, pool, store.DefaultPartitionBlocks)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	fresh := store.NewTxTables([]*contract.Table{event})
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			_, _, err := []*store.Store{st, second}[i%2].TransactionDetail(ctx, hash, fresh)
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatalf("first calls at once: %v", err)
		}
	}
	var functions int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_proc WHERE pronamespace = 'export'::regnamespace AND proname LIKE 'transaction_decoded_%'`).Scan(&functions); err != nil || functions != 3 {
		t.Fatalf("%d functions (%v), want one per registry: 3", functions, err)
	}
	if _, _, err := st.TransactionDetail(ctx, bytes.Repeat([]byte{0x02}, 32), store.NewTxTables(tables)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unknown transaction: %v, want ErrNotFound", err)
	}
}
