package ingest

import (
	"testing"

	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// TestGuessedOnlyWhenDeploymentsMatch checks that a batch decoded ahead of its transaction is
// used only when the transaction reads the same deployments, and that using it leaves the
// guess as it was (a failed attempt must not change what a retry starts from).
func TestGuessedOnlyWhenDeploymentsMatch(t *testing.T) {
	p := &Pipeline{}
	p.contracts.Store(NewContracts(nil))
	g := &guess{
		contracts: p.reg(),
		known:     map[string]string{"a": "Asset"},
		out:       &decoded{msgs: []store.Message{{Topic: "events", LogIndex: 1}}},
	}
	if _, _, ok := p.guessed(g, &looked{known: map[string]string{"a": "Asset", "b": "Ledger"}}); ok {
		t.Error("a deployment recorded after the guess: the guess was used")
	}
	if _, _, ok := p.guessed(g, &looked{known: map[string]string{"a": "Ledger"}}); ok {
		t.Error("an address of another contract after the guess: the guess was used")
	}
	if _, _, ok := p.guessed(nil, &looked{known: map[string]string{}}); ok {
		t.Error("no guess: guessed reported one")
	}
	stale := *g
	stale.contracts = NewContracts(nil)
	if _, _, ok := p.guessed(&stale, &looked{known: map[string]string{"a": "Asset"}}); ok {
		t.Error("a guess decoded with another registry was used")
	}
	out, _, ok := p.guessed(g, &looked{known: map[string]string{"a": "Asset"}})
	if !ok {
		t.Fatal("the same deployments: the guess was not used")
	}
	if len(out.msgs) != 1 || out.msgs[0].LogIndex != 1 {
		t.Fatalf("guessed messages %+v, want the guess's one", out.msgs)
	}
	out.msgs = append(out.msgs[:0], store.Message{Topic: "calls", LogIndex: 9})
	if g.out.msgs[0].LogIndex != 1 {
		t.Error("changing the decoding returned changed the guess")
	}
}
