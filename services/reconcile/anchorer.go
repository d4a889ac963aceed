package reconcile

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/evidence/chain"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/evidence"
)

// chainAnchorer adapts libs/evidence/chain's Anchorer: our own earlier anchor of a batch is
// evidence.ErrAlreadyAnchored.
type chainAnchorer struct{ a *chain.Anchorer }

func (c chainAnchorer) Anchor(ctx context.Context, batchID, root [32]byte, count int, segment string) (common.Hash, error) {
	h, err := c.a.Anchor(ctx, batchID, root, count, segment)
	if errors.Is(err, chain.ErrAlreadyAnchoredByUs) {
		return h, fmt.Errorf("%w: %w", evidence.ErrAlreadyAnchored, err)
	}
	return h, err
}

// newAnchorer returns the anchorer of -evidence.rpc, -evidence.key and -evidence.contract;
// it asks the node for its chain id, and retries while the node is away.
func newAnchorer(ctx context.Context, f evidence.Flags, group uint) (evidence.Anchorer, common.Address, func(), error) {
	suite := cryptosuite.ECDSA()
	if f.SM {
		suite = cryptosuite.SM()
	}
	key, err := readKey(f.Key, suite)
	if err != nil {
		return nil, common.Address{}, nil, fmt.Errorf("-evidence.key: %w", err)
	}
	node, err := chain.Dial(f.RPC, int(group), suite)
	if err != nil {
		return nil, common.Address{}, nil, fmt.Errorf("-evidence.rpc: %w", err)
	}
	a, err := chain.NewAnchorer(ctx, node, key, common.HexToAddress(f.Contract))
	if err != nil {
		node.Close()
		return nil, common.Address{}, nil, fmt.Errorf("-evidence.rpc %s: %w", f.RPC, err)
	}
	return chainAnchorer{a}, a.Address(), node.Close, nil
}

// readKey reads a key file: the JSON `bcosdata evidence keygen` writes ({"private_key":"0x…"})
// or the 32-byte private key as 64 hex digits.
func readKey(path string, suite *cryptosuite.Suite) (*cryptosuite.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := strings.TrimSpace(string(b))
	if strings.HasPrefix(text, "{") {
		var kf struct {
			Suite      string `json:"suite"`
			PrivateKey string `json:"private_key"`
		}
		if err := json.Unmarshal(b, &kf); err != nil {
			return nil, fmt.Errorf("key file %s: %w", path, err)
		}
		if kf.Suite != "" && kf.Suite != suite.Name() {
			return nil, fmt.Errorf("key file %s: an %s key, the chain is %s (-evidence.sm)", path, kf.Suite, suite.Name())
		}
		text = kf.PrivateKey
	}
	d, err := hex.DecodeString(strings.TrimPrefix(text, "0x"))
	if err != nil || len(d) != 32 {
		return nil, fmt.Errorf("key file %s: want keygen's JSON or 64 hex digits", path)
	}
	return suite.PrivateKeyFromBytes(d)
}
