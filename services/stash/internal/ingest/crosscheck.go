// Cross-check: the copies several sources delivered of one block must agree on its hash and
// change-set digest; a lagging source's late copies are compared with what was stored.

package ingest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bcosdata/bcosdata/services/stash/internal/state"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

type bySource struct{ j *job }

func (b bySource) Len() int           { return len(b.j.cands) }
func (b bySource) Less(x, y int) bool { return b.j.srcs[x] < b.j.srcs[y] }
func (b bySource) Swap(x, y int) {
	b.j.cands[x], b.j.cands[y] = b.j.cands[y], b.j.cands[x]
	b.j.srcs[x], b.j.srcs[y] = b.j.srcs[y], b.j.srcs[x]
}

// copyKey is what two sources' copies of a block must agree on: the block hash, and the
// change-set digest when both carry one (sealer signatures and the ids of
// _sys_tx_hash_2_block_ rows may differ between honest nodes and are not in the digest).
type copyKey struct {
	hash     [32]byte
	hasState bool
	digest   state.Digest
	tables   []state.Table
	err      error
}

func keyOf(c *verify.Candidate) copyKey {
	if c.Record == nil {
		return copyKey{hash: c.Block.BlockHash}
	}
	k := copyKey{hasState: true}
	key, _, err := verify.BlockValue(c.Record)
	if err != nil {
		k.err = err
		return k
	}
	h, err := hashFromHex(key)
	if err != nil {
		k.err = err
		return k
	}
	k.hash = h
	k.tables = state.FromRecord(c.Record)
	k.digest = state.BlockDigest(c.Number, h, true, k.tables)
	return k
}

func (p *Pipeline) compare(j *job, keys []copyKey) error {
	for a := range keys {
		if keys[a].err != nil {
			continue
		}
		for b := a + 1; b < len(keys); b++ {
			ka, kb := keys[a], keys[b]
			if kb.err != nil {
				continue
			}
			differ := ka.hash != kb.hash
			what := fmt.Sprintf("block hashes %x… and %x…", ka.hash[:4], kb.hash[:4])
			if !differ && ka.hasState && kb.hasState && ka.digest != kb.digest {
				differ = true
				what = "tables " + diffTables(ka.tables, kb.tables)
			}
			if differ {
				sa, sb := p.cfg.Sources[j.srcs[a]].Name(), p.cfg.Sources[j.srcs[b]].Name()
				return &verify.CheckError{Block: j.n, Check: verify.CheckDisagreement, Source: sa + " vs " + sb,
					Err: fmt.Errorf("%s and %s disagree on block %d: %s differ", sa, sb, j.n, what)}
			}
		}
	}
	return nil
}

// checkLate compares a lagging source's copy of an already stored block with the stored one.
func (p *Pipeline) checkLate(c *verify.Candidate) error {
	want, ok := p.ring.get(c.Number)
	if !ok {
		return nil
	}
	k := keyOf(c)
	// A copy that does not even decode is not a disagreement about the stored block.
	if k.err == nil && (k.hash != want.hash || (k.hasState && want.hasState && k.digest != want.digest)) {
		return &verify.CheckError{Block: c.Number, Check: verify.CheckDisagreement, Source: c.Source,
			Err: fmt.Errorf("%s's copy of stored block %d differs from the stored one", c.Source, c.Number)}
	}
	return nil
}

var errBadHash = errors.New("block hash key is not 32 bytes of hex")

func hexDecode(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	return hex.DecodeString(s)
}

// diffTables names the tables whose contents differ between two copies of a change-set.
func diffTables(a, b []state.Table) string {
	da, db := state.TableDigests(a), state.TableDigests(b)
	var names []string
	for n, d := range da {
		if e, ok := db[n]; !ok || e != d {
			names = append(names, n)
		}
	}
	for n := range db {
		if _, ok := da[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
