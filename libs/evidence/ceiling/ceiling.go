// Package ceiling measures the raw rates the evidence service's own figures are set beside:
// how fast one machine verifies record signatures (the processor bound of accepting records)
// and how fast it can write and fsync a small record (the bound of making each acceptance
// durable on its own). A benchmark of the service calls these in the same run, on the same
// machine and disk, so its accept and anchor rates read as a fraction of what is possible.
package ceiling

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// SignedRecords returns n distinct records signed by one key of suite s, with 200-byte JSON
// payloads, for verification benchmarks.
func SignedRecords(s *cryptosuite.Suite, n int) (recs []evidence.Record, pub cryptosuite.PublicKey, err error) {
	key, err := s.KeyFromSeed([]byte("ceiling publisher"))
	if err != nil {
		return nil, pub, err
	}
	pad := make([]byte, 160)
	for i := range pad {
		pad[i] = 'x'
	}
	recs = make([]evidence.Record, n)
	for i := range recs {
		r := evidence.Record{ID: fmt.Sprintf("ceiling-%08d", i), Publisher: "ceiling", Category: "bench", Kind: evidence.KindPublish}
		r.SetPayload(evidence.PayloadJSON, fmt.Appendf(nil, `{"n":"%08d","pad":"%s"}`, i, pad))
		if err := evidence.Sign(s, key, &r); err != nil {
			return nil, pub, err
		}
		recs[i] = r
	}
	return recs, key.PublicKey(), nil
}

// VerifyRate verifies every record's signature against pub with workers goroutines and returns
// signatures verified per second. It fails if any signature does not verify.
func VerifyRate(s *cryptosuite.Suite, pub cryptosuite.PublicKey, recs []evidence.Record, workers int) (float64, error) {
	if len(recs) == 0 || workers < 1 {
		return 0, errors.New("verify rate: need records and at least one worker")
	}
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(recs) {
					return
				}
				if err := evidence.VerifySignature(s, pub, &recs[i]); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if firstErr != nil {
		return 0, fmt.Errorf("verify rate: %w", firstErr)
	}
	return float64(len(recs)) / took.Seconds(), nil
}

// FsyncRate appends n records of size bytes to a new file in dir, calling fsync after each,
// and returns the appends per second. The file is removed afterwards.
func FsyncRate(dir string, n, size int) (float64, error) {
	if n < 1 || size < 1 {
		return 0, errors.New("fsync rate: need n ≥ 1 and size ≥ 1")
	}
	f, err := os.CreateTemp(dir, "fsync-ceiling-*")
	if err != nil {
		return 0, fmt.Errorf("fsync rate: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i)
	}
	// The file's own creation is made durable first so it is not charged to the first append.
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("fsync rate: sync %s: %w", f.Name(), err)
	}
	start := time.Now()
	for range n {
		if _, err := f.Write(buf); err != nil {
			return 0, fmt.Errorf("fsync rate: write %s: %w", f.Name(), err)
		}
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("fsync rate: sync %s: %w", f.Name(), err)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
