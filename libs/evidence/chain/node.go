// Package chain is the go-sdk half of the evidence log: an Anchorer that stores batch roots in
// the Evidence contract with signed transactions, and VerifyOnChain, which checks a proof's
// anchor against a FISCO BCOS 2.x node — the receipt, its EvidenceStored log and the block's
// place in the chain. It talks JSON-RPC over HTTP through go-sdk's connection
// (github.com/FISCO-BCOS/go-sdk/conn), as stash's RPC source does; transactions are built and
// signed with libs/fisco/block and libs/fisco/cryptosuite, so ECDSA and SM2 chains work alike.
package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/FISCO-BCOS/go-sdk/conn"
	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fisco/rpcjson"
)

// Node is one group of a FISCO BCOS 2.x node reached over JSON-RPC. It is safe for concurrent
// use.
type Node struct {
	c     *conn.Connection
	url   string
	group int
	suite *cryptosuite.Suite
}

// Dial connects to the node's JSON-RPC at url (http://host:port, or host:port) for group, on a
// chain of the given crypto suite. It does not send a request.
func Dial(url string, group int, suite *cryptosuite.Suite) (*Node, error) {
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	c, err := conn.DialHTTPWithClient(url, hc)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	return NewNode(c, url, group, suite), nil
}

// NewNode wraps an existing go-sdk connection; url only names the node in errors.
func NewNode(c *conn.Connection, url string, group int, suite *cryptosuite.Suite) *Node {
	return &Node{c: c, url: url, group: group, suite: suite}
}

// Suite returns the chain's crypto suite.
func (n *Node) Suite() *cryptosuite.Suite { return n.suite }

// Group returns the group id.
func (n *Node) Group() int { return n.group }

// Close releases the connection.
func (n *Node) Close() { n.c.Close() }

// errNotFound is what a node's null result (an unknown receipt or block) becomes.
var errNotFound = errors.New("not found")

func (n *Node) call(ctx context.Context, out any, method string, args ...any) error {
	err := n.c.CallContext(ctx, out, method, append([]any{n.group}, args...)...)
	if errors.Is(err, conn.ErrNoResult) {
		err = errNotFound
	}
	if err != nil {
		return fmt.Errorf("%s on %s group %d: %w", method, n.url, n.group, err)
	}
	return nil
}

// ChainID returns the node's chain id (getClientVersion "Chain Id"), which signed transactions
// must carry.
func (n *Node) ChainID(ctx context.Context) (int64, error) {
	var v map[string]any
	if err := n.c.CallContext(ctx, &v, "getClientVersion"); err != nil {
		return 0, fmt.Errorf("getClientVersion on %s: %w", n.url, err)
	}
	s, _ := v["Chain Id"].(string)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("getClientVersion on %s: Chain Id %q: %w", n.url, s, err)
	}
	if fv, _ := v["FISCO-BCOS Version"].(string); strings.Contains(strings.ToLower(fv), "gm") != (n.suite.Name() == cryptosuite.NameSM) {
		return 0, fmt.Errorf("node %s runs %q, this client is set for the %s suite", n.url, fv, n.suite.Name())
	}
	return id, nil
}

// BlockNumber returns the head block number.
func (n *Node) BlockNumber(ctx context.Context) (uint64, error) {
	var s string
	if err := n.call(ctx, &s, "getBlockNumber"); err != nil {
		return 0, err
	}
	v, err := rpcjson.ParseUint(s)
	if err != nil {
		return 0, fmt.Errorf("getBlockNumber on %s: %w", n.url, err)
	}
	return v, nil
}

// receipt returns the receipt of tx, errNotFound (wrapped) while it is not in a block.
func (n *Node) receipt(ctx context.Context, tx common.Hash) (*rpcjson.Receipt, error) {
	var r *rpcjson.Receipt
	if err := n.call(ctx, &r, "getTransactionReceipt", tx.Hex()); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("getTransactionReceipt %s on %s: %w", tx.Hex(), n.url, errNotFound)
	}
	return r, nil
}

// block returns block number with transaction hashes.
func (n *Node) block(ctx context.Context, number uint64) (*rpcjson.Block, error) {
	var b *rpcjson.Block
	if err := n.call(ctx, &b, "getBlockByNumber", strconv.FormatUint(number, 10), false); err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("getBlockByNumber %d on %s: %w", number, n.url, errNotFound)
	}
	return b, nil
}

// callContract runs a read-only call and returns its output.
func (n *Node) callContract(ctx context.Context, to common.Address, data []byte) ([]byte, error) {
	var res struct {
		Output string `json:"output"`
		Status string `json:"status"`
	}
	req := map[string]string{"from": to.Hex(), "to": to.Hex(), "data": rpcjson.Bytes(data)}
	if err := n.call(ctx, &res, "call", req); err != nil {
		return nil, err
	}
	if st, err := rpcjson.ParseUint(res.Status); err != nil || st != 0 {
		return nil, fmt.Errorf("call %s on %s: status %s", to.Hex(), n.url, res.Status)
	}
	out, err := rpcjson.ParseBytes(res.Output)
	if err != nil {
		return nil, fmt.Errorf("call %s on %s: output: %w", to.Hex(), n.url, err)
	}
	return out, nil
}

// sendRaw submits a signed transaction RLP and returns the hash the node reports.
func (n *Node) sendRaw(ctx context.Context, raw []byte) (common.Hash, error) {
	var s json.RawMessage
	if err := n.call(ctx, &s, "sendRawTransaction", rpcjson.Bytes(raw)); err != nil {
		return common.Hash{}, err
	}
	var hs string
	if err := json.Unmarshal(s, &hs); err != nil {
		return common.Hash{}, fmt.Errorf("sendRawTransaction on %s: result %s: %w", n.url, s, err)
	}
	h, err := rpcjson.ParseHash(hs)
	if err != nil {
		return common.Hash{}, fmt.Errorf("sendRawTransaction on %s: %w", n.url, err)
	}
	return h, nil
}
