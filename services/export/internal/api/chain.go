package api

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// span checks a request's block and time range.
func span(fromBlock, toBlock *uint64, fromTime, toTime *timestamppb.Timestamp) (store.Span, error) {
	sp := store.Span{FromBlock: fromBlock, ToBlock: toBlock}
	if fromBlock != nil && toBlock != nil && *fromBlock > *toBlock {
		return sp, invalid("to_block", "%d is before from_block %d", *toBlock, *fromBlock)
	}
	if fromTime != nil {
		if err := fromTime.CheckValid(); err != nil {
			return sp, invalid("from_time", "%v", err)
		}
		sp.FromTime = fromTime.AsTime()
	}
	if toTime != nil {
		if err := toTime.CheckValid(); err != nil {
			return sp, invalid("to_time", "%v", err)
		}
		sp.ToTime = toTime.AsTime()
	}
	return sp, nil
}

func blockOf(b store.BlockInfo) *exportv1.Block {
	return &exportv1.Block{Number: b.Number, Hash: hexOf(b.Hash), ParentHash: hexOf(b.Parent), Time: timestamppb.New(b.Time),
		TimestampMs: b.TimestampMS, Sealer: hexOf(b.Sealer), SealerIndex: b.SealerIndex, TransactionCount: b.TxCount, GasUsed: b.GasUsed}
}

// GetBlock returns a stored block by number or hash.
func (s *Server) GetBlock(ctx context.Context, req *exportv1.GetBlockRequest) (*exportv1.GetBlockResponse, error) {
	b := s.backend()
	if b == nil {
		return nil, errNotOpen
	}
	var (
		number uint64
		hash   []byte
		err    error
	)
	switch sel := req.GetBlock().(type) {
	case *exportv1.GetBlockRequest_BlockNumber:
		number = sel.BlockNumber
	case *exportv1.GetBlockRequest_BlockHash:
		if hash, err = parseHash("block_hash", sel.BlockHash); err != nil {
			return nil, err
		}
	default:
		return nil, invalid("block_number", "give block_number or block_hash")
	}
	blk, err := b.Store.Block(ctx, number, hash)
	if errors.Is(err, store.ErrNotFound) {
		if hash != nil {
			return nil, status.Errorf(codes.NotFound, "block %s is not stored", hexOf(hash))
		}
		return nil, status.Errorf(codes.NotFound, "block %d is not stored", number)
	}
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	return &exportv1.GetBlockResponse{Block: blockOf(blk)}, nil
}

// ListBlocks pages stored blocks by number.
func (s *Server) ListBlocks(ctx context.Context, req *exportv1.ListBlocksRequest) (*exportv1.ListBlocksResponse, error) {
	b := s.backend()
	if b == nil {
		return nil, errNotOpen
	}
	sp, err := span(req.FromBlock, req.ToBlock, req.GetFromTime(), req.GetToTime())
	if err != nil {
		return nil, err
	}
	p, q, err := paging(req)
	if err != nil {
		return nil, err
	}
	blocks, total, err := b.Store.Blocks(ctx, sp, p)
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	resp := &exportv1.ListBlocksResponse{TotalSize: total}
	for _, blk := range blocks {
		resp.Blocks = append(resp.Blocks, blockOf(blk))
	}
	if len(blocks) > 0 {
		resp.NextPageToken = next(len(blocks), p.Limit, store.Key{Block: blocks[len(blocks)-1].Number}, q)
	}
	return resp, nil
}

func txOf(x store.TxInfo) *exportv1.Transaction {
	return &exportv1.Transaction{Hash: hexOf(x.Hash), BlockNumber: x.BlockNumber, BlockTime: timestamppb.New(x.BlockTime),
		TransactionIndex: x.Index, From: hexOf(x.From), To: hexOf(x.To), Input: hexOf(x.Input), Selector: hexOf(x.Selector),
		Value: x.Value, Nonce: x.Nonce, BlockLimit: x.BlockLimit, Gas: x.Gas, GasPrice: x.GasPrice, Status: x.Status,
		RevertReason: x.RevertReason, Output: hexOf(x.Output), GasUsed: x.GasUsed, ContractAddress: hexOf(x.ContractAddress)}
}

// GetTransaction returns a transaction with its receipt, its decoded call and events and its
// raw logs.
func (s *Server) GetTransaction(ctx context.Context, req *exportv1.GetTransactionRequest) (*exportv1.GetTransactionResponse, error) {
	b := s.backend()
	if b == nil {
		return nil, errNotOpen
	}
	hash, err := parseHash("transaction_hash", req.GetTransactionHash())
	if err != nil {
		return nil, err
	}
	d, rows, err := b.Store.TransactionDetail(ctx, hash, b.txTables)
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "transaction %s is not stored", hexOf(hash))
	}
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	resp := &exportv1.GetTransactionResponse{Transaction: txOf(d.Tx), BlockHash: hexOf(d.Tx.BlockHash)}
	for _, l := range d.Logs {
		resp.Logs = append(resp.Logs, logOf(l))
	}
	for _, r := range rows {
		if r.Table.Kind == contract.EventTable {
			resp.Events = append(resp.Events, eventOf(r))
		} else {
			resp.Call = callOf(r)
		}
	}
	return resp, nil
}

func logOf(l store.Log) *exportv1.Log {
	out := &exportv1.Log{LogIndex: l.LogIndex, Address: hexOf(l.Address), Data: hexOf(l.Data)}
	for _, t := range l.Topics {
		out.Topics = append(out.Topics, hexOf(t))
	}
	return out
}

// ListTransactions pages transactions by sender, recipient, contract, method and status.
func (s *Server) ListTransactions(ctx context.Context, req *exportv1.ListTransactionsRequest) (*exportv1.ListTransactionsResponse, error) {
	b := s.backend()
	if b == nil {
		return nil, errNotOpen
	}
	f := store.TxFilter{Status: req.Status}
	var err error
	if f.From, err = optAddress("from", req.GetFrom()); err != nil {
		return nil, err
	}
	if f.To, err = optAddress("to", req.GetTo()); err != nil {
		return nil, err
	}
	if f.Span, err = span(req.FromBlock, req.ToBlock, req.GetFromTime(), req.GetToTime()); err != nil {
		return nil, err
	}
	switch {
	case req.GetContract() != "":
		k, err := b.named("contract", req.GetContract())
		if err != nil {
			return nil, err
		}
		deps, err := b.Store.DeploymentsOf(ctx, k.Name)
		if err != nil {
			return nil, storeErr(ctx, err)
		}
		c := &store.ContractTxs{Addresses: [][]byte{}, Calls: true, Creations: true}
		for _, d := range deps {
			c.Addresses = append(c.Addresses, d.Address)
		}
		if m := req.GetMethod(); m == "constructor" {
			// Creations, whether or not the constructor has inputs (a typed table).
			c.Calls, c.Creations = false, true
		} else if m != "" {
			tables, err := items(k, "method", m, contract.MethodTable, contract.ConstructorTable)
			if err != nil {
				return nil, err
			}
			c.Calls, c.Creations, c.Selectors = false, false, [][]byte{}
			for _, t := range tables {
				if t.Kind == contract.ConstructorTable {
					c.Creations = true
				} else {
					c.Calls = true
					c.Selectors = append(c.Selectors, t.ID)
				}
			}
		}
		f.Contract = c
	case req.GetMethod() != "":
		return nil, invalid("method", "%q: give the contract it belongs to", req.GetMethod())
	}
	p, q, err := paging(req)
	if err != nil {
		return nil, err
	}
	txs, total, err := b.Store.Transactions(ctx, f, p)
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	resp := &exportv1.ListTransactionsResponse{TotalSize: total}
	for _, x := range txs {
		resp.Transactions = append(resp.Transactions, txOf(x))
	}
	if len(txs) > 0 {
		last := txs[len(txs)-1]
		resp.NextPageToken = next(len(txs), p.Limit, store.Key{Block: last.BlockNumber, Tx: last.Index}, q)
	}
	return resp, nil
}
