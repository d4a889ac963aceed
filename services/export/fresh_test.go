package export_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	kafkago "github.com/segmentio/kafka-go"
)

// TestBlocksTwiceInABatchStoredOnce publishes every block message twice in a row, as a
// republishing stash may, so that batches hold a block twice: the write path that copies the
// rows of new blocks straight into their tables cannot take such a batch and applies it
// through staging instead. Every table comes out as from one copy of each block.
func TestBlocksTwiceInABatchStoredOnce(t *testing.T) {
	msgs := blockMessages(t)
	want := count(t, msgs)

	once := newEnv(t, 1)
	once.produce(msgs)
	r := once.start(once.config(samples))
	caughtUp(t, r.client, uint64(want.blocks))

	twice := newEnv(t, 1)
	doubled := make([]kafkago.Message, 0, 2*len(msgs))
	for _, m := range msgs {
		doubled = append(doubled, m, m)
	}
	twice.produce(doubled)
	r2 := twice.start(twice.config(samples))
	caughtUp(t, r2.client, uint64(want.blocks))

	if diff := cmp.Diff(snapshot(t, once.pool), snapshot(t, twice.pool)); diff != "" {
		t.Errorf("tables differ when every block arrives twice (-once +twice):\n%s", diff)
	}
}
