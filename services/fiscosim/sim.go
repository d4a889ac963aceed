// Package fiscosim is a FISCO BCOS 2.x node simulator for development and tests. One Sim is
// one node of one group: it serves the 2.x JSON-RPC over HTTP (the methods and response
// shapes go-sdk v1.1.1 and the Java SDK use), seals blocks signed by 2f+1 of N sealer keys
// (ECDSA/keccak256, or SM2/SM3), executes the embedded sample contracts for real on the EVM,
// writes the binlog files a node with binary_log=true writes, serves that directory as an
// nginx autoindex with Range support, and can drive itself with seeded, reproducible traffic.
//
// Faults can be injected for tests: a corrupt record CRC, a truncated last record, a forged
// sealer signature, a restart (new binlog file) and slow responses. A bulk mode writes large
// chains to disk as fast as possible for benchmarks.
//
// Use it as a library (New, Run, and the accessors tests need: RPCAddr, BinlogURL,
// WaitBlock…) or through cmd/fiscosim.
package fiscosim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/binlogdir"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/binlogsrv"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/bulk"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/chain"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/contracts"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/load"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/rpc"
	"github.com/bcosdata/bcosdata/services/fiscosim/sent"
)

// ErrConfig reports an unusable configuration.
var ErrConfig = errors.New("invalid fiscosim configuration")

// ContractInfo describes a deployed sample contract.
type ContractInfo struct {
	// Name is the Solidity contract name ("Asset", "Evidence", "Ledger", "Registry"); a
	// contract deployed several times appears once per address.
	Name string
	// Address is the 0x-prefixed lowercase address the traffic deploys it at.
	Address string
	// ABI is the contract ABI JSON.
	ABI []byte
	// Creation is the creation code the traffic deploys, as this chain runs it (on SM chains
	// with SM3 selectors and topics): what a decoder recognises deployments by.
	Creation []byte
}

// Sim is one simulated node.
type Sim struct {
	cfg       Config
	log       *zap.Logger
	chain     *chain.Chain
	writer    *binlogdir.Writer
	gen       *load.Generator
	binlogDir string
	// genesisTime anchors the simulated clock.
	genesisTime uint64

	rpcLn, binLn   net.Listener
	rpcSrv, binSrv *http.Server

	sentMu   sync.Mutex
	sentFile *os.File
	sent     []sent.Record
}

// New builds the node: keys from the seed, the genesis block (written to the binlog) and the
// listeners, so addresses are known before Run.
func New(cfg Config, log *zap.Logger) (*Sim, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	version, err := chain.ParseVersion(cfg.SupportedVersion)
	if err != nil {
		return nil, fmt.Errorf("supported-version: %w: %w", ErrConfig, err)
	}
	format, ok := binlog.ParseFormat(cfg.BinlogFormat)
	if !ok || format == binlog.FormatAuto {
		return nil, fmt.Errorf("binlog.format %q: %w: want flagged or unflagged", cfg.BinlogFormat, ErrConfig)
	}
	suite := cryptosuite.ECDSA()
	if cfg.SM {
		suite = cryptosuite.SM()
	}
	var sealers []*cryptosuite.PrivateKey
	for i := range cfg.Sealers {
		k, err := suite.KeyFromSeed(fmt.Appendf(nil, "fiscosim/%d/sealer/%d", cfg.Seed, i))
		if err != nil {
			return nil, fmt.Errorf("derive sealer key %d: %w", i, err)
		}
		sealers = append(sealers, k)
	}

	// Listen before anything is written, so a busy port leaves no genesis behind.
	var rpcLn, binLn net.Listener
	if !cfg.Bulk {
		if rpcLn, binLn, err = listen(cfg); err != nil {
			return nil, err
		}
	}
	closeAll := func() {
		for _, ln := range []net.Listener{rpcLn, binLn} {
			if ln != nil {
				ln.Close()
			}
		}
	}
	s, err := build(cfg, log, suite, version, format, sealers)
	if err != nil {
		closeAll()
		return nil, err
	}
	s.rpcLn, s.binLn = rpcLn, binLn
	if rpcLn != nil {
		h := rpc.NewHandler(rpc.Config{Chain: s.chain, Delay: cfg.Faults.Delay, Log: log, Info: rpc.NodeInfo{
			Version: version.String(), SupportedVersion: version, ChainID: cfg.ChainID,
			GroupID: cfg.Group, SM: cfg.SM, NodeID: sealers[0].PublicKey().String(),
		}})
		s.rpcSrv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	}
	if binLn != nil {
		s.binSrv = &http.Server{Handler: binlogsrv.NewHandler(binlogsrv.Config{Dir: s.binlogDir, Delay: cfg.Faults.Delay}),
			ReadHeaderTimeout: 10 * time.Second}
	}
	return s, nil
}

// listen opens the enabled listeners.
func listen(cfg Config) (rpcLn, binLn net.Listener, err error) {
	if cfg.RPCAddr != "" {
		if rpcLn, err = net.Listen("tcp", cfg.RPCAddr); err != nil {
			return nil, nil, fmt.Errorf("listen for JSON-RPC on %s: %w", cfg.RPCAddr, err)
		}
	}
	if cfg.BinlogAddr != "" {
		if binLn, err = net.Listen("tcp", cfg.BinlogAddr); err != nil {
			if rpcLn != nil {
				rpcLn.Close()
			}
			return nil, nil, fmt.Errorf("listen for binlog HTTP on %s: %w", cfg.BinlogAddr, err)
		}
	}
	return rpcLn, binLn, nil
}

// build opens (or recovers) the chain and its binlog and the traffic generator.
func build(cfg Config, log *zap.Logger, suite *cryptosuite.Suite, version chain.Version, format binlog.Format, sealers []*cryptosuite.PrivateKey) (*Sim, error) {
	var err error
	dir := filepath.Join(cfg.Data, fmt.Sprintf("group%d", cfg.Group), "BinaryLogs")
	existing, _ := binlog.ListDir(dir) // a missing directory is a new node
	genesisTime := cfg.GenesisTime
	if genesisTime == 0 {
		genesisTime = uint64(time.Now().UnixMilli())
		if cfg.Clock == ClockSim || cfg.Bulk {
			genesisTime = DefaultGenesisTime
		}
		if len(existing) > 0 {
			// A restarted node keeps its genesis: read it back rather than guess.
			if genesisTime, err = genesisTimestamp(existing[0].Path); err != nil {
				return nil, err
			}
		}
	}
	params := chain.Params{
		Suite:            suite,
		ChainID:          cfg.ChainID,
		GroupID:          cfg.Group,
		Version:          version,
		Sealers:          sealers,
		GenesisTime:      genesisTime,
		TxCountLimit:     uint64(cfg.MaxTxs), // the genesis max_trans_num is the block size limit
		Seed:             cfg.Seed,
		BinlogFormat:     format,
		Retain:           !cfg.Bulk,
		ForgeSignatureAt: cfg.Faults.ForgeSignature.set(),
	}
	writer, err := binlogdir.Open(dir, cfg.BinlogMaxSize, binlogdir.Faults{
		CorruptCRC: cfg.Faults.CorruptCRC.set(),
		RestartAt:  cfg.Faults.RestartAt.set(),
	})
	if err != nil {
		return nil, err
	}
	var c *chain.Chain
	if len(existing) > 0 {
		// Restart: recover from the binlog like the node; the writer starts a new file.
		src := &dirRecords{files: existing}
		c, err = chain.Restore(params, writer, src)
		src.close()
		if err != nil {
			writer.Close()
			return nil, fmt.Errorf("restart node from %s: %w", dir, err)
		}
		log.Info("restarted from binlog", zap.String("file", dir), zap.Uint64("block", c.HeadNumber()))
	} else if c, err = chain.New(params, writer); err != nil {
		writer.Close()
		return nil, err
	}
	gen, err := load.New(load.Config{Suite: suite, ChainID: cfg.ChainID, GroupID: cfg.Group, Seed: cfg.Seed,
		Accounts: cfg.Accounts, Mix: cfg.mix(), ContractAddress: c.Executor().ContractAddress})
	if err != nil {
		writer.Close()
		return nil, err
	}
	if head := c.HeadNumber(); head > 0 {
		deployed := len(c.Code(gen.AssetAddress())) > 0
		if deployed && gen.Mix() == load.MixFull && len(c.Code(gen.RegistryAddress())) == 0 {
			writer.Close()
			return nil, fmt.Errorf("restart node from %s: %w: the chain was started with the classic mix (-mix classic)", dir, ErrConfig)
		}
		gen.Resume(head, deployed)
	}
	return &Sim{cfg: cfg, log: log, chain: c, writer: writer, gen: gen, binlogDir: dir, genesisTime: genesisTime}, nil
}

// Run produces blocks and serves until ctx ends, or, with Exit, until Blocks are written; in
// bulk mode it writes the chain and returns. It closes the binlog and the listeners before
// returning.
func (s *Sim) Run(ctx context.Context) error {
	defer s.writer.Close()
	if s.cfg.writesSent() {
		f, err := os.OpenFile(s.SentPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("open sent record: %w", err)
		}
		s.sentFile = f
		defer f.Close()
	}
	if s.cfg.Bulk {
		return s.runBulk(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	eg, ctx := errgroup.WithContext(ctx)
	for _, srv := range []struct {
		name string
		srv  *http.Server
		ln   net.Listener
	}{{"json-rpc", s.rpcSrv, s.rpcLn}, {"binlog http", s.binSrv, s.binLn}} {
		if srv.srv == nil {
			continue
		}
		s.log.Info("serving", zap.String("server", srv.name), zap.String("addr", srv.ln.Addr().String()))
		eg.Go(func() error {
			if err := srv.srv.Serve(srv.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve %s on %s: %w", srv.name, srv.ln.Addr(), err)
			}
			return nil
		})
		eg.Go(func() error {
			<-ctx.Done()
			sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer scancel()
			if err := srv.srv.Shutdown(sctx); err != nil {
				// A client still reading (a binlog download following the newest file, say)
				// does not keep the simulator from stopping.
				s.log.Warn("closing connections still open", zap.String("server", srv.name), zap.Error(err))
				return srv.srv.Close()
			}
			return nil
		})
	}
	eg.Go(func() error {
		err := s.produce(ctx)
		if errors.Is(err, errDone) {
			cancel() // -exit: stop the servers too
			return nil
		}
		return err
	})
	return eg.Wait()
}

// errDone ends production when -exit is set.
var errDone = errors.New("requested blocks written")

// produce seals a block every interval: first the traffic of that interval is submitted
// through the same admission path as sendRawTransaction, then up to MaxTxs pending
// transactions are sealed. Empty intervals produce no block, as PBFT commits none.
func (s *Sim) produce(ctx context.Context) error {
	perTick := int64(math.Round(s.cfg.TPS * s.cfg.BlockInterval.Seconds() * 1e6)) // micro-transactions
	var acc int64
	if s.cfg.Exit && s.cfg.Blocks > 0 && s.chain.HeadNumber() >= s.cfg.Blocks {
		return errDone // restarted on a chain that already has the requested blocks
	}
	t := time.NewTicker(s.cfg.BlockInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		head := s.chain.HeadNumber()
		if s.cfg.Blocks > 0 && head >= s.cfg.Blocks {
			continue
		}
		acc += perTick
		if n := int(acc / 1e6); n > 0 && s.chain.Pending() < 10*s.cfg.MaxTxs {
			acc -= int64(n) * 1e6
			signed, err := s.gen.NextSent(head, n)
			if err != nil {
				return fmt.Errorf("generate traffic after block %d: %w", head, err)
			}
			recs := make([]*sent.Record, 0, len(signed))
			for _, tx := range signed {
				if _, err := s.chain.Submit(tx.Raw); err != nil {
					s.log.Warn("generated transaction rejected", zap.Uint64("block", head), zap.Error(err))
					continue
				}
				recs = append(recs, tx.Record)
			}
			if err := s.keepSent(recs); err != nil {
				return err
			}
		}
		txs := s.chain.TakePending(s.cfg.MaxTxs)
		if len(txs) == 0 {
			continue
		}
		ts := uint64(time.Now().UnixMilli())
		if s.cfg.Clock == ClockSim {
			ts = s.genesisTime + (head+1)*uint64(s.cfg.BlockInterval.Milliseconds())
		}
		sealed, err := s.chain.Seal(txs, ts)
		if err != nil {
			return fmt.Errorf("seal block %d: %w", head+1, err)
		}
		s.log.Debug("block sealed", zap.Uint64("block", sealed.Number()), zap.Int("txs", len(txs)))
		if s.cfg.Blocks > 0 && sealed.Number() >= s.cfg.Blocks {
			if err := s.finish(); err != nil {
				return err
			}
			s.log.Info("requested blocks written", zap.Uint64("block", sealed.Number()))
			if s.cfg.Exit {
				return errDone
			}
		}
	}
}

// finish applies the end-of-production faults.
func (s *Sim) finish() error {
	if s.cfg.Faults.TruncateTail {
		if err := s.writer.TruncateTail(); err != nil {
			return fmt.Errorf("truncate binlog tail: %w", err)
		}
	}
	return nil
}

func (s *Sim) runBulk(ctx context.Context) error {
	opt := bulk.Options{Txs: s.cfg.Txs, MaxTxs: s.cfg.MaxTxs, Workers: s.cfg.Workers, Interval: s.cfg.BlockInterval,
		Bytes: func() int64 { _, b := s.writer.Stats(); return b }}
	if s.cfg.recordsSent() && (s.sentFile != nil || s.cfg.KeepSent) {
		opt.Sent = s.keepSent
	}
	if s.cfg.Progress {
		opt.Progress = os.Stderr
	}
	st, err := bulk.Run(ctx, s.chain, s.gen, opt)
	if err != nil {
		return err
	}
	s.log.Info("bulk chain written", zap.Uint64("blocks", st.Blocks), zap.Uint64("txs", st.Txs),
		zap.Int64("bytes", st.Bytes), zap.Duration("elapsed", st.Elapsed),
		zap.Float64("tx_per_s", st.TxPerSecond()), zap.Float64("mb_per_s", st.MBPerSecond()))
	return s.finish()
}

// keepSent appends the records of submitted transactions to sent.jsonl and, with KeepSent,
// to memory.
func (s *Sim) keepSent(recs []*sent.Record) error {
	if len(recs) == 0 || !s.cfg.recordsSent() || s.sentFile == nil && !s.cfg.KeepSent {
		return nil
	}
	vals := make([]sent.Record, len(recs))
	for i, r := range recs {
		vals[i] = *r
	}
	s.sentMu.Lock()
	defer s.sentMu.Unlock()
	if s.cfg.KeepSent {
		s.sent = append(s.sent, vals...)
	}
	if s.sentFile != nil {
		return sent.WriteLines(s.sentFile, vals...)
	}
	return nil
}

// Sent returns the generator's record of the transactions submitted so far, in submission
// order (which is chain order), when Config.KeepSent is set; nil otherwise. Records of
// transactions not yet sealed are included.
func (s *Sim) Sent() []sent.Record {
	s.sentMu.Lock()
	defer s.sentMu.Unlock()
	return append([]sent.Record(nil), s.sent...)
}

// SentPath returns the path of the JSON-lines record of what the generator sent (written when
// Config.SentLog is set).
func (s *Sim) SentPath() string { return filepath.Join(s.cfg.Data, SentFile) }

// RPCAddr returns the JSON-RPC host:port (go-sdk's NodeURL), "" when disabled.
func (s *Sim) RPCAddr() string {
	if s.rpcLn == nil {
		return ""
	}
	return s.rpcLn.Addr().String()
}

// RPCURL returns the JSON-RPC URL, "" when disabled.
func (s *Sim) RPCURL() string {
	if s.rpcLn == nil {
		return ""
	}
	return "http://" + s.rpcLn.Addr().String()
}

// BinlogURL returns the base URL of the binlog autoindex (ending in "/"), "" when disabled.
func (s *Sim) BinlogURL() string {
	if s.binLn == nil {
		return ""
	}
	return "http://" + s.binLn.Addr().String() + "/"
}

// BinlogDir returns the directory the binlog files are written to.
func (s *Sim) BinlogDir() string { return s.binlogDir }

// HeadNumber returns the newest block number.
func (s *Sim) HeadNumber() uint64 { return s.chain.HeadNumber() }

// WaitBlock blocks until block n is committed (its binlog record written) or ctx ends.
func (s *Sim) WaitBlock(ctx context.Context, n uint64) error {
	_, err := s.chain.WaitBlock(ctx, n)
	return err
}

// SM reports whether the chain uses SM2/SM3.
func (s *Sim) SM() bool { return s.cfg.SM }

// ChainID returns the chain id.
func (s *Sim) ChainID() int64 { return s.cfg.ChainID }

// GroupID returns the group id.
func (s *Sim) GroupID() int64 { return s.cfg.Group }

// SupportedVersion returns the chain's supported_version.
func (s *Sim) SupportedVersion() string { return s.chain.Params().Version.String() }

// SealerIDs returns the sealer node ids (128 hex digits) in header order.
func (s *Sim) SealerIDs() []string {
	ids := s.chain.SealerList()
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// Contracts returns the sample contracts and the addresses the generated traffic deploys
// them at (deployed once the traffic's first blocks are sealed): Asset and Evidence, then with
// the full mix four Ledger books (the last opened by the Registry) and the Registry.
func (s *Sim) Contracts() []ContractInfo {
	info := func(c *contracts.Contract, addr []byte) ContractInfo {
		return ContractInfo{Name: c.Name, Address: "0x" + strings.ToLower(fmt.Sprintf("%x", addr)), ABI: c.ABIJSON, Creation: c.Creation}
	}
	a, e := s.gen.AssetAddress(), s.gen.EvidenceAddress()
	out := []ContractInfo{
		info(s.gen.Asset(), a[:]),
		info(s.gen.Evidence(), e[:]),
	}
	if s.gen.Mix() == load.MixFull {
		for _, l := range s.gen.LedgerAddresses() {
			out = append(out, info(s.gen.Ledger(), l[:]))
		}
		r := s.gen.RegistryAddress()
		out = append(out, info(s.gen.Registry(), r[:]))
	}
	return out
}
