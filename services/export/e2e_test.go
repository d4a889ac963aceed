package export_test

import (
	"testing"
	"time"
)

// TestEndToEndMatchesTheRecord runs fiscosim's full traffic mix (about 400 transactions: every
// method and event of Asset, Evidence, Ledger and Registry, reverts, deployments by
// transaction and by contract code) through stash (three partitions) into export, all in this
// process on a real broker and a real PostgreSQL, with the four contracts registered by their
// creation bytecode, and checks every table and the events topic row by row against the
// generator's record (checkRecord), on an ECDSA and an SM chain.
func TestEndToEndMatchesTheRecord(t *testing.T) {
	for _, sm := range []bool{false, true} {
		t.Run(suiteName(sm), func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			e := newEnv(t, e2ePartitions)
			file := writeContractsFile(t, sm, allContracts...)
			r := e.start(e.e2eConfig(sm, file))
			recs, blocks := runSimAndStash(t, sm, e.broker.Addrs())
			caughtUp(t, r.client, uint64(blocks))
			events := drainTopic(t, e.broker.Addrs(), "bcos.chain0.group1.events.v1", 2)
			checkRecord(t, e.pool, sm, file, recs, events, false)
			t.Logf("%d blocks, %d transactions end to end in %s", blocks, len(recs), time.Since(began).Round(time.Millisecond))
		})
	}
}
