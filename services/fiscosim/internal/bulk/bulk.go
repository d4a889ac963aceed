// Package bulk writes a large simulated chain to disk as fast as the machine allows, for
// benchmarks: the transaction stream is generated in order, signed by a pool of workers
// (signing dominates and is deterministic, so parallelism does not change a byte), and sealed
// block after block on the simulated clock, with a progress bar on a terminal.
package bulk

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bcosdata/bcosdata/services/fiscosim/internal/chain"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/load"
	"github.com/bcosdata/bcosdata/services/fiscosim/sent"
)

// Options configure a run.
type Options struct {
	// Txs is the number of transactions to write.
	Txs int
	// MaxTxs is the number of transactions per block.
	MaxTxs int
	// Workers sign in parallel; at least 1.
	Workers int
	// Interval is the simulated time between blocks.
	Interval time.Duration
	// Progress receives a progress bar (e.g. os.Stderr); nil for none.
	Progress io.Writer
	// Bytes reports the binlog bytes written so far, for the throughput figures.
	Bytes func() int64
	// Sent, when set, receives the records of each block's transactions once it is sealed.
	Sent func([]*sent.Record) error
}

// Stats are the figures of a finished run.
type Stats struct {
	Blocks  uint64
	Txs     uint64
	Bytes   int64
	Elapsed time.Duration
}

// TxPerSecond returns the transaction throughput.
func (s Stats) TxPerSecond() float64 { return float64(s.Txs) / s.Elapsed.Seconds() }

// MBPerSecond returns the binlog write throughput in MB/s (10^6 bytes).
func (s Stats) MBPerSecond() float64 { return float64(s.Bytes) / 1e6 / s.Elapsed.Seconds() }

type batch struct {
	number uint64
	txs    []*chain.Tx
	recs   []*sent.Record
	done   chan struct{}
	left   int
	mu     sync.Mutex
	err    error
}

type job struct {
	b *batch
	i int
	u load.Unsigned
}

// Run appends blocks of opt.MaxTxs transactions from g to c until opt.Txs are written.
func Run(ctx context.Context, c *chain.Chain, g *load.Generator, opt Options) (Stats, error) {
	if opt.MaxTxs <= 0 {
		opt.MaxTxs = chain.DefaultTxCountLimit
	}
	if opt.Workers < 1 {
		opt.Workers = 1
	}
	if opt.Bytes == nil {
		opt.Bytes = func() int64 { return 0 }
	}
	start := time.Now()
	startBytes := opt.Bytes()
	head0 := c.HeadNumber()
	genesisTime := c.Head().Block.Header.Timestamp
	nBatches := (opt.Txs + opt.MaxTxs - 1) / opt.MaxTxs

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	eg, ctx := errgroup.WithContext(ctx)
	jobs := make(chan job, opt.Workers*opt.MaxTxs)
	ordered := make(chan *batch, 2*opt.Workers+2) // bounds batches in flight

	eg.Go(func() error { // generate in stream order
		defer close(jobs)
		defer close(ordered)
		left := opt.Txs
		for b := range nBatches {
			n := min(opt.MaxTxs, left)
			left -= n
			head := head0 + uint64(b)
			us, err := g.Next(head, n)
			if err != nil {
				return err
			}
			bt := &batch{number: head + 1, txs: make([]*chain.Tx, n), done: make(chan struct{}), left: n}
			if opt.Sent != nil {
				for _, u := range us {
					bt.recs = append(bt.recs, u.Record)
				}
			}
			select {
			case ordered <- bt:
			case <-ctx.Done():
				return ctx.Err()
			}
			for i, u := range us {
				select {
				case jobs <- job{b: bt, i: i, u: u}:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		return nil
	})
	for range opt.Workers {
		eg.Go(func() error { // sign
			s := c.Suite()
			for j := range jobs {
				tx, err := load.Sign(s, j.u)
				j.b.mu.Lock()
				j.b.txs[j.i] = tx
				if err != nil && j.b.err == nil {
					j.b.err = err
				}
				j.b.left--
				if j.b.left == 0 {
					close(j.b.done)
				}
				j.b.mu.Unlock()
			}
			return nil
		})
	}
	var stats Stats
	var mu sync.Mutex
	eg.Go(func() error { // seal in order
		for bt := range ordered {
			select {
			case <-bt.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if bt.err != nil {
				return fmt.Errorf("sign transactions of block %d: %w", bt.number, bt.err)
			}
			ts := genesisTime + bt.number*uint64(opt.Interval.Milliseconds())
			if _, err := c.Seal(bt.txs, ts); err != nil {
				return fmt.Errorf("seal block %d: %w", bt.number, err)
			}
			if opt.Sent != nil {
				if err := opt.Sent(bt.recs); err != nil {
					return err
				}
			}
			mu.Lock()
			stats.Blocks++
			stats.Txs += uint64(len(bt.txs))
			mu.Unlock()
		}
		return nil
	})

	done := make(chan struct{})
	var barWG sync.WaitGroup
	if opt.Progress != nil {
		barWG.Add(1)
		go func() {
			defer barWG.Done()
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					mu.Lock()
					s := stats
					mu.Unlock()
					s.Bytes, s.Elapsed = opt.Bytes()-startBytes, time.Since(start)
					drawBar(opt.Progress, s, opt.Txs, false)
				}
			}
		}()
	}
	err := eg.Wait()
	close(done)
	barWG.Wait()
	stats.Bytes, stats.Elapsed = opt.Bytes()-startBytes, time.Since(start)
	if opt.Progress != nil {
		drawBar(opt.Progress, stats, opt.Txs, true)
	}
	return stats, err
}

// drawBar redraws one progress line in place.
func drawBar(w io.Writer, s Stats, total int, final bool) {
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = float64(s.Txs) / float64(total)
	}
	filled := int(frac * width)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	if filled < width {
		bar = bar[:filled] + ">" + bar[filled+1:]
	}
	end := ""
	if final {
		end = "\n"
	}
	secs := max(s.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(w, "\r[%s] %3.0f%% %d/%d tx, %d blocks, %.0f tx/s, %.1f MB/s%s",
		bar, frac*100, s.Txs, total, s.Blocks, float64(s.Txs)/secs, float64(s.Bytes)/1e6/secs, end)
}
