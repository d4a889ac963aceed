package fieldcrypt_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bcosdata/bcosdata/libs/crypto/fieldcrypt"
)

func key(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func ring(t *testing.T, text string) *fieldcrypt.Keyring {
	t.Helper()
	k, err := fieldcrypt.Parse(strings.NewReader(text), "test")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpenAndRotation(t *testing.T) {
	t.Parallel()
	k1, k2, mac := key(t), key(t), key(t)
	old := ring(t, fmt.Sprintf("# keys\nk1 %s\nhmac %s\n", k1, mac))
	sealedOld := old.Seal("110101199003077777")
	if strings.Contains(sealedOld, "110101199003077777") || !fieldcrypt.IsSealed(sealedOld) || !strings.HasPrefix(sealedOld, "enc:v1:k1:") {
		t.Fatalf("sealed text %q", sealedOld)
	}
	if a, b := old.Seal("x"), old.Seal("x"); a == b {
		t.Error("two seals of one value are equal: they reveal equality")
	}
	rotated := ring(t, fmt.Sprintf("k1 %s\nk2 %s\nhmac %s\n", k1, k2, mac))
	if rotated.KeyID() != "k2" || !strings.HasPrefix(rotated.Seal("v"), "enc:v1:k2:") {
		t.Errorf("the newest key (last) does not encrypt: %s", rotated.KeyID())
	}
	if v, err := rotated.Open(sealedOld); err != nil || v != "110101199003077777" {
		t.Errorf("open a value of the older key after rotation: %q, %v", v, err)
	}
	if old.Blind("a") != rotated.Blind("a") || old.Blind("a") == old.Blind("b") {
		t.Error("blinding depends on the encryption keys or ignores the value")
	}
	if _, err := ring(t, fmt.Sprintf("k2 %s\nhmac %s\n", k2, mac)).Open(sealedOld); !errors.Is(err, fieldcrypt.ErrNoKey) {
		t.Errorf("open with the key removed: %v", err)
	}
	tampered := sealedOld[:len(sealedOld)-2] + "AA"
	if _, err := old.Open(tampered); err == nil {
		t.Error("a tampered value opened")
	}
	other := ring(t, fmt.Sprintf("k1 %s\nhmac %s\n", key(t), key(t)))
	if _, err := other.Open(sealedOld); err == nil || other.Blind("a") == old.Blind("a") {
		t.Error("another ring with the same key id opens the value or blinds alike")
	}
}

func TestLoadFileAndEnvironment(t *testing.T) {
	text := fmt.Sprintf("k1 %s\nhmac %s\n", key(t), key(t))
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FIELDCRYPT_TEST_KEYS", text)
	a, err := fieldcrypt.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fieldcrypt.Load("env:FIELDCRYPT_TEST_KEYS")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := b.Open(a.Seal("same ring")); err != nil || v != "same ring" {
		t.Errorf("file and environment rings differ: %q, %v", v, err)
	}
}

func TestParseErrorsNameTheLineNotTheKey(t *testing.T) {
	t.Parallel()
	secret := key(t)
	for _, text := range []string{
		"",
		"k1 " + secret + "\n",
		"hmac " + secret + "\n",
		"k1 " + secret + "\nk1 " + secret + "\nhmac " + secret,
		"k1 " + secret[:20] + "\nhmac " + secret,
		"bad/id " + secret + "\nhmac " + secret,
		"k1 " + secret + " extra\nhmac " + secret,
	} {
		_, err := fieldcrypt.Parse(strings.NewReader(text), "keys.txt")
		if err == nil {
			t.Errorf("%q: accepted", text)
			continue
		}
		if strings.Contains(err.Error(), secret[:20]) || !strings.Contains(err.Error(), "keys.txt") {
			t.Errorf("%q: %v", text, err)
		}
	}
}
