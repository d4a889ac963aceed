package reconcile

import (
	"context"
	"errors"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/evidence"
)

// newAnchorer returns the anchorer of -evidence.rpc, -evidence.key and -evidence.contract.
func newAnchorer(_ context.Context, _ evidence.Flags, _ uint) (evidence.Anchorer, common.Address, func(), error) {
	return nil, common.Address{}, nil, errors.New("-evidence.rpc: anchoring is not in this build yet")
}
