package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/evidence/chain"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
	"github.com/bcosdata/bcosdata/services/fiscosim"
)

// demoPublisher is the publisher the demo registers and signs its records with.
const demoPublisher = "demo"

// demoRecords is how many signed records the demo publishes in a run.
const demoRecords = 3

// demoBatchAge is the demo's -evidence.batch-age: the records it publishes (and the
// publisher's registration, on a first run) are sealed into one batch within about a second
// of the first, where reconcile's default waits 10 s for a batch to fill. The batch size stays
// reconcile's default (1000): the age alone seals the demo's few records.
const demoBatchAge = 500 * time.Millisecond

// Bounds of the demo's evidence waits: publishing waits for reconcile's EvidenceService and
// the simulator's Evidence contract to answer; once the services synced, the anchor's
// confirmation (its EvidenceStored event back through stash → export → events.v1) is waited
// for a little longer with -blocks, where synced means every event of the stopped chain
// arrived, and longer on a chain that goes on.
const (
	publishWithin         = 2 * time.Minute
	anchorAfterSyncBlocks = 10 * time.Second
	anchorAfterSyncLive   = 2 * time.Minute
)

// evidenceDir holds the demo's evidence files: the archive, the anchoring and publisher keys,
// and the proofs it writes.
func evidenceDir(data string) string { return filepath.Join(data, "evidence") }

// loadOrCreateKey reads a 64-hex-digit key file, or writes a fresh key there.
func loadOrCreateKey(path string) (*cryptosuite.PrivateKey, error) {
	s := cryptosuite.ECDSA()
	if b, err := os.ReadFile(path); err == nil {
		d, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("key file %s: %w", path, err)
		}
		return s.PrivateKeyFromBytes(d)
	}
	k, err := s.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k.Bytes())+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write key %s: %w", path, err)
	}
	return k, nil
}

// evidenceFlags turns reconcile's evidence on: segments archived under the data directory,
// batch roots anchored in the simulator's Evidence contract with a key kept there. It
// returns the contract's address.
func evidenceFlags(data string, sim *fiscosim.Sim, set func(archive, key, rpc, contract string)) (string, error) {
	dir := evidenceDir(data)
	if err := os.MkdirAll(filepath.Join(dir, "archive"), 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	keyFile := filepath.Join(dir, "anchor.key")
	if _, err := loadOrCreateKey(keyFile); err != nil {
		return "", err
	}
	for _, k := range sim.Contracts() {
		if k.Name == "Evidence" {
			set("file://"+filepath.Join(dir, "archive"), keyFile, sim.RPCURL(), k.Address)
			return k.Address, nil
		}
	}
	return "", errors.New("the simulator deploys no Evidence contract")
}

// evidenceEnv is what the demo's evidence works with; nil when evidence is off in this run.
type evidenceEnv struct {
	data, rpcURL string
	contract     common.Address
	group        int
	suite        *cryptosuite.Suite
	// blocks is -blocks: the chain stops there, and records published after it anchor nothing.
	blocks uint64
	head   func() uint64
}

// published is what publishing the demo's records gave: their ids, or why there are none.
type published struct {
	ids []string
	err error
}

// publishEarly publishes the demo's records as soon as reconcile's EvidenceService answers
// and the Evidence contract is on chain (fiscosim deploys it in its first block), so that with
// -blocks their batch is anchored well before the chain stops. It ends within publishWithin.
func publishEarly(ctx context.Context, conn *grpc.ClientConn, ev *evidenceEnv, say func(string, ...any)) published {
	ctx, cancel := context.WithTimeout(ctx, publishWithin)
	defer cancel()
	c := reconcilev1.NewEvidenceServiceClient(conn)
	// The service answers Unavailable until reconcile started it.
	var registered bool
	if err := poll(ctx, "reconcile's EvidenceService to answer", func() (bool, error) {
		_, err := c.GetPublisher(ctx, &reconcilev1.GetPublisherRequest{Name: demoPublisher})
		switch status.Code(err) {
		case codes.OK:
			registered = true
			return true, nil
		case codes.NotFound:
			return true, nil
		case codes.Unavailable:
			return false, nil
		}
		return false, fmt.Errorf("get publisher %s: %w", demoPublisher, err)
	}); err != nil {
		return published{err: err}
	}
	node, err := chain.Dial(ev.rpcURL, ev.group, ev.suite)
	if err != nil {
		return published{err: err}
	}
	defer node.Close()
	// Until the contract is deployed (and while the node's RPC is not up yet) a read fails.
	if err := poll(ctx, fmt.Sprintf("the Evidence contract %s to answer on %s", ev.contract.Hex(), ev.rpcURL), func() (bool, error) {
		_, err := chain.Get(ctx, node, ev.contract, [32]byte{})
		return err == nil, nil
	}); err != nil {
		return published{err: err}
	}
	if ev.blocks > 0 {
		if head := ev.head(); head >= ev.blocks {
			return published{err: fmt.Errorf("the chain reached -blocks %d before the records could be published: raise -blocks or -block-interval", ev.blocks)}
		}
	}
	ids, err := publishRecords(ctx, c, ev.data, registered, say)
	return published{ids: ids, err: err}
}

// poll calls try every 200 ms until it is done, fails, or ctx ends (then naming what).
func poll(ctx context.Context, what string, try func() (bool, error)) error {
	for {
		done, err := try()
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, context.Cause(ctx))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// publishRecords registers the demo publisher (unless registered) and publishes demoRecords
// signed records, returning their ids.
func publishRecords(ctx context.Context, c reconcilev1.EvidenceServiceClient, data string, registered bool, say func(string, ...any)) ([]string, error) {
	key, err := loadOrCreateKey(filepath.Join(evidenceDir(data), "publisher.key"))
	if err != nil {
		return nil, err
	}
	s := cryptosuite.ECDSA()
	sign := func(r *evidence.Record) (*reconcilev1.EvidenceRecord, error) {
		if err := evidence.Sign(s, key, r); err != nil {
			return nil, err
		}
		p := &reconcilev1.EvidenceRecord{Id: r.ID, Publisher: r.Publisher, Category: r.Category, PayloadType: r.PayloadType,
			Payload: string(r.Payload), PayloadHash: "0x" + hex.EncodeToString(r.PayloadHash[:]), Kind: r.Kind,
			Signature: "0x" + hex.EncodeToString(r.Signature)}
		return p, nil
	}
	if !registered {
		pub := key.PublicKey()
		reg := evidence.Record{ID: "publisher/" + demoPublisher, Publisher: demoPublisher, Category: "publisher", Kind: evidence.KindPublisher}
		reg.SetPayload(evidence.PayloadJSON, []byte(`{"suite":"ecdsa","public_key":"0x`+pub.String()+`"}`))
		p, err := sign(&reg)
		if err != nil {
			return nil, err
		}
		if _, err := c.RegisterPublisher(ctx, &reconcilev1.RegisterPublisherRequest{Record: p}); err != nil {
			return nil, fmt.Errorf("register publisher %s: %w", demoPublisher, err)
		}
	}
	stamp := time.Now().UTC().Format("20060102T150405.000")
	var ids []string
	for i := range demoRecords {
		r := evidence.Record{ID: fmt.Sprintf("invoice-%s-%d", stamp, i+1), Publisher: demoPublisher, Category: "invoice", Kind: evidence.KindPublish}
		r.SetPayload(evidence.PayloadJSON, []byte(fmt.Sprintf(`{"invoice":%q,"amount":"%d.00","currency":"CNY"}`, r.ID, 100*(i+1))))
		p, err := sign(&r)
		if err != nil {
			return nil, err
		}
		resp, err := c.PublishRecord(ctx, &reconcilev1.PublishRecordRequest{Record: p})
		if err != nil {
			return ids, fmt.Errorf("publish %s: %w", r.ID, err)
		}
		ids = append(ids, r.ID)
		say("  evidence  published %s, leaf hash %s", resp.GetId(), resp.GetLeafHash())
	}
	return ids, nil
}

// awaitAnchor waits, until within passed, for the records' batch to be anchored (its
// EvidenceStored event came back through stash and export), writes the first record's proof
// and returns the evidence part of the summary: how many of the records are anchored, the
// anchor, the proof file and the command that verifies it against the node.
func awaitAnchor(ctx context.Context, conn *grpc.ClientConn, ev *evidenceEnv, pub published, within time.Duration) *Evidence {
	e := &Evidence{Published: len(pub.ids), Records: pub.ids}
	if pub.err != nil {
		e.Error = pub.err.Error()
		return e
	}
	c := reconcilev1.NewEvidenceServiceClient(conn)
	wctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	err := poll(wctx, fmt.Sprintf("the anchor of %s", strings.Join(pub.ids, ", ")), func() (bool, error) {
		e.Anchored = 0
		for _, id := range pub.ids {
			r, err := c.GetRecord(wctx, &reconcilev1.GetRecordRequest{Id: id})
			if err != nil {
				return false, fmt.Errorf("get record %s: %w", id, err)
			}
			if r.GetRecord().GetAnchorState() == "anchored" {
				e.Anchored++
			}
		}
		return e.Anchored == len(pub.ids), nil
	})
	if err != nil {
		e.Error = err.Error()
		if ev.blocks > 0 {
			e.Error += fmt.Sprintf(" (the chain stops at -blocks %d: raise it, or -block-interval, to leave the anchor transaction time to be sealed)", ev.blocks)
		}
		if e.Anchored == 0 {
			return e
		}
	}
	proof, err := c.GetProof(ctx, &reconcilev1.GetProofRequest{Id: pub.ids[0]})
	if err != nil {
		e.Error = fmt.Sprintf("proof of %s: %v", pub.ids[0], err)
		return e
	}
	a := proof.GetProof().GetAnchor()
	e.AnchorBlock, e.AnchorTransaction = a.GetBlockNumber(), a.GetTransactionHash()
	file := filepath.Join(evidenceDir(ev.data), pub.ids[0]+".proof.json")
	if err := os.WriteFile(file, []byte(proof.GetProofJson()+"\n"), 0o644); err != nil {
		e.Error = fmt.Sprintf("write proof: %v", err)
		return e
	}
	e.Proof = file
	e.Verify = fmt.Sprintf("%s evidence verify %s -rpc %s", bcosdataCommand(), shellWord(file), ev.rpcURL)
	return e
}

// bcosdataCommand returns how the printed commands call bcosdata: by name when the running
// binary is the bcosdata on PATH, else by its absolute path when it is a bcosdata binary (as
// `make demo` runs bin/bcosdata, and go run a temporary one, there while the demo runs), else
// by name.
func bcosdataCommand() string {
	exe, err := os.Executable()
	if err != nil || filepath.Base(exe) != "bcosdata" {
		return "bcosdata"
	}
	if p, err := exec.LookPath("bcosdata"); err == nil {
		if a, err := os.Stat(p); err == nil {
			if b, err := os.Stat(exe); err == nil && os.SameFile(a, b) {
				return "bcosdata"
			}
		}
	}
	return shellWord(exe)
}

// shellWord quotes s for a POSIX shell when it holds a character the shell would interpret.
func shellWord(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()<>|&;#~!") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
