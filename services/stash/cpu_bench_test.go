package stash_test

import (
	"github.com/bcosdata/bcosdata/libs/benchcpu"
)

// children are the processes this test binary runs as for BenchmarkIngest: its broker
// ("broker", benchcpu.StartBroker), so that the processor time of the stash, of the broker
// and of PostgreSQL can be told apart.
var children = benchcpu.Children{
	"broker": func() error { return benchcpu.ServeBroker() },
}
