package evidence

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// KeyFile is the JSON key file `bcosdata evidence keygen` writes (mode 0600): a publisher's
// or an anchoring account's key.
type KeyFile struct {
	Suite      string        `json:"suite"`
	PrivateKey hexutil.Bytes `json:"private_key"`
	PublicKey  hexutil.Bytes `json:"public_key"`
	// Address is the key's account address, lowercase 0x hex (for reading only: a reader
	// derives it from the key).
	Address string `json:"address"`
}

// NewKeyFile describes key of suite s as a key file.
func NewKeyFile(s *cryptosuite.Suite, key *cryptosuite.PrivateKey) KeyFile {
	return KeyFile{Suite: s.Name(), PrivateKey: key.Bytes(), PublicKey: key.PublicKey().Bytes(),
		Address: strings.ToLower(s.Address(key.PublicKey()).Hex())}
}

// ReadKeyFile reads a key file: keygen's JSON (its suite wins), or the 32-byte private key as
// 64 hex digits of suite (cryptosuite.NameECDSA or NameSM; empty means ECDSA). A JSON file
// whose public key is not its private key's is refused.
func ReadKeyFile(path, suite string) (*cryptosuite.Suite, *cryptosuite.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("key file: %w", err)
	}
	text := strings.TrimSpace(string(raw))
	var kf KeyFile
	if strings.HasPrefix(text, "{") {
		if err := json.Unmarshal(raw, &kf); err != nil {
			return nil, nil, fmt.Errorf("key file %s: %w", path, err)
		}
		suite = kf.Suite
	} else if kf.PrivateKey, err = hexutil.Decode("0x" + strings.TrimPrefix(text, "0x")); err != nil {
		return nil, nil, fmt.Errorf("key file %s: want keygen's JSON or 64 hex digits: %w", path, err)
	}
	if suite == "" {
		suite = cryptosuite.NameECDSA
	}
	s, err := cryptosuite.New(suite)
	if err != nil {
		return nil, nil, fmt.Errorf("key file %s: %w", path, err)
	}
	k, err := s.PrivateKeyFromBytes(kf.PrivateKey)
	if err != nil {
		return nil, nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if kf.PublicKey != nil && string(kf.PublicKey) != string(k.PublicKey().Bytes()) {
		return nil, nil, fmt.Errorf("key file %s: public_key is not the private key's", path)
	}
	return s, k, nil
}
