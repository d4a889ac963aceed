package run

import (
	"cmp"
	"slices"
	"strings"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/compare"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// A one-to-one run is matched in the runner's memory: both sides are read once (the business
// file parsed, the chain side selected), paired by key in a hash table, and the results
// written with one COPY. Matching in PostgreSQL wrote both sides into tables, joined and
// hashed them there and wrote the results again: three times the database's work for a
// million rows. Grouping strategies still match in SQL (store.Match).

// keyInfo is what the matching knows of one key: how many business rows (malformed ones
// aside) and chain records carry it, the first line carrying it and its chain record.
type keyInfo struct {
	bn, cn int32
	first  int
	chain  int // index of its (last) chain record
}

// oneToOne pairs business rows with chain records by key.
type oneToOne struct {
	biz    []*store.BusinessRow
	chain  []store.ChainRow
	fields []compare.Comparator
	names  []string // business column of each field, as diffs name them
	keys   []keyInfo
	// bizKey and chainKey are the position in keys of each row's and record's key (a
	// malformed row's: -1), joined and looked up once.
	bizKey, chainKey []int32
}

// joinKey is a row's key as one text: its canonical key texts joined with store.KeySep.
func joinKey(keys []string) string {
	if len(keys) == 1 {
		return keys[0]
	}
	return strings.Join(keys, store.KeySep)
}

func newOneToOne(biz []*store.BusinessRow, chain []store.ChainRow, fields []compare.Comparator, names []string) *oneToOne {
	m := &oneToOne{biz: biz, chain: chain, fields: fields, names: names,
		keys: make([]keyInfo, 0, len(chain)+len(chain)/8), bizKey: make([]int32, len(biz)), chainKey: make([]int32, len(chain))}
	index := make(map[string]int32, cap(m.keys))
	info := func(key string) int32 {
		i, ok := index[key]
		if !ok {
			i = int32(len(m.keys))
			index[key] = i
			m.keys = append(m.keys, keyInfo{})
		}
		return i
	}
	for i := range chain {
		m.chainKey[i] = info(joinKey(chain[i].Keys))
		k := &m.keys[m.chainKey[i]]
		k.cn++
		k.chain = i
	}
	for i, b := range biz {
		m.bizKey[i] = -1
		if b.Error != "" {
			continue
		}
		m.bizKey[i] = info(joinKey(b.Keys))
		k := &m.keys[m.bizKey[i]]
		k.bn++
		if k.bn == 1 || b.Line < k.first {
			k.first = b.Line
		}
	}
	return m
}

// results returns the run's results in report order, one at a time: each business row by
// line (its line is its id), then each chain record no single business row accounts for by
// block, log index and hash (ids from store.IDsAfterLines on).
//
// A key carried by several business rows makes each of them duplicate_in_business; the chain
// record with that key is accounted for once, on the first of them. A key carried by several
// chain records makes each of them duplicate_on_chain, and the business row carrying it too.
func (m *oneToOne) results() func() (*store.ResultRow, bool) {
	var r store.ResultRow
	i := 0
	var extra []int
	e := -1
	return func() (*store.ResultRow, bool) {
		if i < len(m.biz) {
			m.businessResult(i, &r)
			i++
			return &r, true
		}
		if e < 0 {
			extra = m.unaccounted()
			e = 0
		}
		if e == len(extra) {
			return nil, false
		}
		c := &m.chain[extra[e]]
		k := &m.keys[m.chainKey[extra[e]]]
		outcome := store.MissingInBusiness
		if k.cn > 1 {
			outcome = store.DuplicateOnChain
		}
		e++
		r = store.ResultRow{ID: store.IDsAfterLines + int64(e), Outcome: outcome, Keys: c.Keys, TxHash: c.TxHash, LogIndex: c.LogIndex,
			BlockNumber: c.BlockNumber, ChainRecords: 1, ChainAmount: c.Amount}
		return &r, true
	}
}

// unaccounted returns the chain records whose key no business row carries or several records
// carry, in block, log index and hash order.
func (m *oneToOne) unaccounted() []int {
	var out []int
	for i := range m.chain {
		k := &m.keys[m.chainKey[i]]
		if k.cn > 1 || k.bn == 0 {
			out = append(out, i)
		}
	}
	slices.SortFunc(out, func(a, b int) int {
		x, y := &m.chain[a], &m.chain[b]
		return cmp.Or(cmp.Compare(x.BlockNumber, y.BlockNumber), cmp.Compare(x.LogIndex, y.LogIndex), strings.Compare(x.TxHash, y.TxHash))
	})
	return out
}

func (m *oneToOne) businessResult(i int, r *store.ResultRow) {
	b := m.biz[i]
	*r = store.ResultRow{ID: int64(b.Line), Line: int32(b.Line), BusinessRow: true}
	if b.Error != "" {
		r.Outcome, r.Error = store.Malformed, b.Error
		return
	}
	r.Keys, r.BusinessAmount = b.Keys, b.Amount
	k := &m.keys[m.bizKey[i]]
	var c *store.ChainRow
	if k.cn == 1 {
		c = &m.chain[k.chain]
		r.TxHash, r.LogIndex, r.BlockNumber = c.TxHash, c.LogIndex, c.BlockNumber
		if b.Line == k.first {
			r.ChainRecords, r.ChainAmount = 1, c.Amount
		}
	}
	switch {
	case k.bn > 1:
		r.Outcome = store.DuplicateInBusiness
	case k.cn == 0:
		r.Outcome = store.MissingOnChain
	case k.cn > 1:
		r.Outcome = store.DuplicateOnChain
	default:
		r.Outcome = store.Matched
		for i, f := range m.fields {
			if m.equal(f, b, c, i) {
				continue
			}
			if r.Diff == nil {
				r.Outcome, r.Diff = store.Mismatched, map[string]map[string]string{}
			}
			r.Diff[m.names[i]] = map[string]string{"business": b.Raw[i], "chain": c.Raw[i]}
		}
	}
}

// equal compares field i of a business row and a chain record by their canonical texts, as
// the comparator's SQL does: a value either side cannot read is unequal; equal texts are
// equal numbers, instants and hashes; a tolerance or a time span is decided on the values.
func (m *oneToOne) equal(f compare.Comparator, b *store.BusinessRow, c *store.ChainRow, i int) bool {
	bf, cf := b.Fields[i], c.Fields[i]
	if bf == nil || cf == nil {
		return false
	}
	if *bf == *cf {
		return true
	}
	if f.Joinable() {
		return false
	}
	return f.Compare(b.Raw[i], c.Raw[i]).Equal
}

// malformedOnly returns the results of a run over its error budget: its malformed rows only,
// numbered from 1 in line order.
func malformedOnly(biz []*store.BusinessRow) func() (*store.ResultRow, bool) {
	var r store.ResultRow
	i, n := 0, int64(0)
	return func() (*store.ResultRow, bool) {
		for ; i < len(biz); i++ {
			if b := biz[i]; b.Error != "" {
				n++
				i++
				r = store.ResultRow{ID: n, Outcome: store.Malformed, Line: int32(b.Line), BusinessRow: true, Error: b.Error}
				return &r, true
			}
		}
		return nil, false
	}
}
