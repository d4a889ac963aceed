package fiscosim_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fisco/verify"
	"github.com/bcosdata/bcosdata/services/fiscosim"
)

// checkBlock recomputes everything an honest verifier can about one block with the block
// library: header hash (against the stored hash and the record's keys), 2f+1 distinct valid
// sealer signatures, roots under rule, transaction hashes against _sys_tx_hash_2_block_,
// senders, receipt blooms and state roots, the receipt form of the version, and the ms
// timestamp order.
func checkBlock(t *testing.T, s *cryptosuite.Suite, rule block.RootRule, remainGas bool, rec *binlog.Record, prev *block.Block) *block.Block {
	t.Helper()
	tb := rec.Table("_sys_hash_2_block_")
	if tb == nil || len(tb.New) != 1 {
		t.Fatalf("block %d: no single _sys_hash_2_block_ row", rec.BlockNumber)
	}
	raw, _ := tb.Value(&tb.New[0], "value")
	if bytes.HasPrefix(raw, []byte("0x")) {
		raw = mustHex(t, string(raw[2:]))
	}
	blk, err := block.DecodeBlock(raw)
	if err != nil {
		t.Fatalf("block %d: %v", rec.BlockNumber, err)
	}
	h := blk.Header
	if err := blk.VerifyHash(s); err != nil {
		t.Fatal(err)
	}
	if key, _ := tb.Value(&tb.New[0], "hash"); string(key) != fmt.Sprintf("%x", blk.BlockHash) {
		t.Fatalf("block %d: row key %s, hash %x", rec.BlockNumber, key, blk.BlockHash)
	}
	if h.Number != rec.BlockNumber {
		t.Fatalf("record %d holds block %d", rec.BlockNumber, h.Number)
	}
	if prev != nil {
		if h.ParentHash != prev.BlockHash || h.Timestamp <= prev.Header.Timestamp {
			t.Fatalf("block %d: parent %x (want %x), timestamp %d after %d", h.Number, h.ParentHash, prev.BlockHash, h.Timestamp, prev.Header.Timestamp)
		}
	}
	if h.Number == 0 {
		return blk
	}
	n := len(h.SealerList)
	quorum := n - (n-1)/3
	if len(blk.Signatures) < quorum {
		t.Fatalf("block %d: %d signatures, quorum %d", h.Number, len(blk.Signatures), quorum)
	}
	if err := blk.VerifySignatures(s); err != nil {
		t.Fatalf("block %d: %v", h.Number, err)
	}
	if err := blk.VerifyRoots(s, rule); err != nil {
		t.Fatalf("block %d: %v", h.Number, err)
	}
	txRows := rec.Table("_sys_tx_hash_2_block_")
	if txRows == nil || len(txRows.New) != len(blk.Transactions) {
		t.Fatalf("block %d: tx rows do not match %d transactions", h.Number, len(blk.Transactions))
	}
	for i, tx := range blk.Transactions {
		key, _ := txRows.Value(&txRows.New[i], "hash")
		idx, _ := txRows.Value(&txRows.New[i], "index")
		if string(key) != fmt.Sprintf("%x", tx.Hash(s)) || string(idx) != strconv.Itoa(i) {
			t.Fatalf("block %d tx %d: row %s/%s", h.Number, i, key, idx)
		}
		if _, err := tx.Sender(s); err != nil {
			t.Fatalf("block %d tx %d: %v", h.Number, i, err)
		}
	}
	for i, r := range blk.Receipts {
		if r.ComputeBloom(s) != r.Bloom || r.StateRoot != h.StateRoot || r.HasRemainGas != remainGas {
			t.Fatalf("block %d receipt %d: bloom ok %v, stateRoot ok %v, remainGas %v", h.Number, i, r.ComputeBloom(s) == r.Bloom, r.StateRoot == h.StateRoot, r.HasRemainGas)
		}
	}
	return blk
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	var b []byte
	if _, err := fmt.Sscanf(s, "%x", &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEveryBlockVerifies writes chains for both crypto families and several versions and
// checks every block in the binlog files, then runs the project's verifier (libs/fisco/verify)
// over the same files and expects it to accept every record.
func TestEveryBlockVerifies(t *testing.T) {
	cases := []struct {
		sm      bool
		version string
		rule    block.RootRule
		remain  bool
	}{
		{false, "2.9.0", block.MerkleRoots, true},
		{true, "2.9.0", block.MerkleRoots, true},
		{false, "2.5.0", block.MerkleRoots, false},
		{true, "2.1.0", block.RC2Roots, false},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("sm=%v/%s", tc.sm, tc.version)
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.SM, cfg.SupportedVersion, cfg.Blocks = tc.sm, tc.version, 12
			cfg.RPCAddr, cfg.BinlogAddr = "", ""
			sim := runToEnd(t, cfg)
			suite := cryptosuite.ECDSA()
			if tc.sm {
				suite = cryptosuite.SM()
			}
			recs, readErrs, _, _ := readRecords(t, sim.BinlogDir())
			if len(recs) != 13 {
				t.Fatalf("%d records, want 13", len(recs))
			}
			var prev *block.Block
			for i, rec := range recs {
				if readErrs[i] != nil {
					t.Fatalf("record %d: %v", i, readErrs[i])
				}
				prev = checkBlock(t, suite, tc.rule, tc.remain, rec, prev)
			}

			v, err := verify.New(suite, verify.WithSupportedVersion(tc.version))
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range recs {
				res, err := v.VerifyRecord(rec)
				if err != nil {
					t.Fatalf("libs/fisco/verify rejects block %d: %v", rec.BlockNumber, err)
				}
				if rec.BlockNumber > 0 && (!res.SealersChecked || !res.Linked) {
					t.Fatalf("block %d: sealers checked %v, linked %v", rec.BlockNumber, res.SealersChecked, res.Linked)
				}
			}
		})
	}
}

// TestFaultsAreFlaggedExactly injects a corrupt CRC, a forged signature, a restart and a
// truncated tail, and checks that the binlog shows exactly those: the verifier fails the two
// bad blocks and no other, the restart starts a new file, and the last file ends inside a
// record.
func TestFaultsAreFlaggedExactly(t *testing.T) {
	cfg := testConfig(t)
	cfg.RPCAddr, cfg.BinlogAddr = "", ""
	cfg.Blocks = 12
	cfg.Faults.CorruptCRC = fiscosim.BlockList{4}
	cfg.Faults.ForgeSignature = fiscosim.BlockList{7}
	cfg.Faults.RestartAt = fiscosim.BlockList{9}
	cfg.Faults.TruncateTail = true
	sim := runToEnd(t, cfg)

	recs, readErrs, files, truncated := readRecords(t, sim.BinlogDir())
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if strings.Join(names, " ") != "0.binlog 9.binlog" {
		t.Fatalf("files %v, want a new file at the restart", names)
	}
	if !truncated || len(recs) != 12 {
		t.Fatalf("truncated tail %v, %d complete records (want 12: block 12 cut)", truncated, len(recs))
	}
	v, err := verify.New(cryptosuite.ECDSA(), verify.WithSupportedVersion(cfg.SupportedVersion))
	if err != nil {
		t.Fatal(err)
	}
	failed := map[uint64]string{}
	for i, rec := range recs {
		_, err := v.Commit(v.Prepare(rec, readErrs[i]))
		var ce *verify.CheckError
		if errors.As(err, &ce) {
			failed[rec.BlockNumber] = ce.Check
		} else if err != nil {
			t.Fatal(err)
		}
	}
	want := map[uint64]string{4: verify.CheckCRC, 7: verify.CheckSignatures}
	if fmt.Sprint(failed) != fmt.Sprint(want) {
		t.Fatalf("verifier flagged %v, want %v", failed, want)
	}
}

// TestSameSeedSameBytes runs the simulator twice with one seed and once with another: the
// first two binlog directories must be byte-identical (simulated clock, deterministic
// signatures, SM included), the third must differ.
func TestSameSeedSameBytes(t *testing.T) {
	for _, sm := range []bool{false, true} {
		t.Run(fmt.Sprintf("sm=%v", sm), func(t *testing.T) {
			run := func(seed int64) (map[string][]byte, uint64) {
				cfg := testConfig(t)
				cfg.RPCAddr, cfg.BinlogAddr = "", ""
				cfg.SM, cfg.Seed, cfg.Blocks = sm, seed, 8
				cfg.BinlogMaxSize = 64 << 10 // several files
				sim := runToEnd(t, cfg)
				return dirBytes(t, cfg.Data), sim.HeadNumber()
			}
			a, ha := run(42)
			b, hb := run(42)
			c, _ := run(43)
			if keysOf(a) != keysOf(b) || ha != hb {
				t.Fatalf("files %s vs %s", keysOf(a), keysOf(b))
			}
			if len(a) < 2 {
				t.Fatalf("only %d binlog files; the size limit should rotate", len(a))
			}
			for name := range a {
				if !bytes.Equal(a[name], b[name]) {
					t.Fatalf("%s differs between two runs with the same seed", name)
				}
				if bytes.Equal(a[name], c[name]) {
					t.Fatalf("%s is the same with another seed", name)
				}
			}
		})
	}
}

// TestBinlogHTTP checks the nginx-style listing and Range downloads against the files.
func TestBinlogHTTP(t *testing.T) {
	cfg := testConfig(t)
	cfg.RPCAddr = ""
	cfg.BinlogMaxSize = 32 << 10
	cfg.Blocks = 6
	sim := startSim(t, cfg)
	waitBlock(t, sim, 6)
	files, err := binlog.ListDir(sim.BinlogDir())
	if err != nil || len(files) < 2 {
		t.Fatalf("%d files, %v", len(files), err)
	}
	resp, err := http.Get(sim.BinlogURL())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	line := regexp.MustCompile(`(?m)^<a href="(\d+\.binlog)">(\d+\.binlog)</a>( +)(\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d) +(\d+)\r$`)
	matches := line.FindAllStringSubmatch(string(page), -1)
	if len(matches) != len(files) {
		t.Fatalf("listing has %d binlog lines, dir has %d files:\n%s", len(matches), len(files), page)
	}
	for _, m := range matches {
		if m[1] != m[2] || len(m[2])+len(m[3]) != 51 {
			t.Fatalf("line %q: name column not padded to 50", m[0])
		}
		st, err := os.Stat(filepath.Join(sim.BinlogDir(), m[1]))
		if err != nil || strconv.FormatInt(st.Size(), 10) != m[5] {
			t.Fatalf("listed size %s for %s, file has %d (%v)", m[5], m[1], st.Size(), err)
		}
		if !strings.HasSuffix(strings.TrimSuffix(m[0], "\r"), fmt.Sprintf("%19d", st.Size())) {
			t.Fatalf("size not right-aligned in 19 columns: %q", m[0])
		}
	}
	first := files[0]
	whole, _ := os.ReadFile(first.Path)
	for _, tc := range []struct {
		rng  string
		code int
		body []byte
	}{
		{"bytes=10-", http.StatusPartialContent, whole[10:]},
		{fmt.Sprintf("bytes=%d-", len(whole)), http.StatusRequestedRangeNotSatisfiable, nil},
		{"", http.StatusOK, whole},
	} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, sim.BinlogURL()+first.Name, nil)
		if tc.rng != "" {
			req.Header.Set("Range", tc.rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || (tc.body != nil && !bytes.Equal(body, tc.body)) {
			t.Fatalf("Range %q: %d, %d bytes", tc.rng, resp.StatusCode, len(body))
		}
	}
}

// TestRestartContinuesChain stops a node at block 5 and starts it again on the same data: it
// recovers from its binlog, starts a new file as a restarted node does, and the blocks it adds
// (with successful traffic) verify and link to the old ones.
func TestRestartContinuesChain(t *testing.T) {
	cfg := testConfig(t)
	cfg.RPCAddr, cfg.BinlogAddr = "", ""
	cfg.Blocks = 5
	runToEnd(t, cfg)
	cfg.Blocks = 10
	sim := runToEnd(t, cfg)
	recs, readErrs, files, _ := readRecords(t, sim.BinlogDir())
	if len(files) != 2 || files[1].Name != "6.binlog" || len(recs) != 11 {
		t.Fatalf("files %v, %d records", files, len(recs))
	}
	v, err := verify.New(cryptosuite.ECDSA(), verify.WithSupportedVersion(cfg.SupportedVersion))
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for i, rec := range recs {
		res, err := v.Commit(v.Prepare(rec, readErrs[i]))
		if err != nil {
			t.Fatalf("block %d: %v", rec.BlockNumber, err)
		}
		if rec.BlockNumber > 5 {
			for _, r := range res.Block.Receipts {
				if r.Status == 0 && len(r.Logs) > 0 {
					ok++
				}
			}
		}
	}
	if ok == 0 {
		t.Fatal("no successful transaction with events after the restart")
	}
	// A restart on a chain that already reached -blocks exits at once and writes nothing.
	runToEnd(t, cfg)
	if after, _ := binlog.ListDir(sim.BinlogDir()); len(after) != 2 {
		t.Fatalf("files after an idle restart: %v", after)
	}
}
