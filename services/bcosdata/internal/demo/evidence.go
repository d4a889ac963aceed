package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
	"github.com/bcosdata/bcosdata/services/fiscosim"
)

// demoPublisher is the publisher the demo registers and signs its records with.
const demoPublisher = "demo"

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
// batch roots anchored in the simulator's Evidence contract with a key kept there.
func evidenceFlags(data string, sim *fiscosim.Sim, set func(archive, key, rpc, contract string)) error {
	dir := evidenceDir(data)
	if err := os.MkdirAll(filepath.Join(dir, "archive"), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	keyFile := filepath.Join(dir, "anchor.key")
	if _, err := loadOrCreateKey(keyFile); err != nil {
		return err
	}
	for _, k := range sim.Contracts() {
		if k.Name == "Evidence" {
			set("file://"+filepath.Join(dir, "archive"), keyFile, sim.RPCURL(), k.Address)
			return nil
		}
	}
	return errors.New("the simulator deploys no Evidence contract")
}

// publishEvidence registers the demo publisher (once), publishes a few signed records, waits
// until their batch is anchored (its EvidenceStored event came back through stash and export),
// writes the first one's proof and prints the command that verifies it against the node.
func publishEvidence(ctx context.Context, conn *grpc.ClientConn, data, rpcURL string, say func(string, ...any)) error {
	c := reconcilev1.NewEvidenceServiceClient(conn)
	key, err := loadOrCreateKey(filepath.Join(evidenceDir(data), "publisher.key"))
	if err != nil {
		return err
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
	if _, err := c.GetPublisher(ctx, &reconcilev1.GetPublisherRequest{Name: demoPublisher}); status.Code(err) == codes.NotFound {
		pub := key.PublicKey()
		reg := evidence.Record{ID: "publisher/" + demoPublisher, Publisher: demoPublisher, Category: "publisher", Kind: evidence.KindPublisher}
		reg.SetPayload(evidence.PayloadJSON, []byte(`{"suite":"ecdsa","public_key":"0x`+pub.String()+`"}`))
		p, err := sign(&reg)
		if err != nil {
			return err
		}
		if _, err := c.RegisterPublisher(ctx, &reconcilev1.RegisterPublisherRequest{Record: p}); err != nil {
			return fmt.Errorf("register publisher %s: %w", demoPublisher, err)
		}
	} else if err != nil {
		return err
	}
	stamp := time.Now().UTC().Format("20060102T150405.000")
	var ids []string
	for i := range 3 {
		r := evidence.Record{ID: fmt.Sprintf("invoice-%s-%d", stamp, i+1), Publisher: demoPublisher, Category: "invoice", Kind: evidence.KindPublish}
		r.SetPayload(evidence.PayloadJSON, []byte(fmt.Sprintf(`{"invoice":%q,"amount":"%d.00","currency":"CNY"}`, r.ID, 100*(i+1))))
		p, err := sign(&r)
		if err != nil {
			return err
		}
		resp, err := c.PublishRecord(ctx, &reconcilev1.PublishRecordRequest{Record: p})
		if err != nil {
			return fmt.Errorf("publish %s: %w", r.ID, err)
		}
		ids = append(ids, r.ID)
		say("  evidence  published %s, leaf hash %s", resp.GetId(), resp.GetLeafHash())
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := c.GetProof(ctx, &reconcilev1.GetProofRequest{Id: ids[0]})
		switch {
		case err == nil:
			file := filepath.Join(evidenceDir(data), ids[0]+".proof.json")
			if err := os.WriteFile(file, []byte(resp.GetProofJson()+"\n"), 0o644); err != nil {
				return fmt.Errorf("write proof: %w", err)
			}
			a := resp.GetProof().GetAnchor()
			say("  evidence  %s anchored in block %d (transaction %s, log %d); proof in %s", ids[0], a.GetBlockNumber(), a.GetTransactionHash(), a.GetLogIndex(), file)
			say("  verify    bcosdata evidence verify %s -rpc %s", file, rpcURL)
			return nil
		case status.Code(err) != codes.FailedPrecondition:
			return fmt.Errorf("proof of %s: %w", ids[0], err)
		case time.Now().After(deadline):
			return fmt.Errorf("proof of %s: not anchored within 2 minutes: %w", ids[0], err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
