package stash_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
	"github.com/bcosdata/bcosdata/services/stash/internal/api"
)

// TestAPIOnFixture exercises GetBlock, GetStateChanges, VerifyRange and Snapshot on a stash of
// the real 0.binlog.
func TestAPIOnFixture(t *testing.T) {
	t.Parallel()
	dir, recs := readFixture(t)
	h := newHarness(t)
	run := h.start(h.config("file://" + dir))
	waitStatus(t, run.client, 60*time.Second, "22 blocks published", func(s *stashv1.StatusResponse) bool { return s.GetLastPublished() == 21 })
	c := run.client
	ctx := t.Context()

	t.Run("GetBlock", func(t *testing.T) {
		published := h.readTopic(t, "bcos.chain0.group1.blocks.v1", 22)
		for _, n := range []uint64{0, 1, 21} {
			want := numberToHash(t, recs[n])
			byNum, err := c.GetBlock(ctx, &stashv1.GetBlockRequest{Selector: &stashv1.GetBlockRequest_BlockNumber{BlockNumber: n}})
			if err != nil {
				t.Fatalf("GetBlock(%d): %v", n, err)
			}
			if got := byNum.GetBlock().GetHeader().GetHash(); got != "0x"+want {
				t.Fatalf("GetBlock(%d) hash %s, want 0x%s", n, got, want)
			}
			// With 0x or without, any case.
			for _, h := range []string{"0x" + want, strings.ToUpper(want)} {
				byHash, err := c.GetBlock(ctx, &stashv1.GetBlockRequest{Selector: &stashv1.GetBlockRequest_BlockHash{BlockHash: h}})
				if err != nil {
					t.Fatalf("GetBlock(%s): %v", h, err)
				}
				if !proto.Equal(byNum.GetBlock(), byHash.GetBlock()) {
					t.Errorf("block %d by number and by hash %s differ", n, h)
				}
			}
			// GetBlock is the view of the published message plus the whole block RLP.
			withRaw := decodeBlock(t, published[n])
			withRaw.Raw = fromHex(t, byNum.GetBlock().GetRaw())
			if diff := cmp.Diff(api.BlockView(withRaw), byNum.GetBlock(), protocmp.Transform()); diff != "" {
				t.Errorf("GetBlock(%d) differs from the published message (-published +GetBlock):\n%s", n, diff)
			}
			if raw := withRaw.GetRaw(); len(raw) == 0 || !bytes.Equal(raw, rebuildBlock(t, withRaw)) {
				t.Errorf("GetBlock(%d) raw is not the block RLP (%d bytes)", n, len(raw))
			}
		}
		for _, tc := range []struct {
			req  *stashv1.GetBlockRequest
			code codes.Code
		}{
			{&stashv1.GetBlockRequest{Selector: &stashv1.GetBlockRequest_BlockNumber{BlockNumber: 99}}, codes.NotFound},
			{&stashv1.GetBlockRequest{Selector: &stashv1.GetBlockRequest_BlockHash{BlockHash: "0x" + strings.Repeat("ab", 32)}}, codes.NotFound},
			{&stashv1.GetBlockRequest{Selector: &stashv1.GetBlockRequest_BlockHash{BlockHash: "0x1234"}}, codes.InvalidArgument},
			{&stashv1.GetBlockRequest{Selector: &stashv1.GetBlockRequest_BlockHash{BlockHash: "0xzz"}}, codes.InvalidArgument},
			{&stashv1.GetBlockRequest{}, codes.InvalidArgument},
		} {
			if _, err := c.GetBlock(ctx, tc.req); status.Code(err) != tc.code {
				t.Errorf("GetBlock(%v) = %v, want %s", tc.req, err, tc.code)
			}
		}
	})

	t.Run("GetStateChanges", func(t *testing.T) {
		published := h.readTopic(t, "bcos.chain0.group1.state.v1", 22)
		for _, n := range []uint64{0, 5, 21} {
			resp, err := c.GetStateChanges(ctx, &stashv1.GetStateChangesRequest{BlockNumber: n})
			if err != nil {
				t.Fatalf("GetStateChanges(%d): %v", n, err)
			}
			if diff := cmp.Diff(api.StateChangeView(decodeState(t, published[n])), resp.GetStateChange(), protocmp.Transform()); diff != "" {
				t.Errorf("GetStateChanges(%d) differs from the published message (-published +GetStateChanges):\n%s", n, diff)
			}
		}
	})

	t.Run("Snapshot", func(t *testing.T) {
		for _, asOf := range []uint64{21, 6} {
			got := snapshot(t, c, asOf)
			want := replay(recs, asOf)
			if len(got) != len(want) {
				t.Errorf("snapshot as of %d: %d rows, the binlog replay has %d", asOf, len(got), len(want))
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("snapshot as of %d: row %s = %q, replay has %q", asOf, k, got[k], v)
					break
				}
			}
		}
	})

	t.Run("VerifyRange", func(t *testing.T) {
		last := verifyRange(t, c, 0, 0)
		if last.GetVerified() != 22 || len(last.GetFailures()) != 0 || !last.GetDone() {
			t.Fatalf("VerifyRange of an intact stash: %v", last)
		}
		// Tamper with what the stash holds and re-verify.
		if _, err := h.pool.Exec(ctx, `UPDATE stash.stash_blocks SET senders = set_byte(senders, 0, get_byte(senders, 0) # 1) WHERE number = 3`); err != nil {
			t.Fatal(err)
		}
		if _, err := h.pool.Exec(ctx, `UPDATE stash."_sys_current_state_d_" SET value = '999' WHERE "_num_" = 7 AND key = 'current_number'`); err != nil {
			t.Fatal(err)
		}
		last = verifyRange(t, c, 2, 9)
		got := map[uint64]string{}
		for _, f := range last.GetFailures() {
			got[f.GetBlockNumber()] = f.GetCheck()
		}
		want := map[uint64]string{3: "stored-senders", 7: "stored-digest"}
		if fmt.Sprint(got) != fmt.Sprint(want) || last.GetVerified() != 6 || last.GetTotal() != 8 {
			t.Errorf("VerifyRange after tampering: failures %v, verified %d of %d; want %v, 6 of 8", got, last.GetVerified(), last.GetTotal(), want)
		}
	})

	// Key indexes are left out while the stash catches up and built once it has: every
	// mirrored table must get exactly one index on its key column.
	t.Run("KeyIndexes", func(t *testing.T) {
		const q = `SELECT t.name, count(i.indexrelid) FROM stash.stash_tables t
			LEFT JOIN pg_index i ON i.indrelid = ('stash.' || quote_ident(t.main_table))::regclass
				AND i.indkey[0] = (SELECT attnum FROM pg_attribute WHERE attrelid = i.indrelid AND attname = t.key_column)
			GROUP BY t.name HAVING count(i.indexrelid) <> 1 ORDER BY t.name`
		// The build follows a 2 s pause.
		await.For(t, 30*time.Second, "every mirrored table to get exactly one key index", func() error {
			rows, err := h.pool.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var bad []string
			for rows.Next() {
				var name string
				var n int
				if err := rows.Scan(&name, &n); err != nil {
					t.Fatal(err)
				}
				bad = append(bad, fmt.Sprintf("%s: %d", name, n))
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if len(bad) > 0 {
				return fmt.Errorf("tables without exactly one key index: %v", bad)
			}
			return nil
		})
	})
}

// verifyRange runs VerifyRange and returns the last message, failures of all messages merged.
func verifyRange(t *testing.T, c stashv1.StashServiceClient, from, to uint64) *stashv1.VerifyRangeResponse {
	t.Helper()
	st, err := c.VerifyRange(t.Context(), &stashv1.VerifyRangeRequest{FromBlock: from, ToBlock: to})
	if err != nil {
		t.Fatal(err)
	}
	var failures []*stashv1.VerificationFailure
	for i := 0; i < 1000; i++ {
		m, err := st.Recv()
		if err != nil {
			t.Fatalf("VerifyRange stream: %v", err)
		}
		failures = append(failures, m.GetFailures()...)
		if m.GetDone() {
			m.Failures = failures
			return m
		}
	}
	t.Fatal("VerifyRange never finished")
	return nil
}

// snapshot returns a Snapshot as "table/id" → "status|key|values".
func snapshot(t *testing.T, c stashv1.StashServiceClient, n uint64) map[string]string {
	t.Helper()
	st, err := c.Snapshot(t.Context(), &stashv1.SnapshotRequest{BlockNumber: n})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for range 100000 {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Snapshot stream: %v", err)
		}
		for i, r := range m.GetRows() {
			var vals bytes.Buffer
			for _, v := range r.GetValues() {
				fmt.Fprintf(&vals, "|%t:%x", v.GetPresent(), fromHex(t, v.GetValue()))
			}
			out[fmt.Sprintf("%s/%d", m.GetTable(), r.GetId())] = fmt.Sprintf("%d|%s=%x%s@%d", r.GetStatus(), strings.Join(append([]string{m.GetKeyField()}, m.GetValueFields()...), ","), fromHex(t, r.GetKey()), vals.String(), m.GetRowBlockNumbers()[i])
		}
	}
	t.Fatal("Snapshot never ended")
	return nil
}

// replay applies the records up to block n and returns the latest version of every row in
// the form snapshot uses.
func replay(recs []*binlog.Record, n uint64) map[string]string {
	out := map[string]string{}
	for _, rec := range recs {
		if rec.BlockNumber > n {
			break
		}
		for _, tb := range rec.Tables {
			vf := tb.ValueFields()
			for _, list := range [][]binlog.Entry{tb.Dirty, tb.New} {
				for i := range list {
					e := &list[i]
					key, _ := e.Field(0)
					var vals bytes.Buffer
					for k := 1; k < len(vf); k++ {
						v, ok := e.Field(k)
						fmt.Fprintf(&vals, "|%t:%x", ok, v)
					}
					out[fmt.Sprintf("%s/%d", tb.Name, e.ID)] = fmt.Sprintf("%d|%s=%x%s@%d", e.Status, strings.Join(vf, ","), key, vals.String(), rec.BlockNumber)
				}
			}
		}
	}
	return out
}

// fromHex decodes an API byte string, which must be 0x hex.
func fromHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || !strings.HasPrefix(s, "0x") {
		t.Fatalf("API byte string %q is not 0x hex", s)
	}
	return b
}
