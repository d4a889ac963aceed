// Package fieldcrypt protects personal data in the fields a job marks sensitive: values are
// encrypted at rest with AES-256-GCM under a key ring (key ids, rotation: the newest key
// encrypts, every key decrypts), and compared through a keyed hash (HMAC-SHA256 under a key of
// its own), so equal values still match without the database ever holding them in clear.
//
// A key file holds one key a line, "<id> <base64 of 32 random bytes>", the newest last, and
// the matching key on a line "hmac <base64 of 32 bytes>"; blank lines and # comments are
// ignored. Make a key with `head -c 32 /dev/urandom | base64`.
package fieldcrypt

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Prefixes of the texts Seal and Blind write, so a reader knows what it holds.
const (
	SealedPrefix = "enc:v1:"
	BlindPrefix  = "hmac:"
)

// hmacID is the key file's name for the matching key.
const hmacID = "hmac"

var (
	// ErrNoKey means a sealed value names a key the ring does not hold (removed too early).
	ErrNoKey = errors.New("no such key in the key ring")
	// ErrNotSealed means a value is not a sealed text.
	ErrNotSealed = errors.New("not a sealed value")
)

var idPattern = regexp.MustCompile(`\A[A-Za-z0-9_.-]{1,64}\z`)

// Keyring holds the encryption keys and the matching key.
type Keyring struct {
	aeads  map[string]cipher.AEAD
	newest string
	mac    []byte
}

// Load reads a key file; a name of the form env:VAR reads the key file's text from the
// environment variable VAR instead. Errors name the file and line, never a key.
func Load(name string) (*Keyring, error) {
	if v, ok := strings.CutPrefix(name, "env:"); ok {
		text, found := os.LookupEnv(v)
		if !found {
			return nil, fmt.Errorf("key ring from environment variable %s: not set", v)
		}
		return Parse(strings.NewReader(text), "environment variable "+v)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open key ring: %w", err)
	}
	defer f.Close()
	return Parse(f, name)
}

// Parse reads a key file's text; source names it in errors.
func Parse(r io.Reader, source string) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"<id> <base64 key>\"", source, line)
		}
		id := fields[0]
		key, err := base64.StdEncoding.DecodeString(fields[1])
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("%s:%d: key %s: want the base64 of 32 bytes", source, line, id)
		}
		if id == hmacID {
			if k.mac != nil {
				return nil, fmt.Errorf("%s:%d: a second hmac key", source, line)
			}
			k.mac = key
			continue
		}
		if !idPattern.MatchString(id) {
			return nil, fmt.Errorf("%s:%d: key id %q: want letters, digits, '.', '_' or '-'", source, line, id)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("%s:%d: key id %s given twice", source, line, id)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: key %s: %w", source, line, id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: key %s: %w", source, line, id, err)
		}
		k.aeads[id], k.newest = aead, id
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read key ring %s: %w", source, err)
	}
	switch {
	case k.newest == "":
		return nil, fmt.Errorf("key ring %s: no encryption key", source)
	case k.mac == nil:
		return nil, fmt.Errorf("key ring %s: no hmac key (a line \"hmac <base64 key>\")", source)
	}
	return k, nil
}

// KeyID returns the id of the key Seal uses.
func (k *Keyring) KeyID() string { return k.newest }

// Seal encrypts v with the newest key: enc:v1:<key id>:<base64 of nonce and ciphertext>. Each
// call gives a different text, so sealed values reveal neither the value nor equality.
func (k *Keyring) Seal(v string) string {
	aead := k.aeads[k.newest]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(v)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("fieldcrypt: read random nonce: %v", err)) // crypto/rand does not fail
	}
	out := aead.Seal(nonce, nonce, []byte(v), []byte(k.newest))
	return SealedPrefix + k.newest + ":" + base64.RawURLEncoding.EncodeToString(out)
}

// IsSealed reports whether v is a text Seal wrote.
func IsSealed(v string) bool { return strings.HasPrefix(v, SealedPrefix) }

// Open decrypts a text Seal wrote with any key of the ring.
func (k *Keyring) Open(v string) (string, error) {
	rest, ok := strings.CutPrefix(v, SealedPrefix)
	if !ok {
		return "", ErrNotSealed
	}
	id, body, ok := strings.Cut(rest, ":")
	if !ok {
		return "", ErrNotSealed
	}
	aead, ok := k.aeads[id]
	if !ok {
		return "", fmt.Errorf("open sealed value of key %s: %w", id, ErrNoKey)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize() {
		return "", fmt.Errorf("open sealed value of key %s: %w: bad encoding", id, ErrNotSealed)
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(id))
	if err != nil {
		return "", fmt.Errorf("open sealed value of key %s: %w", id, err)
	}
	return string(pt), nil
}

// Blind returns the keyed hash equal values share: hmac:<hex of HMAC-SHA256>. Matching compares
// blinded texts; without the key they cannot be reversed or guessed from a list of candidates.
func (k *Keyring) Blind(v string) string {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(v))
	return BlindPrefix + hex.EncodeToString(m.Sum(nil))
}
