package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	libevidence "github.com/bcosdata/bcosdata/libs/evidence"
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
	keySuite, key, err := libevidence.ReadKeyFile(f.Key, suite.Name())
	if err != nil {
		return nil, common.Address{}, nil, fmt.Errorf("-evidence.key: %w", err)
	}
	if keySuite.Name() != suite.Name() {
		return nil, common.Address{}, nil, fmt.Errorf("-evidence.key %s: an %s key, the chain is %s (-evidence.sm)", f.Key, keySuite.Name(), suite.Name())
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
