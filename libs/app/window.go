package app

import "google.golang.org/grpc"

// Flow-control windows of the services' gRPC connections, fixed instead of estimated.
//
// With no window set, grpc-go estimates the bandwidth-delay product of every connection: the
// first DATA frame received after each estimate sends a PING (with a WINDOW_UPDATE), and its
// acknowledgement ends the estimate. An API of small unary calls at a steady rate pays one
// such exchange per call and per direction: writes, reads and thread wake-ups on both ends,
// measured as about 100 µs of the server's CPU and 140 µs of the client's per call on a
// two-core machine, and a longer tail (export's BenchmarkQueryAPI). Fixed windows end the
// estimates. They are sized for the largest answers the APIs give (a page of decoded rows, a
// block with its transactions): a stream may have 1 MiB in flight before its reader takes
// any, a connection 8 MiB, enough for a gigabit link 8 ms away without waiting on window
// updates; farther clients of bulk lists would be slower than with an estimated window.
const (
	StreamWindowBytes = 1 << 20
	ConnWindowBytes   = 8 << 20
)

// serverWindowOptions fix the server's receive windows.
func serverWindowOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.InitialWindowSize(StreamWindowBytes), grpc.InitialConnWindowSize(ConnWindowBytes)}
}

// ClientWindowOptions fix a client's receive windows as the services' own are. The gateways
// in process, the demo's client and the benchmarks' load clients dial with them; a client
// making a steady stream of small calls should too. (The audit anchor's client, a call a
// minute by default, is left with grpc-go's defaults.)
func ClientWindowOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithInitialWindowSize(StreamWindowBytes), grpc.WithInitialConnWindowSize(ConnWindowBytes)}
}
