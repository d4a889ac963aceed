package evidence

import (
	"context"

	"github.com/ethereum/go-ethereum/common"
	"github.com/jackc/pgx/v5"

	chainv1 "github.com/bcosdata/bcosdata/proto/bcosdata/chain/v1"
)

// EventStored is the event of the Evidence contract that anchors a batch.
const EventStored = "EvidenceStored"

// ConfirmEvents is the ingest hook: it picks the EvidenceStored events of the configured
// contract from a batch of decoded events and confirms the batches they anchor (Confirm).
func (s *Service) ConfirmEvents(ctx context.Context, tx pgx.Tx, events []*chainv1.DecodedEvent) (func(), error) {
	if s.cfg.Contract == "" {
		return func() {}, nil
	}
	contract := common.HexToAddress(s.cfg.Contract)
	var stored []StoredEvent
	for _, e := range events {
		if e.GetEventName() != EventStored || common.BytesToAddress(e.GetContractAddress()) != contract {
			continue
		}
		se := StoredEvent{Contract: contract, BlockNumber: e.GetBlockNumber(), BlockHash: common.BytesToHash(e.GetBlockHash()),
			TxHash: common.BytesToHash(e.GetTransactionHash()), LogIndex: e.GetLogIndex()}
		ok := 0
		for _, a := range e.GetArgs() {
			switch a.GetName() {
			case "id":
				if b, err := unhex(a.GetValue()); err == nil && len(b) == 32 {
					se.ID, ok = [32]byte(b), ok+1
				}
			case "docHash":
				if b, err := unhex(a.GetValue()); err == nil && len(b) == 32 {
					se.DocHash, ok = [32]byte(b), ok+1
				}
			case "submitter":
				se.Submitter = common.HexToAddress(a.GetValue())
			}
		}
		if ok == 2 {
			stored = append(stored, se)
		}
	}
	if len(stored) == 0 {
		return func() {}, nil
	}
	return s.Confirm(ctx, tx, stored)
}
