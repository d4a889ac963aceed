package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fisco/verify"
)

const inspectAbout = `Print one line per binlog record: block, file, offset, length, stored and computed
CRC, block hash, parent hash, transactions, signer indices and a verdict. FILE is one
<block>.binlog file; DIR is a BinaryLogs directory, read file by file in block order.
Without --verify the verdict covers the CRC and block decoding, and signers are the indices
the block claims; with --verify every block is fully verified (hashes, roots, signatures
against the sealer set replayed from the binlog, senders) and signers are the valid ones.
Exits non-zero when a record is bad.`

// inspectOptions are the parsed flags of binlog inspect.
type inspectOptions struct {
	json     bool
	verify   bool
	suite    *cryptosuite.Suite
	format   binlog.Format
	roots    verify.RootPolicy
	workers  int
	progress time.Duration
}

// BinlogInspect implements `bcosdata binlog inspect [flags] FILE|DIR`.
func BinlogInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("binlog inspect", "bcosdata binlog inspect [flags] FILE|DIR", inspectAbout, stderr)
	jsonOut := fs.Bool("json", false, "print one JSON object per record instead of a text line")
	doVerify := fs.Bool("verify", false, "verify every block (hashes, roots, signatures, sealer set, senders)")
	crypto := fs.String("crypto", cryptosuite.NameECDSA, "crypto suite of the chain: ecdsa or sm")
	format := fs.String("format", "auto", "binlog entry format: auto, flagged (node ≥ 2.5.0) or unflagged (2.2–2.4)")
	roots := fs.String("roots", "auto", "transaction/receipt root rule for --verify: auto, merkle (≥ 2.2.0) or rc2")
	workers := fs.Int("concurrency", 0, "goroutines verifying blocks with --verify (0: one per CPU)")
	progress := fs.Duration("progress", time.Second, "interval of progress reports on stderr (0: none)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return &app.UsageError{Err: fmt.Errorf("binlog inspect takes one FILE or DIR, got %d arguments", len(pos))}
	}
	opts := inspectOptions{json: *jsonOut, verify: *doVerify, workers: *workers, progress: *progress}
	var ok bool
	if opts.format, ok = binlog.ParseFormat(*format); !ok {
		return &app.UsageError{Err: fmt.Errorf("--format %q: want auto, flagged or unflagged", *format)}
	}
	if opts.roots, ok = verify.ParseRootPolicy(*roots); !ok {
		return &app.UsageError{Err: fmt.Errorf("--roots %q: want auto, merkle or rc2", *roots)}
	}
	if opts.suite, err = cryptosuite.New(*crypto); err != nil {
		return &app.UsageError{Err: fmt.Errorf("--crypto %q: %w", *crypto, err)}
	}
	files, err := inputFiles(pos[0])
	if err != nil {
		return err
	}
	return runInspect(ctx, files, opts, stdout, stderr)
}

// inputFiles returns the binlog files to read: the file itself, or a directory's binlog
// files in block order.
func inputFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("inspect binlog: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	list, err := binlog.ListDir(path)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("inspect binlog dir %s: no <block>%s files", path, binlog.Suffix)
	}
	out := make([]string, len(list))
	for i, f := range list {
		out[i] = f.Path
	}
	return out, nil
}

// recordLine is one output line; its JSON form is the --json output.
type recordLine struct {
	Block       *uint64  `json:"block,omitempty"`
	File        string   `json:"file"`
	Offset      int64    `json:"offset"`
	Length      uint32   `json:"length,omitempty"`
	CRC         string   `json:"crc,omitempty"`
	CRCComputed string   `json:"crc_computed,omitempty"`
	Format      string   `json:"format,omitempty"`
	Hash        string   `json:"hash,omitempty"`
	Parent      string   `json:"parent,omitempty"`
	Txs         int      `json:"txs"`
	TxHashes    []string `json:"tx_hashes"`
	Senders     []string `json:"senders,omitempty"`
	Signers     []uint64 `json:"signers"`
	Verdict     string   `json:"verdict"`
	Error       string   `json:"error,omitempty"`
}

// Verdicts besides "ok" and the verify check names.
const (
	verdictOK   = "ok"
	verdictRead = "read"
)

type inspector struct {
	opts    inspectOptions
	out     *bufio.Writer
	records atomic.Int64
	bytes   atomic.Int64
	bad     int
	total   int
}

func runInspect(ctx context.Context, files []string, opts inspectOptions, stdout, stderr io.Writer) error {
	in := &inspector{opts: opts, out: bufio.NewWriter(stdout)}
	stopProgress := in.startProgress(stderr)
	var v *verify.Verifier
	if opts.verify {
		var err error
		if v, err = verify.New(opts.suite, verify.WithRoots(opts.roots), verify.WithConcurrency(opts.workers)); err != nil {
			stopProgress()
			return err
		}
	}
	var runErr error
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		if err := in.file(ctx, f, v); err != nil {
			runErr = err
			break
		}
	}
	stopProgress()
	if err := in.out.Flush(); err != nil && runErr == nil {
		runErr = fmt.Errorf("write inspect output: %w", err)
	}
	if opts.progress > 0 {
		fmt.Fprintf(stderr, "binlog inspect: done, %d records, %d bad\n", in.total, in.bad)
	}
	if runErr != nil {
		return runErr
	}
	if in.bad > 0 {
		return fmt.Errorf("%w: %d of %d records", ErrBadRecords, in.bad, in.total)
	}
	return nil
}

func (in *inspector) startProgress(stderr io.Writer) (stop func()) {
	if in.opts.progress <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		t := time.NewTicker(in.opts.progress)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n, b, secs := in.records.Load(), in.bytes.Load(), time.Since(start).Seconds()
				fmt.Fprintf(stderr, "binlog inspect: %d records, %.1f MB, %.0f records/s, %.1f MB/s\n",
					n, float64(b)/1e6, float64(n)/secs, float64(b)/1e6/secs)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// file inspects one file. Read errors that end the file are reported as a line and the next
// file follows; only output errors and cancellation stop the run.
func (in *inspector) file(ctx context.Context, path string, v *verify.Verifier) error {
	r, err := binlog.Open(path, binlog.Options{Format: in.opts.format})
	if err != nil {
		return in.emit(readLine(path, err))
	}
	defer r.Close()
	if v != nil {
		err = v.VerifyRecords(ctx, r, func(res *verify.Result, verr error) error {
			return in.emit(verifiedLine(path, res, verr))
		})
	} else {
		err = in.scan(r, path)
	}
	var re *binlog.RecordError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return in.emit(readLine(path, err))
	default:
		return err
	}
}

// scan reads a file without verifying: the verdict covers the CRC and block decoding.
func (in *inspector) scan(r *binlog.Reader, path string) error {
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if rec == nil {
			return err
		}
		line := baseLine(path, rec)
		switch {
		case errors.Is(err, binlog.ErrBadCRC):
			line.Verdict, line.Error = verify.CheckCRC, err.Error()
		case err != nil:
			line.Verdict, line.Error = verify.CheckDecode, err.Error()
		}
		in.describe(&line, rec)
		if err := in.emit(line); err != nil {
			return err
		}
	}
}

// describe fills the block fields of an unverified record.
func (in *inspector) describe(line *recordLine, rec *binlog.Record) {
	raw, err := verify.BlockBytes(rec)
	var blk *block.Block
	if err == nil {
		blk, err = block.DecodeBlock(raw)
	}
	if err != nil {
		if line.Verdict == verdictOK {
			line.Verdict, line.Error = verify.CheckDecode, err.Error()
		}
		return
	}
	s := in.opts.suite
	line.Hash = blk.Header.Hash(s).Hex()
	line.Parent = blk.Header.ParentHash.Hex()
	line.Txs = len(blk.Transactions)
	for _, tx := range blk.Transactions {
		line.TxHashes = append(line.TxHashes, tx.Hash(s).Hex())
	}
	for _, sg := range blk.Signatures {
		line.Signers = append(line.Signers, sg.Index)
	}
}

func baseLine(path string, rec *binlog.Record) recordLine {
	n := rec.BlockNumber
	l := recordLine{
		Block: &n, File: filepath.Base(path), Offset: rec.Offset, Length: rec.Length,
		CRC: fmt.Sprintf("%08x", rec.CRC), CRCComputed: fmt.Sprintf("%08x", rec.ComputeCRC()),
		Verdict: verdictOK, TxHashes: []string{}, Signers: []uint64{},
	}
	if rec.Format != binlog.FormatAuto {
		l.Format = rec.Format.String()
	}
	return l
}

func verifiedLine(path string, res *verify.Result, err error) recordLine {
	line := baseLine(path, res.Record)
	if res.Block != nil {
		line.Hash = res.Hash.Hex()
		line.Parent = res.Block.Header.ParentHash.Hex()
		line.Txs = len(res.Block.Transactions)
		for _, h := range res.TxHashes {
			line.TxHashes = append(line.TxHashes, h.Hex())
		}
		for _, a := range res.Senders {
			line.Senders = append(line.Senders, a.Hex())
		}
		line.Signers = append(line.Signers, res.Signers...)
	}
	var ce *verify.CheckError
	switch {
	case errors.As(err, &ce):
		line.Verdict, line.Error = ce.Check, err.Error()
	case err != nil:
		line.Verdict, line.Error = verify.CheckDecode, err.Error()
	}
	return line
}

func readLine(path string, err error) recordLine {
	line := recordLine{File: filepath.Base(path), Verdict: verdictRead, Error: err.Error(), TxHashes: []string{}, Signers: []uint64{}}
	var re *binlog.RecordError
	if errors.As(err, &re) {
		line.Offset = re.Offset
		if re.HasBlock {
			n := re.Block
			line.Block = &n
		}
	}
	return line
}

func (in *inspector) emit(line recordLine) error {
	in.total++
	in.records.Add(1)
	in.bytes.Add(int64(line.Length) + 4)
	if line.Verdict != verdictOK {
		in.bad++
	}
	var err error
	if in.opts.json {
		var b []byte
		if b, err = json.Marshal(line); err == nil {
			b = append(b, '\n')
			_, err = in.out.Write(b)
		}
	} else {
		_, err = in.out.WriteString(line.text())
	}
	if err != nil {
		return fmt.Errorf("write inspect output: %w", err)
	}
	return nil
}

// text renders a line as logfmt: key=value pairs, values with spaces quoted.
func (l *recordLine) text() string {
	var b strings.Builder
	kv := func(k, v string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		if v == "" || strings.ContainsAny(v, " \"=") {
			v = strconv.Quote(v)
		}
		b.WriteString(v)
	}
	if l.Block != nil {
		kv("block", strconv.FormatUint(*l.Block, 10))
	} else {
		kv("block", "?")
	}
	kv("file", l.File)
	kv("offset", strconv.FormatInt(l.Offset, 10))
	if l.Verdict != verdictRead {
		kv("length", strconv.FormatUint(uint64(l.Length), 10))
		kv("crc", l.CRC)
		kv("crc_computed", l.CRCComputed)
		if l.Hash != "" {
			kv("hash", l.Hash)
			kv("parent", l.Parent)
		}
		kv("txs", strconv.Itoa(l.Txs))
		if len(l.TxHashes) > 0 {
			kv("tx_hashes", strings.Join(l.TxHashes, ","))
		}
		if len(l.Senders) > 0 {
			kv("senders", strings.Join(l.Senders, ","))
		}
		idx := make([]string, len(l.Signers))
		for i, s := range l.Signers {
			idx[i] = strconv.FormatUint(s, 10)
		}
		kv("signers", strings.Join(idx, ","))
	}
	kv("verdict", l.Verdict)
	if l.Error != "" {
		kv("error", l.Error)
	}
	b.WriteByte('\n')
	return b.String()
}
