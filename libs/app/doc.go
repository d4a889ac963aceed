// Package app is the process scaffolding every bcosdata service shares: configuration from
// flags with environment fallback, the zap logger, and a server that runs a gRPC endpoint (with
// health and reflection) beside an admin HTTP endpoint (/metrics, /livez, /readyz, pprof) and
// the services' public HTTP/JSON APIs (grpc-gateway in front of the gRPC endpoint, with their
// OpenAPI documents), and drains them all gracefully.
//
// Services stay libraries: they register their gRPC APIs and readiness checks on a Server built
// here, so the same code runs as its own binary or inside the all-in-one bcosdata process, where
// Serve hosts several services on one Server.
//
// The lifecycle follows two models. Readiness (Thanos' prober): the gRPC health status starts
// NOT_SERVING, and the checks, probed at start and every second, decide both it and /readyz.
// Shutdown (Temporal): readiness off, the gRPC server drains its in-flight RPCs, then the
// services' Run is cancelled and awaited, and only then may the host close the pool.
package app
