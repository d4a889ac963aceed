package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fixtures"
	"github.com/bcosdata/bcosdata/services/bcosdata/internal/cli"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Facts from ../shared/fixtures/binlog/README.md and the reference §1.4.
const (
	block21Hash = "0x505ad4a9423fb58abadb7307b5de209279a37765c314564329ef9c541369aa04"
	block22Hash = "0x85621e42f7cab5d92ee2e816579af3091931c37b6e8f9b2d68525fb31b39d86b"
)

func run(t *testing.T, f func(ctx context.Context, args []string, stdout, stderr io.Writer) error, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := f(t.Context(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

// parseLines reads logfmt lines into maps (values unquoted).
func parseLines(t *testing.T, out string) []map[string]string {
	t.Helper()
	var lines []map[string]string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m := map[string]string{}
		for _, kv := range strings.Fields(sc.Text()) {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = strings.Trim(v, `"`)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestBinlogInspectFixture(t *testing.T) {
	path := fixtures.Path(t, "binlog", "0.binlog")
	t.Run("verify text", func(t *testing.T) {
		out, _, err := run(t, cli.BinlogInspect, "--verify", "--progress=0", path)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "inspect-verify.golden", out)
		lines := parseLines(t, out)
		if len(lines) != 22 {
			t.Fatalf("%d lines, want 22", len(lines))
		}
		for i, l := range lines {
			if l["verdict"] != "ok" || l["crc"] != l["crc_computed"] || l["file"] != "0.binlog" {
				t.Errorf("line %d: %v", i, l)
			}
			if i > 0 && (len(strings.Split(l["signers"], ",")) != 3 || l["parent"] != lines[i-1]["hash"]) {
				t.Errorf("block %d: signers %q, parent %s vs previous %s", i, l["signers"], l["parent"], lines[i-1]["hash"])
			}
		}
		if l := lines[0]; l["offset"] != "4" || l["length"] != "2395" || l["crc"] != "075812b5" {
			t.Errorf("block 0: %v", l)
		}
		if l := lines[1]; l["offset"] != "2403" || l["length"] != "5879" {
			t.Errorf("block 1: %v", l)
		}
		if lines[21]["hash"] != block21Hash {
			t.Errorf("block 21 hash %s, want %s", lines[21]["hash"], block21Hash)
		}
	})
	t.Run("json without verify", func(t *testing.T) {
		out, _, err := run(t, cli.BinlogInspect, path, "--json", "--progress", "0")
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "inspect.jsonl.golden", out)
		dec := json.NewDecoder(strings.NewReader(out))
		n := 0
		for ; ; n++ {
			var l struct {
				Block   uint64   `json:"block"`
				Verdict string   `json:"verdict"`
				Hash    string   `json:"hash"`
				Signers []uint64 `json:"signers"`
			}
			if err := dec.Decode(&l); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			if l.Block != uint64(n) || l.Verdict != "ok" || (n > 0 && len(l.Signers) != 3) {
				t.Errorf("object %d: %+v", n, l)
			}
		}
		if n != 22 {
			t.Errorf("%d objects, want 22", n)
		}
	})
}

// TestBinlogInspectDir splits the fixture into several files (as a node rotating them
// would) and checks that a directory is read in numeric order with one chain across files.
func TestBinlogInspectDir(t *testing.T) {
	recs := readFixture(t)
	dir := t.TempDir()
	w, err := binlog.OpenDir(dir, binlog.DirOptions{MaxFileSize: 40000})
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs {
		if i == 9 || i == 10 {
			w.Rotate() // 9.binlog and 10.binlog: numeric, not lexical, order matters
		}
		if err := w.WriteRecord(rec); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	out, _, err := run(t, cli.BinlogInspect, "--verify", "--progress=0", "--concurrency=3", dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := parseLines(t, out)
	if len(lines) != 22 {
		t.Fatalf("%d lines", len(lines))
	}
	files := map[string]bool{}
	for i, l := range lines {
		if l["block"] != strconv.Itoa(i) || l["verdict"] != "ok" {
			t.Errorf("line %d: block %s verdict %s (%s)", i, l["block"], l["verdict"], l["error"])
		}
		files[l["file"]] = true
	}
	if !files["9.binlog"] || !files["10.binlog"] || len(files) < 4 {
		t.Errorf("files %v", files)
	}
}

func readFixture(t *testing.T) []*binlog.Record {
	t.Helper()
	recs, err := binlog.ReadFile(fixtures.Path(t, "binlog", "0.binlog"), binlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestBinlogInspectBadRecords(t *testing.T) {
	data := fixtures.Read(t, "binlog", "0.binlog")
	recs := readFixture(t)
	t.Run("corrupted copy fails with the bad block named", func(t *testing.T) {
		bad := bytes.Clone(data)
		bad[recs[5].Offset+300] ^= 0x01
		path := filepath.Join(t.TempDir(), "0.binlog")
		os.WriteFile(path, bad, 0o644)
		for _, verify := range []bool{false, true} {
			args := []string{"--progress=0", path}
			if verify {
				args = append(args, "--verify")
			}
			out, _, err := run(t, cli.BinlogInspect, args...)
			if !errors.Is(err, cli.ErrBadRecords) {
				t.Fatalf("verify=%v: err %v, want ErrBadRecords", verify, err)
			}
			if app.ExitCode("bcosdata", err, io.Discard) == 0 {
				t.Errorf("exit code 0 for bad records")
			}
			lines := parseLines(t, out)
			if len(lines) != 22 {
				t.Fatalf("%d lines", len(lines))
			}
			for i, l := range lines {
				want := "ok"
				if i == 5 {
					want = "crc"
				}
				if l["verdict"] != want {
					t.Errorf("verify=%v block %d verdict %s (%s), want %s", verify, i, l["verdict"], l["error"], want)
				}
			}
			if l := lines[5]; l["crc"] == l["crc_computed"] {
				t.Errorf("stored and computed crc agree on the corrupted record: %v", l)
			}
		}
	})
	t.Run("truncated tail is reported as a read error", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "0.binlog")
		os.WriteFile(path, data[:len(data)-10], 0o644)
		out, _, err := run(t, cli.BinlogInspect, "--progress=0", "--verify", "--json", path)
		if !errors.Is(err, cli.ErrBadRecords) {
			t.Fatalf("err %v", err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var last struct {
			Block   uint64 `json:"block"`
			Offset  int64  `json:"offset"`
			Verdict string `json:"verdict"`
			Error   string `json:"error"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
			t.Fatal(err)
		}
		if len(lines) != 22 || last.Verdict != "read" || last.Block != 21 || last.Offset != recs[21].Offset || !strings.Contains(last.Error, "truncated") {
			t.Errorf("%d lines, last %+v", len(lines), last)
		}
	})
}

func TestUsage(t *testing.T) {
	cases := []struct {
		name  string
		f     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
		flags []string
	}{
		{"binlog inspect", cli.BinlogInspect, []string{"-json", "-verify", "-crypto", "-format", "-roots", "-concurrency", "-progress"}},
		{"block decode", cli.BlockDecode, []string{"-crypto"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := run(t, tc.f, "-h")
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("-h: %v", err)
			}
			for _, f := range tc.flags {
				if !strings.Contains(stderr, f+" ") && !strings.Contains(stderr, f+"\n") {
					t.Errorf("usage lacks %s:\n%s", f, stderr)
				}
			}
			for _, args := range [][]string{{}, {"a", "b"}, {"--crypto=rsa", "x"}, {"--nope", "x"}} {
				_, _, err := run(t, tc.f, args...)
				var ue *app.UsageError
				if !errors.As(err, &ue) {
					t.Errorf("args %q: %v, want a usage error", args, err)
				}
			}
		})
	}
	_, _, err := run(t, cli.BinlogInspect, "--format=v3", "x")
	var ue *app.UsageError
	if !errors.As(err, &ue) {
		t.Errorf("bad --format: %v", err)
	}
}

func TestBlockDecode(t *testing.T) {
	file := fixtures.Path(t, "binlog", "rlp-block22-samplechain.hex")
	out, _, err := run(t, cli.BlockDecode, "@"+file)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "block22.json.golden", out)
	var got struct {
		Hash      string `json:"hash"`
		HashValid bool   `json:"hashValid"`
		Roots     string `json:"roots"`
		Header    struct {
			ParentHash string   `json:"parentHash"`
			Number     uint64   `json:"number"`
			SealerList []string `json:"sealerList"`
		} `json:"header"`
		Transactions []struct {
			Hash, Sender string
		} `json:"transactions"`
		Receipts []struct {
			Logs []json.RawMessage `json:"logs"`
		} `json:"receipts"`
		Signatures []struct {
			Index uint64 `json:"index"`
			Valid bool   `json:"valid"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	// README: hash 85621e42…, parent = block 21, 1 tx, 1 receipt with 1 log, sigs 2,0,3 valid,
	// Merkle roots.
	if got.Hash != block22Hash || !got.HashValid || got.Roots != "merkle" || got.Header.ParentHash != block21Hash || got.Header.Number != 22 {
		t.Errorf("header: %+v", got)
	}
	if len(got.Transactions) != 1 || got.Transactions[0].Sender == "" || len(got.Receipts) != 1 || len(got.Receipts[0].Logs) != 1 {
		t.Errorf("body: %+v", got)
	}
	// Addresses are printed as the node's JSON-RPC prints them: lowercase hex.
	if s := got.Transactions[0].Sender; len(s) != 42 || s != strings.ToLower(s) {
		t.Errorf("sender %q, want 0x and 40 lowercase hex digits as in JSON-RPC", s)
	}
	var idx []uint64
	for _, s := range got.Signatures {
		if !s.Valid {
			t.Errorf("signature %d invalid", s.Index)
		}
		idx = append(idx, s.Index)
	}
	if diff := cmp.Diff([]uint64{2, 0, 3}, idx); diff != "" {
		t.Errorf("signature indices: %s", diff)
	}

	t.Run("hex argument equals @file", func(t *testing.T) {
		hexArg := "0x" + strings.TrimSpace(string(fixtures.Read(t, "binlog", "rlp-block22-samplechain.hex")))
		again, _, err := run(t, cli.BlockDecode, hexArg, "--crypto", "ecdsa")
		if err != nil || again != out {
			t.Errorf("err %v, output differs: %v", err, again != out)
		}
	})
	t.Run("root rules of the other vectors", func(t *testing.T) {
		for file, want := range map[string]string{"rlp-block3-rc2-roots.hex": "rc2", "rlp-block0-genesis-otherchain.hex": "zero"} {
			out, _, err := run(t, cli.BlockDecode, "@"+fixtures.Path(t, "binlog", file))
			if err != nil || !strings.Contains(out, `"roots": "`+want+`"`) {
				t.Errorf("%s: err %v, roots not %s", file, err, want)
			}
		}
	})
	t.Run("forged signature shows invalid", func(t *testing.T) {
		raw := strings.TrimSpace(string(fixtures.Read(t, "binlog", "rlp-block22-samplechain.hex")))
		// Flip one hex digit inside the second signature, found in the block hex through the
		// JSON output: only that signature changes.
		var full struct {
			Signatures []struct{ Signature string } `json:"signatures"`
		}
		json.Unmarshal([]byte(out), &full)
		s := strings.TrimPrefix(full.Signatures[1].Signature, "0x")
		at := strings.Index(raw, s)
		if at < 0 {
			t.Fatal("signature not found in the block hex")
		}
		flipped := []byte(raw)
		if flipped[at+10] == '0' {
			flipped[at+10] = '1'
		} else {
			flipped[at+10] = '0'
		}
		out2, _, err := run(t, cli.BlockDecode, string(flipped))
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			Signatures []struct {
				Valid bool   `json:"valid"`
				Error string `json:"error"`
			} `json:"signatures"`
		}
		json.Unmarshal([]byte(out2), &res)
		if !res.Signatures[0].Valid || res.Signatures[1].Valid || res.Signatures[1].Error == "" || !res.Signatures[2].Valid {
			t.Errorf("signatures after the flip: %+v", res.Signatures)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		_, _, err := run(t, cli.BlockDecode, "zz")
		var ue *app.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("bad hex: %v", err)
		}
		if _, _, err := run(t, cli.BlockDecode, "0xc0"); err == nil {
			t.Error("an empty list decoded as a block")
		}
		if _, _, err := run(t, cli.BlockDecode, "@"+filepath.Join(t.TempDir(), "nope")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("missing file: %v", err)
		}
	})
}
