package ingest

import (
	"sync"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/services/stash/internal/state"
)

// ringSize is how many recent blocks a lagging source's copies are compared against.
const ringSize = 4096

type ringEntry struct {
	hash     [32]byte
	hasState bool
	digest   state.Digest
}

// digestRing remembers what the recently stored blocks were.
type digestRing struct {
	mu      sync.Mutex
	entries [ringSize]struct {
		n  uint64
		ok bool
		e  ringEntry
	}
}

func (r *digestRing) put(n uint64, e ringEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.entries[n%ringSize]
	s.n, s.ok, s.e = n, true, e
}

func (r *digestRing) get(n uint64) (ringEntry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.entries[n%ringSize]
	if !s.ok || s.n != n {
		return ringEntry{}, false
	}
	return s.e, true
}

func hashFromHex(s string) (common.Hash, error) {
	b, err := hexDecode(s)
	if err != nil {
		return common.Hash{}, err
	}
	if len(b) != common.HashLength {
		return common.Hash{}, errBadHash
	}
	return common.BytesToHash(b), nil
}
