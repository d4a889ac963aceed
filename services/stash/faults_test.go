package stash_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
)

// encodeFile returns a binlog file holding recs.
func encodeFile(t *testing.T, recs []*binlog.Record) []byte {
	t.Helper()
	out := binlog.AppendHeader(nil)
	for _, r := range recs {
		var err error
		if out, err = binlog.AppendRecord(out, r); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// writeDir writes data as <dir>/0.binlog and returns a file:// source for dir.
func writeDir(t *testing.T, dir string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "0.binlog"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return "file://" + dir
}

// withValue returns a copy of rec in which the named field of the first row of table is
// replaced by edit's result.
func withValue(t *testing.T, rec *binlog.Record, table, field string, edit func([]byte) []byte) *binlog.Record {
	t.Helper()
	out := *rec
	out.Tables = slices.Clone(rec.Tables)
	for i := range out.Tables {
		tb := &out.Tables[i]
		if tb.Name != table {
			continue
		}
		vf := tb.ValueFields()
		fi := slices.Index(vf, field)
		if fi < 0 {
			t.Fatalf("table %s has no field %s", table, field)
		}
		list := &tb.New
		if len(tb.New) == 0 {
			list = &tb.Dirty
		}
		*list = slices.Clone(*list)
		e := &(*list)[0]
		vals := e.Expand(len(vf))
		vals[fi].Data = edit(slices.Clone(vals[fi].Data))
		*e = binlog.NewEntry(e.ID, e.Status, vals)
		return &out
	}
	t.Fatalf("block %d has no table %s", rec.BlockNumber, table)
	return nil
}

// forgeSignature flips a bit of the first sealer signature in the block stored by rec.
func forgeSignature(t *testing.T, rec *binlog.Record) *binlog.Record {
	t.Helper()
	return withValue(t, rec, "_sys_hash_2_block_", "value", func(raw []byte) []byte {
		b, err := block.DecodeBlock(raw)
		if err != nil {
			t.Fatal(err)
		}
		b.Signatures[0].Signature[7] ^= 0x40
		out, err := b.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return out
	})
}

// contractBlock returns the first block at or after from whose record writes a contract table.
func contractBlock(t *testing.T, recs []*binlog.Record, from int) (int, string) {
	t.Helper()
	for i := from; i < len(recs); i++ {
		for _, tb := range recs[i].Tables {
			if strings.HasPrefix(tb.Name, "c_") && len(tb.New)+len(tb.Dirty) > 0 {
				return i, tb.Name
			}
		}
	}
	t.Fatal("no block writes a contract table")
	return 0, ""
}

// TestFaultsStopAtLastGoodBlock injects each fault into a copy of the real binlog and checks
// that the stream stops just before the bad block, that Status names the block and the failed
// check, that nothing after the last good block is published, and that the stream resumes
// once the fault is repaired or another source supplies a good record.
func TestFaultsStopAtLastGoodBlock(t *testing.T) {
	t.Parallel()
	_, recs := readFixture(t)
	good := encodeFile(t, recs)
	const bad = 9
	cBlock, cTable := contractBlock(t, recs, 5)

	type setup struct {
		sources []string
		repair  func() // nil: the fault is not repaired
	}
	cases := []struct {
		name  string
		block uint64
		check string
		// sourceErr is a fragment the failing source's last_error must contain when the stream
		// goes on without stopping (another source supplied the block).
		sourceErr string
		setup     func(t *testing.T, dir string) setup
	}{
		{
			name: "bad crc", block: bad, check: "crc",
			setup: func(t *testing.T, dir string) setup {
				data := slices.Clone(good)
				data[recs[bad].Offset+30] ^= 0xff
				src := writeDir(t, dir, data)
				return setup{sources: []string{src}, repair: func() { writeDir(t, dir, good) }}
			},
		},
		{
			name: "truncated tail", block: bad, check: "truncated",
			setup: func(t *testing.T, dir string) setup {
				cut := recs[bad].Offset + int64(recs[bad].Length)/2
				src := writeDir(t, dir, good[:cut])
				return setup{sources: []string{src}, repair: func() {
					f, err := os.OpenFile(filepath.Join(dir, "0.binlog"), os.O_WRONLY|os.O_APPEND, 0)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					if _, err := f.Write(good[cut:]); err != nil {
						t.Fatal(err)
					}
				}}
			},
		},
		{
			name: "forged signature", block: bad, check: "signatures",
			setup: func(t *testing.T, dir string) setup {
				forged := slices.Clone(recs)
				forged[bad] = forgeSignature(t, recs[bad])
				src := writeDir(t, dir, encodeFile(t, forged))
				return setup{sources: []string{src}, repair: func() { writeDir(t, dir, good) }}
			},
		},
		{
			name: "disagreeing sources", block: uint64(cBlock), check: "source-disagreement",
			setup: func(t *testing.T, dir string) setup {
				tampered := slices.Clone(recs)
				tampered[cBlock] = withValue(t, recs[cBlock], cTable, "value", func(v []byte) []byte { return append(v, '9') })
				a := writeDir(t, filepath.Join(dir, "a"), good)
				b := writeDir(t, filepath.Join(dir, "b"), encodeFile(t, tampered))
				return setup{sources: []string{a, b}}
			},
		},
		{
			name: "bad crc on one of two sources", block: 21, check: "", sourceErr: "crc",
			setup: func(t *testing.T, dir string) setup {
				data := slices.Clone(good)
				data[recs[bad].Offset+30] ^= 0xff
				a := writeDir(t, filepath.Join(dir, "a"), data)
				b := writeDir(t, filepath.Join(dir, "b"), good)
				return setup{sources: []string{a, b}}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			s := tc.setup(t, t.TempDir())
			run := h.start(h.config(s.sources...))
			if tc.check == "" {
				st := waitStatus(t, run.client, 60*time.Second, "all blocks published", func(s *stashv1.StatusResponse) bool {
					return s.GetLastPublished() == 21
				})
				if st.GetFailure() != nil {
					t.Errorf("failure %v reported although another source supplied the block", st.GetFailure())
				}
				if e := st.GetSources()[0].GetLastError(); !strings.Contains(e, tc.sourceErr) {
					t.Errorf("faulty source's last error %q does not mention %s", e, tc.sourceErr)
				}
				if got := len(h.drainTopic(t, "bcos.chain0.group1.blocks.v1")); got != 22 {
					t.Errorf("%d block messages, want 22", got)
				}
				return
			}
			st := waitStatus(t, run.client, 60*time.Second, "a failure at block "+tc.check, func(s *stashv1.StatusResponse) bool {
				f := s.GetFailure()
				return f != nil && f.GetBlockNumber() == tc.block && f.GetCheck() == tc.check && s.GetLastPublished() == tc.block-1
			})
			if st.GetLastVerified() != tc.block-1 {
				t.Errorf("last verified %d, want %d", st.GetLastVerified(), tc.block-1)
			}
			t.Logf("status failure: %v", st.GetFailure())
			// Let the retries run a few rounds; nothing past the last good block may appear.
			waitStatus(t, run.client, 10*time.Second, "the failure to persist", func(s *stashv1.StatusResponse) bool {
				return s.GetFailure() != nil && time.Since(s.GetFailure().GetTime().AsTime()) < time.Second && s.GetFailure().GetTime().AsTime().After(st.GetFailure().GetTime().AsTime())
			})
			msgs := h.drainTopic(t, "bcos.chain0.group1.blocks.v1")
			if len(msgs) != int(tc.block) {
				t.Fatalf("%d block messages published, want %d (blocks before the failure only)", len(msgs), tc.block)
			}
			var stored int
			if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM stash.stash_blocks`).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if stored != int(tc.block) {
				t.Errorf("%d blocks stored, want %d", stored, tc.block)
			}
			if s.repair == nil {
				return
			}
			s.repair()
			st = waitStatus(t, run.client, 60*time.Second, "the stream to resume after the repair", func(s *stashv1.StatusResponse) bool {
				return s.GetLastPublished() == 21
			})
			if st.GetFailure() != nil {
				t.Errorf("failure %v still reported after the stream went past it", st.GetFailure())
			}
		})
	}
}

// TestLaggingSourceNotWaitedFor gives the stash a second node that stopped at block 9: after
// -source.wait the stream goes on with the first node, and Status shows the second one's lag.
func TestLaggingSourceNotWaitedFor(t *testing.T) {
	t.Parallel()
	_, recs := readFixture(t)
	dir := t.TempDir()
	a := writeDir(t, filepath.Join(dir, "a"), encodeFile(t, recs))
	b := writeDir(t, filepath.Join(dir, "b"), encodeFile(t, recs[:10]))
	h := newHarness(t)
	cfg := h.config(a, b)
	cfg.SourceWait = 200 * time.Millisecond
	run := h.start(cfg)
	st := waitStatus(t, run.client, 60*time.Second, "all blocks published", func(s *stashv1.StatusResponse) bool {
		return s.GetLastPublished() == 21
	})
	run.noFailures(t)
	lag := st.GetSources()[1]
	if lag.GetLastVerified() != 9 || lag.GetHeadSeen() != 9 || lag.GetLag() != 0 {
		// Lag counts blocks the source has and the stash lacks: none.
		t.Errorf("lagging source status %v: want last verified 9, head 9, lag 0", lag)
	}
	if first := st.GetSources()[0]; first.GetLastVerified() != 21 {
		t.Errorf("first source last verified %d, want 21", first.GetLastVerified())
	}
}
