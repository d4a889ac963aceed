package evidencecmd_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/services/bcosdata/internal/evidencecmd"
)

func writeProof(t *testing.T, p evidence.Proof) string {
	t.Helper()
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "proof.json")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestVerifyCommand runs `bcosdata evidence verify` against fiscosim's RPC: a real anchored proof
// verifies; a proof whose record, path, root or anchor was altered is rejected, naming the check.
func TestVerifyCommand(t *testing.T) {
	for _, sm := range []bool{false, true} {
		t.Run(map[bool]string{false: "ecdsa", true: "sm"}[sm], func(t *testing.T) {
			e := startChain(t, sm)
			good := e.anchor(t, e.batch(t, "evidence-000009", 6))[3]
			other := e.anchor(t, e.batch(t, "evidence-000010", 2))[0]
			rpc := e.sim.RPCURL()
			args := func(file string) []string {
				a := []string{"-rpc", rpc, "-group", "1", file}
				if sm {
					a = append([]string{"-sm"}, a...)
				}
				return a
			}

			var out, errOut bytes.Buffer
			if err := evidencecmd.Verify(t.Context(), args(writeProof(t, good)), &out, &errOut); err != nil {
				t.Fatalf("valid proof rejected: %v\n%s", err, out.String())
			}
			for _, want := range []string{"ok    record signature", "ok    inclusion path", "ok    EvidenceStored log", "ok    anchor block", "verified: record \"evidence-000009/r-3\""} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}

			cases := []struct {
				name   string
				mutate func(p *evidence.Proof)
				check  string
				detail string
			}{
				{"record payload", func(p *evidence.Proof) { p.Record.SetPayload(evidence.PayloadJSON, []byte(`{"invoice":99}`)) }, "record signature", "does not verify"},
				{"record id", func(p *evidence.Proof) { p.Record.ID = "evidence-000009/r-4" }, "record signature", "does not verify"},
				{"payload without its hash", func(p *evidence.Proof) { p.Record.Payload = []byte(`{"invoice":99}`) }, "record fields", "payload_hash"},
				{"path", func(p *evidence.Proof) { p.Path[1][0] ^= 1 }, "inclusion path", "not included"},
				{"root", func(p *evidence.Proof) { p.Root[0] ^= 1; p.BatchID = evidence.BatchID(p.Segment, p.Root) }, "inclusion path", "not included"},
				{"leaf index", func(p *evidence.Proof) { p.LeafIndex = 2 }, "inclusion path", "not included"},
				{"batch id", func(p *evidence.Proof) { p.BatchID[0] ^= 1 }, "batch id", "BatchID(segment, root)"},
				{"anchor tx hash", func(p *evidence.Proof) { p.Anchor.TxHash[0] ^= 1 }, "anchor receipt", "no receipt"},
				{"anchor tx of another batch", func(p *evidence.Proof) { p.Anchor = other.Anchor }, "EvidenceStored log", "stores id"},
				{"anchor block hash", func(p *evidence.Proof) { p.Anchor.BlockHash[31] ^= 1 }, "anchor block", "block hash"},
				{"anchor block number", func(p *evidence.Proof) { p.Anchor.BlockNumber-- }, "anchor block", "receipt is in block"},
				{"anchor log index", func(p *evidence.Proof) { p.Anchor.LogIndex = 3 }, "EvidenceStored log", "log index 3"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					p := good
					p.Path = append([][32]byte(nil), good.Path...)
					c.mutate(&p)
					var out bytes.Buffer
					err := evidencecmd.Verify(t.Context(), args(writeProof(t, p)), &out, &bytes.Buffer{})
					if !errors.Is(err, evidencecmd.ErrVerifyFailed) {
						t.Fatalf("err = %v, want ErrVerifyFailed\n%s", err, out.String())
					}
					if !strings.Contains(err.Error(), `check "`+c.check+`" failed`) || !strings.Contains(err.Error(), c.detail) {
						t.Fatalf("error %q does not name check %q with %q", err, c.check, c.detail)
					}
					if !strings.Contains(out.String(), "FAIL  "+c.check) {
						t.Fatalf("output does not show the failed check:\n%s", out.String())
					}
					if code := app.ExitCode("bcosdata", err, &bytes.Buffer{}); code != 1 {
						t.Fatalf("exit status %d, want 1", code)
					}
				})
			}
		})
	}
}

func TestVerifyCommandUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := evidencecmd.Verify(t.Context(), []string{"-version"}, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "bcosdata ") {
		t.Fatalf("-version: %v, %q", err, out.String())
	}
	out.Reset()
	if err := evidencecmd.Verify(t.Context(), []string{"-h"}, &out, &errOut); !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut.String(), "-rpc") {
		t.Fatalf("-h: %v\n%s", err, errOut.String())
	}
	var ue *app.UsageError
	if err := evidencecmd.Verify(t.Context(), []string{"proof.json"}, &out, &errOut); !errors.As(err, &ue) {
		t.Fatalf("missing -rpc: %v, want a usage error", err)
	}
	if err := evidencecmd.Verify(t.Context(), []string{"-rpc", "http://127.0.0.1:1"}, &out, &errOut); !errors.As(err, &ue) {
		t.Fatalf("missing proof file: %v, want a usage error", err)
	}
	bad := filepath.Join(t.TempDir(), "p.json")
	_ = os.WriteFile(bad, []byte(`{"version":1,"leaf_index":"x"}`), 0o644)
	if err := evidencecmd.Verify(t.Context(), []string{"-offline", bad}, &out, &errOut); !errors.Is(err, evidencecmd.ErrVerifyFailed) || !strings.Contains(err.Error(), `"proof format"`) {
		t.Fatalf("malformed proof: %v", err)
	}
}

// TestKeygenSignVerify publishes by hand: keygen writes a key, sign signs a record with it, and
// the signed record verifies against the key file's public key.
func TestKeygenSignVerify(t *testing.T) {
	for _, sm := range []bool{false, true} {
		t.Run(map[bool]string{false: "ecdsa", true: "sm"}[sm], func(t *testing.T) {
			dir := t.TempDir()
			keyPath := filepath.Join(dir, "acme.key")
			kargs := []string{"-out", keyPath}
			if sm {
				kargs = append(kargs, "-sm")
			}
			var out bytes.Buffer
			if err := evidencecmd.Keygen(t.Context(), kargs, &out, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			if st, err := os.Stat(keyPath); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("key file: %v, mode %v", err, st.Mode())
			}
			if err := evidencecmd.Keygen(t.Context(), kargs, &out, &bytes.Buffer{}); err == nil {
				t.Fatal("keygen overwrote an existing key file")
			}
			var kf struct {
				Suite     string `json:"suite"`
				PublicKey string `json:"public_key"`
			}
			raw, _ := os.ReadFile(keyPath)
			if err := json.Unmarshal(raw, &kf); err != nil {
				t.Fatal(err)
			}
			recPath := filepath.Join(dir, "record.json")
			payloadPath := filepath.Join(dir, "payload.json")
			_ = os.WriteFile(recPath, []byte(`{"id":"inv-2026-001","publisher":"acme","category":"invoice","not_after":"2027-01-01T00:00:00Z"}`), 0o644)
			_ = os.WriteFile(payloadPath, []byte(`{"amount":"12.50","currency":"EUR"}`), 0o644)
			out.Reset()
			if err := evidencecmd.Sign(t.Context(), []string{"-key", keyPath, "-payload", payloadPath, recPath}, &out, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			var r evidence.Record
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("signed record %s: %v", out.String(), err)
			}
			s, err := cryptosuite.New(kf.Suite)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := cryptosuite.ParsePublicKey(kf.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			if err := evidence.VerifySignature(s, pub, &r); err != nil {
				t.Fatalf("signed record does not verify: %v", err)
			}
			if r.Kind != evidence.KindPublish || r.PayloadType != evidence.PayloadJSON || string(r.Payload) != `{"amount":"12.50","currency":"EUR"}` || r.NotAfter.Year() != 2027 {
				t.Fatalf("signed record %+v", r)
			}
			// A record without a payload is refused.
			_ = os.WriteFile(recPath, []byte(`{"id":"x","publisher":"acme"}`), 0o644)
			var ue *app.UsageError
			if err := evidencecmd.Sign(t.Context(), []string{"-key", keyPath, recPath}, &out, &bytes.Buffer{}); !errors.As(err, &ue) {
				t.Fatalf("record without payload: %v", err)
			}
		})
	}
}
