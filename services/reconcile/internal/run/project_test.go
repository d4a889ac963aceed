package run

import (
	"encoding/base64"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/bcosdata/bcosdata/libs/crypto/fieldcrypt"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// TestReadChainProjectsRecords reads stored records with odd values (hex amounts, white space,
// upper-case hex, values no comparator reads, missing parameters, parameters ingest sealed)
// through readChain and checks each chain row: canonical texts where the comparator reads
// the value, none where it does not, raw texts as stored (sealed ones opened), and the job's
// filters keeping exactly the records whose value is one of theirs, case and surrounding white
// space of the filter ignored.
func TestReadChainProjectsRecords(t *testing.T) {
	st, err := store.Open(t.Context(), pgtest.NewPool(t))
	if err != nil {
		t.Fatal(err)
	}
	recs := records(12)
	odd := []map[string]string{
		{"amount": "0x64"}, {"amount": " 12 "}, {"amount": "1,200"}, {"amount": "x"}, {"amount": "-0"},
		{"from": "  0xABCDEF0000000000000000000000000000000001"}, {"to": "0XABCDEF0000000000000000000000000000000002"},
		{"to": "not hex"}, {"memo": "\u3000Straße\u00a0"}, {"from": "0xÄ"}, {"memo": ""},
	}
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	kr, err := fieldcrypt.Parse(strings.NewReader("k1 "+key+"\nhmac "+key+"\n"), "test keys")
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Record
	params := map[string]map[string]string{} // tx hash → parameters as meant (sealed ones opened)
	for i, r := range recs {
		rec := transferRecord(r)
		if i < len(odd) {
			for k, v := range odd[i] {
				rec.Params[k] = v
			}
		}
		meant := map[string]string{}
		for k, v := range rec.Params {
			meant[k] = v
		}
		if i == len(recs)-2 { // parameters ingest sealed are opened
			rec.Params["memo"], rec.Params["from"] = kr.Seal(rec.Params["memo"]), kr.Seal(rec.Params["from"])
		}
		if i == len(recs)-1 {
			delete(rec.Params, "memo")
			delete(meant, "memo")
		}
		params[rec.TxHash] = meant
		out = append(out, rec)
	}
	tx, err := st.Pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.WriteRecords(t.Context(), tx, out); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}

	// What the comparators make of a few of the odd values, written out.
	canonical := map[string]map[string]*string{ // chain field → stored text → canonical text, nil: unreadable
		"amount": {"x": nil, " 12 ": ptr("12")},
		"from":   {"  0xABCDEF0000000000000000000000000000000001": ptr("0xabcdef0000000000000000000000000000000001"), "0xÄ": ptr("0xä")},
		"to":     {"0XABCDEF0000000000000000000000000000000002": ptr("0xabcdef0000000000000000000000000000000002"), "not hex": nil},
		"memo":   {"\u3000Straße\u00a0": ptr("Straße"), "": ptr("")},
	}
	froms := []string{strings.ToUpper(recs[1]["from"]), "  " + recs[5]["from"] + " ", "0xÄ", recs[len(recs)-2]["from"]}
	for _, tc := range []struct {
		name    string
		filters map[string]job.StringList
		keep    func(p map[string]string) bool
	}{
		{"no filters", nil, func(map[string]string) bool { return true }},
		{"filter", map[string]job.StringList{"from": froms[:2]}, func(p map[string]string) bool {
			return p["from"] == recs[1]["from"] || p["from"] == recs[5]["from"]
		}},
		{"two filters, sealed and not ASCII values", map[string]job.StringList{"from": {froms[0], froms[3], froms[2]}, "memo": {"工资", "货款 ", "Transfer 转账", "x"}},
			func(p map[string]string) bool {
				return (p["from"] == recs[1]["from"] || p["from"] == recs[len(recs)-2]["from"] || p["from"] == "0xÄ") &&
					(p["memo"] == "工资" || p["memo"] == "货款" || p["memo"] == "Transfer 转账" || p["memo"] == "x")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := testJob(t, t.TempDir(), "{max_rows: 1}")
			j.Chain.Filters = tc.filters
			got, err := readChain(t.Context(), st.Pool, j, window{start: math.MinInt64, end: math.MaxInt64}, kr, nil)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, r := range out {
				if tc.keep(params[r.TxHash]) {
					want = append(want, r.TxHash)
				}
			}
			var have []string
			for _, row := range got {
				have = append(have, row.TxHash)
			}
			sort.Strings(want)
			sort.Strings(have)
			if strings.Join(have, ",") != strings.Join(want, ",") {
				t.Fatalf("records read %v, want %v", have, want)
			}
			if tc.filters != nil && (len(want) == 0 || len(want) == len(out)) {
				t.Fatalf("the filters keep %d of %d records: not a test of them", len(want), len(out))
			}
			for _, row := range got {
				p := params[row.TxHash]
				if row.Keys[0] != strings.ToLower(row.TxHash) {
					t.Errorf("%s: key %q, want the hash in lower case", row.TxHash, row.Keys[0])
				}
				for i, f := range j.Fields {
					v, ok := p[f.Chain]
					if f.Chain == "block_timestamp_ms" {
						continue
					}
					if !ok {
						if row.Raw[i] != "" || row.Fields[i] != nil {
							t.Errorf("%s: missing %s read as %q/%v", row.TxHash, f.Chain, row.Raw[i], row.Fields[i])
						}
						continue
					}
					if row.Raw[i] != v {
						t.Errorf("%s: raw %s %q, want %q", row.TxHash, f.Chain, row.Raw[i], v)
					}
					c, known := canonical[f.Chain][v]
					if !known {
						continue
					}
					if (c == nil) != (row.Fields[i] == nil) || c != nil && *c != *row.Fields[i] {
						t.Errorf("%s: %s %q canonical %v, want %v", row.TxHash, f.Chain, v, deref(row.Fields[i]), deref(c))
					}
				}
			}
		})
	}
}

func ptr(s string) *string { return &s }

func deref(p *string) string {
	if p == nil {
		return "<none>"
	}
	return *p
}
