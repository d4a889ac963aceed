// Package depsanchor pins the libs module's dependencies while the packages that use them are
// being written in parallel. It is removed once every dependency has a real importer.
package depsanchor

import (
	_ "github.com/FISCO-BCOS/go-sdk/client"
	_ "github.com/FISCO-BCOS/go-sdk/conn"
	_ "github.com/cenkalti/backoff/v4"
	_ "github.com/emmansun/gmsm/sm2"
	_ "github.com/emmansun/gmsm/sm3"
	_ "github.com/ethereum/go-ethereum/crypto"
	_ "github.com/ethereum/go-ethereum/crypto/secp256k1"
	_ "github.com/ethereum/go-ethereum/rlp"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/tern/v2/migrate"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/collectors"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/segmentio/kafka-go"
	_ "github.com/twmb/franz-go/pkg/kfake"
	_ "go.uber.org/goleak"
	_ "go.uber.org/zap"
	_ "golang.org/x/sync/errgroup"
	_ "google.golang.org/grpc"
	_ "google.golang.org/grpc/health"
	_ "google.golang.org/grpc/reflection"
	_ "google.golang.org/protobuf/proto"
)
