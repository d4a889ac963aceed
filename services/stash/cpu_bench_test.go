package stash_test

import (
	"testing"

	"github.com/bcosdata/bcosdata/libs/benchcpu"
)

// TestBenchBrokerChild is BenchmarkIngest's broker process (benchcpu.StartBroker runs this test
// binary again for it), so the processor time of the stash, of the broker and of PostgreSQL
// can be told apart; in a normal test run it skips.
func TestBenchBrokerChild(t *testing.T) { benchcpu.ServeBroker(t) }
