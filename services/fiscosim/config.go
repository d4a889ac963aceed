package fiscosim

import (
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/load"
)

// Clock names accepted by Config.Clock.
const (
	// ClockWall stamps blocks with the wall clock (milliseconds).
	ClockWall = "wall"
	// ClockSim stamps block n with GenesisTime + n × BlockInterval, so identical flags and
	// seed give byte-identical chains.
	ClockSim = "sim"
)

// Transaction mixes accepted by Config.Mix.
const (
	// MixClassic trades on the Asset and Evidence contracts only: the mix bulk benchmarks are
	// measured on.
	MixClassic = "classic"
	// MixFull adds Ledger books and their Registry, whose calls and events carry every ABI
	// shape export decodes.
	MixFull = "full"
)

// SentFile is the name, in the data directory, of the generator's record of what it sent.
const SentFile = "sent.jsonl"

// DefaultGenesisTime is the genesis timestamp of the simulated clock: 2024-01-01T00:00:00Z.
const DefaultGenesisTime = 1704067200000

// Config configures the simulator. Its zero value is not usable; start from DefaultConfig or
// RegisterFlags.
type Config struct {
	// Data is the node data directory; binlog files go to <Data>/group<Group>/BinaryLogs.
	Data string
	// RPCAddr is the JSON-RPC listen address ("" disables the server).
	RPCAddr string
	// BinlogAddr is the binlog HTTP (autoindex) listen address ("" disables the server).
	BinlogAddr string
	// Group and ChainID identify the chain.
	Group   int64
	ChainID int64
	// Sealers is the number of sealer keys (N = 3f+1 tolerates f faults).
	Sealers int
	// SM selects SM2/SM3 instead of ECDSA/keccak256.
	SM bool
	// SupportedVersion is the chain's supported_version (x.y.z); it picks roots, receipts,
	// storage encodings and RPC shapes.
	SupportedVersion string
	// BlockInterval is the time between block proposals.
	BlockInterval time.Duration
	// MaxTxs is the most transactions a block holds.
	MaxTxs int
	// Seed derives every key and the traffic.
	Seed int64
	// TPS is the generated traffic in transactions per second; 0 only serves.
	TPS float64
	// Accounts is the number of trading accounts of the traffic.
	Accounts int
	// Mix is the transaction mix, MixClassic or MixFull; "" picks MixFull for live traffic and
	// MixClassic in bulk mode, so benchmark chains keep their composition.
	Mix string
	// SentLog appends the generator's record of every transaction it submits to
	// <Data>/sent.jsonl (in bulk mode only with Mix set to MixFull explicitly). Off by default:
	// the file grows by about 1 KB per transaction and is never trimmed.
	SentLog bool
	// KeepSent also keeps the records in memory for Sim.Sent (tests: it grows with the chain;
	// in bulk mode only with Mix set to MixFull explicitly).
	KeepSent bool
	// Blocks stops producing after this block number (0: never).
	Blocks uint64
	// Exit returns from Run once Blocks are written.
	Exit bool
	// Clock is ClockWall or ClockSim.
	Clock string
	// GenesisTime is the genesis timestamp in ms; 0 means now (wall) or DefaultGenesisTime
	// (sim).
	GenesisTime uint64
	// BinlogMaxSize is the size limit of a binlog file (0: the node's 128 MiB).
	BinlogMaxSize int64
	// BinlogFormat is "flagged" (node binaries ≥ 2.5.0) or "unflagged" (2.2–2.4).
	BinlogFormat string

	// Bulk writes Txs transactions as fast as possible and returns (no servers).
	Bulk bool
	// Txs is the transaction count of bulk mode.
	Txs int
	// Workers sign in parallel in bulk mode (0: one per CPU).
	Workers int
	// Progress draws a progress bar on stderr in bulk mode.
	Progress bool

	// Faults injected for tests.
	Faults Faults
}

// Faults are the injectable faults.
type Faults struct {
	// CorruptCRC lists blocks whose binlog record gets a wrong CRC.
	CorruptCRC BlockList
	// ForgeSignature lists blocks whose first sealer signature is forged.
	ForgeSignature BlockList
	// RestartAt lists blocks before which the node "restarts": a new binlog file starts.
	RestartAt BlockList
	// TruncateTail cuts the last record in half when production stops (needs Blocks).
	TruncateTail bool
	// Delay slows every RPC and binlog HTTP response.
	Delay time.Duration
}

// BlockList is a comma-separated list of block numbers usable as a flag.
type BlockList []uint64

// String implements flag.Value.
func (l *BlockList) String() string {
	parts := make([]string, len(*l))
	for i, n := range *l {
		parts[i] = strconv.FormatUint(n, 10)
	}
	return strings.Join(parts, ",")
}

// Set implements flag.Value; it appends, so the flag may repeat.
func (l *BlockList) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return fmt.Errorf("parse block number %q: %w", p, err)
		}
		*l = append(*l, n)
	}
	return nil
}

func (l BlockList) set() map[uint64]bool {
	m := make(map[uint64]bool, len(l))
	for _, n := range l {
		m[n] = true
	}
	return m
}

// DefaultConfig returns the defaults: a build_chain.sh-like group 1 of chain 1 with 4 ECDSA
// sealers on supported_version 2.9.0, one block per second of up to 1000 transactions, 10
// tx/s of traffic, JSON-RPC on 127.0.0.1:8545 and binlog HTTP on 127.0.0.1:8546.
func DefaultConfig() Config {
	return Config{
		Data:             "data",
		RPCAddr:          "127.0.0.1:8545",
		BinlogAddr:       "127.0.0.1:8546",
		Group:            1,
		ChainID:          1,
		Sealers:          4,
		SupportedVersion: "2.9.0",
		BlockInterval:    time.Second,
		MaxTxs:           1000,
		Seed:             1,
		TPS:              10,
		Accounts:         20,
		Clock:            ClockWall,
		BinlogMaxSize:    binlog.DefaultMaxFileSize,
		BinlogFormat:     "flagged",
		Txs:              100000,
		Progress:         true,
	}
}

// RegisterFlags registers every option on fs with the defaults of DefaultConfig (or of c, when
// c is not the zero value). Parse with app.ParseFlags(fs, "FISCOSIM", args) so each flag can
// also come from FISCOSIM_<FLAG>.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	if c.Sealers == 0 {
		*c = DefaultConfig()
	}
	fs.StringVar(&c.Data, "data", c.Data, "node data directory; binlogs go to <data>/group<N>/BinaryLogs")
	fs.StringVar(&c.RPCAddr, "rpc.addr", c.RPCAddr, "JSON-RPC listen address (empty disables)")
	fs.StringVar(&c.BinlogAddr, "binlog.addr", c.BinlogAddr, "binlog HTTP (nginx autoindex) listen address (empty disables)")
	fs.Int64Var(&c.Group, "group", c.Group, "group id")
	fs.Int64Var(&c.ChainID, "chain-id", c.ChainID, "chain id")
	fs.IntVar(&c.Sealers, "sealers", c.Sealers, "number of sealers (blocks carry 2f+1 signatures of N=3f+1)")
	fs.BoolVar(&c.SM, "sm", c.SM, "national crypto: SM2 signatures and SM3 hashes")
	fs.StringVar(&c.SupportedVersion, "supported-version", c.SupportedVersion, "chain supported_version x.y.z (<2.2.0 RC2 roots, <2.9.0 7-field receipts)")
	fs.DurationVar(&c.BlockInterval, "block-interval", c.BlockInterval, "time between blocks")
	fs.IntVar(&c.MaxTxs, "max-txs", c.MaxTxs, "most transactions per block")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "seed of keys and traffic")
	fs.Float64Var(&c.TPS, "tps", c.TPS, "generated transactions per second (0 = no traffic, just serve)")
	fs.IntVar(&c.Accounts, "accounts", c.Accounts, "trading accounts of the generated traffic")
	fs.StringVar(&c.Mix, "mix", c.Mix, "traffic mix: classic (Asset, Evidence) or full (plus Ledger, Registry); empty = full, classic with -bulk")
	fs.BoolVar(&c.SentLog, "sent-log", c.SentLog, "append the generator's record of each transaction to <data>/"+SentFile+" (about 1 KB per transaction, never trimmed; bulk: only with -mix full)")
	fs.Uint64Var(&c.Blocks, "blocks", c.Blocks, "stop producing after this block number (0 = never)")
	fs.BoolVar(&c.Exit, "exit", c.Exit, "exit once -blocks blocks are written")
	fs.StringVar(&c.Clock, "clock", c.Clock, "block timestamps: wall, or sim (genesis + n*interval, reproducible)")
	fs.Uint64Var(&c.GenesisTime, "genesis-time", c.GenesisTime, "genesis timestamp in ms (0 = now, or 2024-01-01 with -clock sim)")
	fs.Int64Var(&c.BinlogMaxSize, "binlog.max-size", c.BinlogMaxSize, "binlog file size limit in bytes")
	fs.StringVar(&c.BinlogFormat, "binlog.format", c.BinlogFormat, "binlog entry format: flagged (node >= 2.5.0) or unflagged")
	fs.BoolVar(&c.Bulk, "bulk", c.Bulk, "write -txs transactions to disk as fast as possible and exit")
	fs.IntVar(&c.Txs, "txs", c.Txs, "transactions to write in bulk mode")
	fs.IntVar(&c.Workers, "workers", c.Workers, "signing workers in bulk mode (0 = one per CPU)")
	fs.BoolVar(&c.Progress, "progress", c.Progress, "progress bar on stderr in bulk mode")
	fs.Var(&c.Faults.CorruptCRC, "fault.corrupt-crc", "blocks whose binlog record gets a wrong CRC (comma-separated)")
	fs.Var(&c.Faults.ForgeSignature, "fault.forge-sig", "blocks whose first sealer signature is forged (comma-separated)")
	fs.Var(&c.Faults.RestartAt, "fault.restart-at", "blocks before which the node restarts and starts a new binlog file")
	fs.BoolVar(&c.Faults.TruncateTail, "fault.truncate-tail", c.Faults.TruncateTail, "cut the last binlog record in half when production stops")
	fs.DurationVar(&c.Faults.Delay, "fault.delay", c.Faults.Delay, "delay every RPC and binlog HTTP response")
}

// validate checks the configuration and fills derived defaults.
func (c *Config) validate() error {
	switch {
	case c.Sealers < 1:
		return fmt.Errorf("sealers %d: %w: at least 1", c.Sealers, ErrConfig)
	case c.MaxTxs < 1:
		return fmt.Errorf("max-txs %d: %w: at least 1", c.MaxTxs, ErrConfig)
	case c.BlockInterval <= 0:
		return fmt.Errorf("block-interval %s: %w: must be positive", c.BlockInterval, ErrConfig)
	case c.TPS < 0:
		return fmt.Errorf("tps %g: %w: must not be negative", c.TPS, ErrConfig)
	case c.Group < 1 || c.Group > 32767:
		return fmt.Errorf("group %d: %w: must be 1..32767", c.Group, ErrConfig)
	case !slices.Contains([]string{ClockWall, ClockSim}, c.Clock):
		return fmt.Errorf("clock %q: %w: want wall or sim", c.Clock, ErrConfig)
	case !slices.Contains([]string{"", MixClassic, MixFull}, c.Mix):
		return fmt.Errorf("mix %q: %w: want classic or full", c.Mix, ErrConfig)
	case c.Bulk && c.Txs < 1:
		return fmt.Errorf("txs %d: %w: bulk mode needs at least 1", c.Txs, ErrConfig)
	case c.Faults.TruncateTail && c.Blocks == 0 && !c.Bulk:
		return fmt.Errorf("fault.truncate-tail: %w: needs -blocks", ErrConfig)
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Accounts < 2 {
		c.Accounts = 2
	}
	return nil
}

// mix resolves the default mix of the mode.
func (c *Config) mix() load.Mix {
	if c.Mix == MixFull || c.Mix == "" && !c.Bulk {
		return load.MixFull
	}
	return load.MixClassic
}

// recordsSent reports whether the run keeps the generator's record at all: bulk runs only do
// with an explicit full mix, so benchmark runs pay nothing for it.
func (c *Config) recordsSent() bool { return !c.Bulk || c.Mix == MixFull }

// writesSent reports whether the run appends to sent.jsonl.
func (c *Config) writesSent() bool { return c.SentLog && c.recordsSent() }
