package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bcosdata/bcosdata/libs/audit"
	"github.com/bcosdata/bcosdata/libs/audit/audittest"
	"github.com/bcosdata/bcosdata/libs/audit/evidenceanchor"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	auditv1 "github.com/bcosdata/bcosdata/proto/bcosdata/audit/v1"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
	"github.com/bcosdata/bcosdata/services/export"
)

// TestAuditHeadAnchoredAsEvidence runs the reconcile command with its evidence service on and
// its audit trail anchored through that same service (-audit.anchor.addr is its own gRPC
// address): calls leave audit rows, the head is published as a signed evidence record whose
// payload holds the trail's hash at that seq, and a rewrite of the rows (one edited, every later
// hash recomputed, the head moved: a chain consistent in itself) is found against the anchor.
func TestAuditHeadAnchoredAsEvidence(t *testing.T) {
	e := newEnv(t, "file://"+t.TempDir(), "x-{yyyyMMdd}.csv")
	addr := freeAddr(t)
	s := cryptosuite.ECDSA()
	k, err := s.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// The JSON `bcosdata evidence keygen` writes.
	keyFile := filepath.Join(t.TempDir(), "audit.key")
	kj := fmt.Sprintf(`{"suite":"ecdsa","private_key":"0x%s","public_key":"0x%s"}`, hex.EncodeToString(k.Bytes()), k.PublicKey().String())
	if err := os.WriteFile(keyFile, []byte(kj), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Command().Run(ctx, []string{"-grpc.addr", addr, "-admin.addr", "", "-http.addr", "", "-db.url", e.dsn, "-log.level", "error",
			"-kafka.brokers", strings.Join(e.broker.Addrs(), ","),
			"-evidence.archive", "file://" + t.TempDir(), "-evidence.batch-age", "200ms",
			"-audit.anchor.addr", addr, "-audit.anchor.key", keyFile, "-audit.anchor.every", "100ms"}, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ev := reconcilev1.NewEvidenceServiceClient(conn)
	au := auditv1.NewAuditServiceClient(conn)
	await.True(t, 30*time.Second, "the evidence service answers", func() bool {
		_, err := ev.ListPublishers(t.Context(), &reconcilev1.ListPublishersRequest{})
		return err == nil
	})
	for range 5 {
		if _, err := ev.ListPublishers(t.Context(), &reconcilev1.ListPublishersRequest{}); err != nil {
			t.Fatal(err)
		}
	}

	pool, err := pgxpool.New(t.Context(), e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// The anchoring calls are audited too, so the head keeps moving; any anchor past the
	// calls above will do.
	var seq int64
	var ref string
	await.True(t, 20*time.Second, "the audit head anchored past the calls", func() bool {
		err := pool.QueryRow(t.Context(), "SELECT seq, ref FROM reconcile.audit_anchor WHERE seq >= 6 ORDER BY seq LIMIT 1").Scan(&seq, &ref)
		return err == nil
	})
	if want := evidenceanchor.RecordID("reconcile", uint64(seq)); ref != want {
		t.Errorf("anchor of head %d recorded as %q, want %q", seq, ref, want)
	}
	got, err := ev.GetRecord(t.Context(), &reconcilev1.GetRecordRequest{Id: ref})
	if err != nil {
		t.Fatalf("the anchor's evidence record: %v", err)
	}
	rec := got.GetRecord().GetRecord()
	var p evidenceanchor.Payload
	if err := json.Unmarshal([]byte(rec.GetPayload()), &p); err != nil {
		t.Fatalf("payload %q: %v", rec.GetPayload(), err)
	}
	list, err := au.ListAudit(t.Context(), &auditv1.ListAuditRequest{PageToken: strconv.FormatInt(seq-1, 10), PageSize: 1})
	if err != nil || len(list.Records) != 1 {
		t.Fatalf("audit record %d: %v %v", seq, list, err)
	}
	if rec.GetPublisher() != "audit-reconcile" || rec.GetCategory() != "audit.reconcile" || p.Service != "reconcile" || p.Schema != "reconcile" ||
		p.Seq != uint64(seq) || p.Hash != list.Records[0].Hash {
		t.Errorf("evidence record %s: publisher %s category %s payload %+v; want the hash %s of audit record %d",
			ref, rec.GetPublisher(), rec.GetCategory(), p, list.Records[0].Hash, seq)
	}
	v, err := au.VerifyAudit(t.Context(), &auditv1.VerifyAuditRequest{})
	if err != nil || !v.Ok {
		t.Fatalf("verify of the intact trail: %v %v", v, err)
	}

	// Anchoring a head again, as after a restart (a new anchorer, another time in the
	// payload), is acknowledged; the same seq with another hash is refused.
	hash, _ := hex.DecodeString(strings.TrimPrefix(p.Hash, "0x"))
	again := evidenceanchor.New(conn, "reconcile", "reconcile", "", s, k)
	if id, err := again.AnchorHead(t.Context(), uint64(seq), hash); err != nil || id != ref {
		t.Errorf("anchoring head %d again: %q %v, want %s acknowledged", seq, id, err, ref)
	}
	forged := append([]byte{hash[0] ^ 1}, hash[1:]...)
	if _, err := again.AnchorHead(t.Context(), uint64(seq), forged); err == nil {
		t.Errorf("anchoring head %d with another hash was accepted", seq)
	}

	// Rewrite from record 2 on: the chain is consistent again, the anchors tell.
	if err := audittest.RewriteFrom(t.Context(), pool, "reconcile", "reconcile", 2, "eve"); err != nil {
		t.Fatal(err)
	}
	v, err = au.VerifyAudit(t.Context(), &auditv1.VerifyAuditRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Ok || v.Broken.GetKind() != audit.BrokenAnchor {
		t.Fatalf("verify after rewriting the chain from record 2: ok %v broken %v, want kind %s", v.Ok, v.Broken, audit.BrokenAnchor)
	}
	t.Logf("rewrite found: %s", v.Broken.GetDetail())

	t.Run("export", func(t *testing.T) { exportAnchoredThrough(t, addr, e.broker.Addrs()) })
}

// exportAnchoredThrough runs the export command with its audit trail anchored through the
// evidence service at evAddr: its head is published under its own publisher, and a rewrite of
// its chain is found by export's VerifyAudit.
func exportAnchoredThrough(t *testing.T, evAddr string, brokers []string) {
	addr := freeAddr(t)
	k, err := cryptosuite.SM().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "export-audit.key")
	kj := fmt.Sprintf(`{"suite":"sm","private_key":"0x%s","public_key":"0x%s"}`, hex.EncodeToString(k.Bytes()), k.PublicKey().String())
	if err := os.WriteFile(keyFile, []byte(kj), 0o600); err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.NewDB(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- export.Command().Run(ctx, []string{"-grpc.addr", addr, "-admin.addr", "", "-http.addr", "", "-db.url", dsn, "-log.level", "error",
			"-kafka.brokers", strings.Join(brokers, ","),
			"-audit.anchor.addr", evAddr, "-audit.anchor.key", keyFile, "-audit.anchor.every", "100ms"}, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("export Run: %v", err)
		}
	}()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ex := exportv1.NewExportServiceClient(conn)
	await.True(t, 30*time.Second, "export answers", func() bool {
		_, err := ex.ListContracts(t.Context(), &exportv1.ListContractsRequest{})
		return err == nil
	})
	for range 3 {
		if _, err := ex.ListContracts(t.Context(), &exportv1.ListContractsRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	au := auditv1.NewAuditServiceClient(conn)
	var head *auditv1.VerifyAuditResponse
	await.True(t, 20*time.Second, "export's head anchored", func() bool {
		v, err := au.VerifyAudit(t.Context(), &auditv1.VerifyAuditRequest{})
		if err != nil || !v.Ok || v.HeadSeq < 4 {
			return false
		}
		var n int
		_ = pool.QueryRow(t.Context(), "SELECT count(*) FROM export.audit_anchor WHERE seq = $1", int64(v.HeadSeq)).Scan(&n)
		head = v
		return n == 1
	})
	ev := reconcilev1.NewEvidenceServiceClient(dialEvidence(t, evAddr))
	got, err := ev.GetRecord(t.Context(), &reconcilev1.GetRecordRequest{Id: evidenceanchor.RecordID("export", head.HeadSeq)})
	if err != nil {
		t.Fatalf("export's head record: %v", err)
	}
	rec := got.GetRecord().GetRecord()
	var p evidenceanchor.Payload
	if err := json.Unmarshal([]byte(rec.GetPayload()), &p); err != nil {
		t.Fatal(err)
	}
	if rec.GetPublisher() != "audit-export" || rec.GetCategory() != "audit.export" || p.Seq != head.HeadSeq || p.Hash != head.HeadHash {
		t.Errorf("export's head record: publisher %s category %s payload %+v, want head %d %s", rec.GetPublisher(), rec.GetCategory(), p, head.HeadSeq, head.HeadHash)
	}
	if err := audittest.RewriteFrom(t.Context(), pool, "export", "export", 1, "eve"); err != nil {
		t.Fatal(err)
	}
	v, err := au.VerifyAudit(t.Context(), &auditv1.VerifyAuditRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Ok || v.Broken.GetKind() != audit.BrokenAnchor {
		t.Fatalf("export's verify after rewriting its chain: ok %v broken %v, want kind %s", v.Ok, v.Broken, audit.BrokenAnchor)
	}
}

func dialEvidence(t *testing.T, addr string) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
