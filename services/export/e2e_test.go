package export_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	kafkago "github.com/segmentio/kafka-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/kafka"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
)

// TestEndToEndMatchesTheRecord runs fiscosim's full traffic mix (about 400 transactions: every
// method and event of Asset, Evidence, Ledger and Registry, reverts, deployments by
// transaction and by contract code) through stash (three partitions) into export, all in this
// process on a real broker and a real PostgreSQL, with the four contracts registered by their
// creation bytecode, and checks every table and the events topic row by row against the
// generator's record (checkRecord), on an ECDSA and an SM chain.
func TestEndToEndMatchesTheRecord(t *testing.T) {
	for _, sm := range []bool{false, true} {
		t.Run(suiteName(sm), func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			e := newEnv(t, e2ePartitions)
			file := writeContractsFile(t, sm, allContracts...)
			r := e.start(e.e2eConfig(sm, file))
			recs, blocks := runSimAndStash(t, sm, e.broker.Addrs())
			caughtUp(t, r.client, uint64(blocks))
			checkRecord(t, e.pool, e.broker.Addrs(), sm, file, recs, false)
			t.Logf("%d blocks, %d transactions end to end in %s", blocks, len(recs), time.Since(began).Round(time.Millisecond))
		})
	}
}

// TestEndToEndInstancesAndLateRegistration: on the full-mix chain (three partitions), two
// instances in one consumer group store exactly the rows one instance stores, and a contract
// registered after export consumed the whole chain (Ledger, added on a restart) gets its whole
// history: the same rows in every table as a run that had it from the start, the events topic
// then holding every recorded event once.
func TestEndToEndInstancesAndLateRegistration(t *testing.T) {
	t.Parallel()
	ch := fullChain(t, false)
	file := writeContractsFile(t, false, allContracts...)

	one := newEnv(t, e2ePartitions)
	one.produceTo(ch.msgs, byBlock)
	r := one.start(one.e2eConfig(false, file))
	caughtUp(t, r.client, uint64(ch.blocks))
	checkRecord(t, one.pool, one.broker.Addrs(), false, file, ch.recs, false)
	base := snapshot(t, one.pool)

	t.Run("two instances equal one", func(t *testing.T) {
		two := newEnv(t, e2ePartitions)
		a, b := two.start(two.e2eConfig(false, file)), two.start(two.e2eConfig(false, file))
		two.produceTo(ch.msgs, byBlock)
		caughtUp(t, a.client, uint64(ch.blocks))
		caughtUp(t, b.client, uint64(ch.blocks))
		// The group has both instances, each holding partitions of the blocks topic (waited
		// for: a rebalance may still be settling).
		client := &kafkago.Client{Addr: kafkago.TCP(two.broker.Addrs()...)}
		await.For(t, 30*time.Second, "both instances hold partitions of "+blocksTopic, func() error {
			resp, err := client.DescribeGroups(t.Context(), &kafkago.DescribeGroupsRequest{GroupIDs: []string{"bcosdata-export-chain0-group1"}})
			if err != nil {
				return err
			}
			var held []string
			for _, g := range resp.Groups {
				for _, m := range g.Members {
					for _, tp := range m.MemberAssignments.Topics {
						if tp.Topic == blocksTopic && len(tp.Partitions) > 0 {
							held = append(held, fmt.Sprintf("%s: %v", m.MemberID, tp.Partitions))
						}
					}
				}
			}
			if len(held) != 2 {
				return fmt.Errorf("members holding partitions: %v", held)
			}
			t.Logf("partitions held: %v", held)
			return nil
		})
		if diff := cmp.Diff(base, snapshot(t, two.pool)); diff != "" {
			t.Errorf("two instances stored other rows than one (-one +two):\n%s", diff)
		}
		checkRecord(t, two.pool, two.broker.Addrs(), false, file, ch.recs, false)
	})

	t.Run("Ledger registered later", func(t *testing.T) {
		late := newEnv(t, e2ePartitions)
		late.produceTo(ch.msgs, byBlock)
		without := writeContractsFile(t, false, "Asset", "Evidence", "Registry")
		r := late.start(late.e2eConfig(false, without))
		caughtUp(t, r.client, uint64(ch.blocks))
		// Without Ledger: no Ledger row anywhere, everything else as recorded.
		checkRecord(t, late.pool, late.broker.Addrs(), false, without, ch.recs, false)
		r.stop()
		r = late.start(late.e2eConfig(false, file))
		caughtUp(t, r.client, uint64(ch.blocks))
		if diff := cmp.Diff(base, snapshot(t, late.pool)); diff != "" {
			t.Errorf("Ledger registered later stored other rows than registered from the start (-from start +later):\n%s", diff)
		}
		checkRecord(t, late.pool, late.broker.Addrs(), false, file, ch.recs, false)
	})

	t.Run("Ledger registered over the API", func(t *testing.T) {
		// Two instances; Ledger registered through one of them after half the chain, the
		// other half exported by both after it.
		reg := newEnv(t, e2ePartitions)
		half := len(ch.msgs) / 2
		reg.produceTo(ch.msgs[:half], byBlock)
		without := writeContractsFile(t, false, "Asset", "Evidence", "Registry")
		r, other := reg.start(reg.e2eConfig(false, without)), reg.start(reg.e2eConfig(false, without))
		caughtUp(t, r.client, uint64(half))
		abi, err := os.ReadFile(filepath.Join(filepath.Dir(file), "Ledger.abi.json"))
		if err != nil {
			t.Fatal(err)
		}
		bin, err := os.ReadFile(filepath.Join(filepath.Dir(file), "Ledger.bin"))
		if err != nil {
			t.Fatal(err)
		}
		ledger := &exportv1.RegisterContractRequest{Name: "Ledger", Abi: string(abi), Bin: string(bin), Learn: true}
		for _, bad := range []*exportv1.RegisterContractRequest{
			{Name: "Broken", Abi: `[{"type":`, Bin: string(bin), Learn: true},
			{Name: "Asset", Abi: string(abi), Bin: string(bin), Learn: true}, // the file's
			{Name: "Idle", Abi: string(abi)},                                 // nothing to decode
			{Abi: string(abi), Learn: true},
		} {
			if _, err := r.client.RegisterContract(t.Context(), bad); status.Code(err) != codes.InvalidArgument {
				t.Errorf("RegisterContract %q: %v, want InvalidArgument", bad.GetName(), err)
			}
		}
		resp, err := r.client.RegisterContract(t.Context(), ledger)
		if err != nil {
			t.Fatalf("RegisterContract Ledger: %v", err)
		}
		if resp.GetContract().GetName() != "Ledger" || len(resp.GetContract().GetTables()) == 0 {
			t.Fatalf("registered %v, want Ledger with its tables", resp.GetContract())
		}
		await.For(t, 2*time.Minute, "Ledger's history decoded", func() error {
			got, err := r.client.GetContract(t.Context(), &exportv1.GetContractRequest{Contract: &exportv1.GetContractRequest_Name{Name: "Ledger"}})
			if err != nil {
				return err
			}
			if e := got.GetContract().GetBackfill().GetError(); e != "" {
				t.Fatalf("Ledger's backfill failed: %s", e)
			}
			if !got.GetContract().GetBackfilled() || got.GetContract().GetBackfill().GetRunning() {
				return fmt.Errorf("backfilled %v, backfill %v", got.GetContract().GetBackfilled(), got.GetContract().GetBackfill())
			}
			return nil
		})
		await.For(t, 30*time.Second, "the other instance lists Ledger", func() error {
			got, err := other.client.ListContracts(t.Context(), &exportv1.ListContractsRequest{})
			if err != nil {
				return err
			}
			for _, c := range got.GetContracts() {
				if c.GetName() == "Ledger" {
					return nil
				}
			}
			return fmt.Errorf("%d contracts, no Ledger", len(got.GetContracts()))
		})
		reg.produceTo(ch.msgs[half:], byBlock)
		caughtUp(t, r.client, uint64(ch.blocks))
		caughtUp(t, other.client, uint64(ch.blocks))
		if _, err := r.client.RegisterContract(t.Context(), ledger); err != nil {
			t.Errorf("RegisterContract Ledger again, unchanged: %v, want it answered as it is", err)
		}
		changed := &exportv1.RegisterContractRequest{Name: "Ledger", Abi: string(abi), Addresses: []string{"0x00000000000000000000000000000000000000f1"}}
		if _, err := r.client.RegisterContract(t.Context(), changed); status.Code(err) != codes.AlreadyExists {
			t.Errorf("RegisterContract Ledger changed: %v, want AlreadyExists", err)
		}
		if diff := cmp.Diff(base, snapshot(t, reg.pool)); diff != "" {
			t.Errorf("Ledger registered over the API stored other rows than in the file from the start (-file +api):\n%s", diff)
		}
		checkRecord(t, reg.pool, reg.broker.Addrs(), false, file, ch.recs, false)
		// A restart with the same file keeps the registration and decodes nothing again.
		r.stop()
		other.stop()
		r = reg.start(reg.e2eConfig(false, without))
		caughtUp(t, r.client, uint64(ch.blocks))
		if diff := cmp.Diff(base, snapshot(t, reg.pool)); diff != "" {
			t.Errorf("after a restart (-file +api):\n%s", diff)
		}
	})
}

const (
	eventsTopic = "bcos.chain0.group1.events.v1"
	callsTopic  = "bcos.chain0.group1.calls.v1"
)

// TestEndToEndKilledRepeatedly runs export as a child process (this test binary again) on the
// full-mix chain and kills it with SIGKILL four times while it consumes, the chain arriving in
// four parts; a last instance finishes. No row of any table is lost or duplicated (checked
// against the record), and the events topic holds every recorded event, a republished one
// byte-identical to its first copy.
func TestEndToEndKilledRepeatedly(t *testing.T) {
	t.Parallel()
	ch := fullChain(t, false)
	file := writeContractsFile(t, false, allContracts...)
	e := newEnv(t, e2ePartitions)
	const kills = 4
	stored := 0
	for i := range kills {
		cmd := crashChild(e, file)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		part := ch.msgs[i*len(ch.msgs)/kills : (i+1)*len(ch.msgs)/kills]
		e.produceTo(part, byBlock)
		before := stored
		var published, backlog int
		// Odd rounds kill as soon as a batch committed, even rounds while the publisher is
		// sending (some messages published since the start, others still queued), where a
		// republished copy is likely.
		await.For(t, 60*time.Second, fmt.Sprintf("child %d stored blocks", i), func() error {
			select {
			case err := <-exited:
				t.Fatalf("child %d exited: %v\n%s", i, err, stderr.String())
			default:
			}
			// The first child creates the schema: until then the query fails, and is retried.
			if err := e.pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM export.blocks),
				(SELECT published FROM export.outbox_progress),
				(SELECT count(*) FROM export.outbox WHERE seq > (SELECT published_seq FROM export.outbox_progress))`).Scan(&stored, &published, &backlog); err != nil {
				return err
			}
			if stored <= before {
				return fmt.Errorf("%d blocks stored", stored)
			}
			if i%2 == 1 && (published == 0 || backlog == 0) && stored < before+len(part) {
				return fmt.Errorf("%d published, %d queued", published, backlog)
			}
			return nil
		})
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-exited
		stored = countRows(t, e.pool, `SELECT count(*) FROM export.blocks`)
		t.Logf("kill %d: %d of %d blocks stored, %d messages queued when killed; topics hold %d events", i+1, stored, ch.blocks, backlog, topicSize(t, e.broker.Addrs(), eventsTopic, 2))
	}
	r := e.start(e.e2eConfig(false, file))
	caughtUp(t, r.client, uint64(ch.blocks))
	if n := countRows(t, e.pool, `SELECT count(*) FROM export.blocks`); n != ch.blocks {
		t.Errorf("%d blocks stored, want %d", n, ch.blocks)
	}
	copies := checkRecord(t, e.pool, e.broker.Addrs(), false, file, ch.recs, true)
	t.Logf("%d messages republished (byte-identical) after the kills", copies)
}

// TestEndToEndPoisonHaltsItsPartition puts a garbage message on partition 1 of the full-mix
// chain's blocks topic (three partitions): partition 1 halts there and Status names its topic,
// partition, offset and block, while the other partitions are exported to the end.
func TestEndToEndPoisonHaltsItsPartition(t *testing.T) {
	t.Parallel()
	ch := fullChain(t, false)
	e := newEnv(t, e2ePartitions)
	const poisonBlock = 13 // partition 1 holds blocks 1, 4, 7, 10, then the garbage at offset 4
	var before, after []kafkago.Message
	for _, m := range ch.msgs {
		if blockOf(m) < poisonBlock {
			before = append(before, m)
		} else {
			after = append(after, m)
		}
	}
	e.produceTo(before, byBlock)
	garbage := kafkago.Message{Key: kafka.BlockKey(poisonBlock), Value: []byte{0xff, 0x01, 0x02, 'n', 'o', 't', ' ', 'a', ' ', 'b', 'l', 'o', 'c', 'k'},
		Headers: kafka.Headers(kafka.ContentTypeProtobuf, "bcosdata.chain.v1.Block", poisonBlock)}
	e.produceTo([]kafkago.Message{garbage}, byBlock)
	e.produceTo(after, byBlock)
	r := e.start(e.e2eConfig(false, writeContractsFile(t, false, allContracts...)))
	halted := 0 // blocks behind the garbage: 13, 16, …, 40
	for b := poisonBlock; b < ch.blocks; b += e2ePartitions {
		halted++
	}
	st := waitStatus(t, r.client, "partition 1 halted and the others exported", func(s *exportv1.StatusResponse) bool {
		return len(s.GetHaltedPartitions()) == 1 && s.GetBlocks() == uint64(ch.blocks-halted)
	})
	h := st.GetHaltedPartitions()[0]
	if h.GetTopic() != blocksTopic || h.GetPartition() != 1 || h.GetOffset() != 4 || h.GetBlockNumber() != poisonBlock || h.GetError() == "" {
		t.Errorf("halt = %v, want %s partition 1 at offset 4, block %d, with its error", h, blocksTopic, poisonBlock)
	}
	if n := countRows(t, e.pool, fmt.Sprintf(`SELECT count(*) FROM export.blocks WHERE number >= %d AND number %% 3 = 1`, poisonBlock)); n != 0 {
		t.Errorf("%d blocks behind the garbage on its partition stored", n)
	}
	t.Logf("halted: %v", h)
}
