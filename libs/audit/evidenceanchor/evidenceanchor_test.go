package evidenceanchor_test

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/libs/audit/evidenceanchor"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

func TestReadKeyTakesKeygensFormats(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sm, err := cryptosuite.SM().GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := cryptosuite.ECDSA().GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := cryptosuite.ECDSA().GenerateKey(nil)
	jsonKey := func(suite string, k, pub *cryptosuite.PrivateKey) string {
		return fmt.Sprintf(`{"suite":%q,"private_key":"0x%s","public_key":"0x%s","address":"0x0"}`, suite, hex.EncodeToString(k.Bytes()), pub.PublicKey())
	}
	for _, tc := range []struct {
		name, text, suite, err string
		key                    *cryptosuite.PrivateKey
	}{
		{name: "keygen sm", text: jsonKey("sm", sm, sm), suite: "sm", key: sm},
		{name: "keygen ecdsa", text: jsonKey("ecdsa", ec, ec), suite: "ecdsa", key: ec},
		{name: "hex", text: hex.EncodeToString(ec.Bytes()) + "\n", suite: "ecdsa", key: ec},
		{name: "another public key", text: jsonKey("ecdsa", ec, other), err: "public_key is not the private key's"},
		{name: "not a key", text: "hello", err: "want keygen's JSON or 64 hex digits"},
	} {
		s, k, err := evidenceanchor.ReadKey(write(strings.ReplaceAll(tc.name, " ", "-"), tc.text))
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case s.Name() != tc.suite || k.PublicKey() != tc.key.PublicKey():
			t.Errorf("%s: suite %s key %s, want %s %s", tc.name, s.Name(), k.PublicKey(), tc.suite, tc.key.PublicKey())
		}
	}
}

func TestFlagsNameWhatIsMissing(t *testing.T) {
	if err := (evidenceanchor.Flags{}).Validate(); err != nil {
		t.Errorf("anchoring off: %v", err)
	}
	err := evidenceanchor.Flags{Addr: "127.0.0.1:1", Every: 0}.Validate()
	if err == nil || !strings.Contains(err.Error(), "-audit.anchor.key") || !strings.Contains(err.Error(), "-audit.anchor.every") {
		t.Errorf("no key, no interval: %v", err)
	}
	err = evidenceanchor.Flags{Addr: "127.0.0.1:1", Key: filepath.Join(t.TempDir(), "none"), Every: time.Minute}.Validate()
	if err == nil || !strings.Contains(err.Error(), "-audit.anchor.key") {
		t.Errorf("a missing key file: %v", err)
	}
}
