// Package rpc serves the FISCO BCOS 2.x JSON-RPC over HTTP for a simulated chain, with the
// node's framing (libjson-rpc-cpp behind libmicrohttpd): POST on any path, positional params
// with the group id first as a JSON integer, block numbers as decimal or 0x-hex strings,
// responses written compact with object keys sorted and a trailing newline, the standard and
// FISCO-specific error codes, and response shapes that follow the chain's version (fields
// added in 2.6, 2.7 and 2.9 appear only from those versions).
package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/services/fiscosim/internal/chain"
)

// JSON-RPC error codes: the standard ones of libjson-rpc-cpp and the FISCO ones of
// librpc/Common.h.
const (
	CodeParseError      = -32700
	CodeInvalidRequest  = -32600
	CodeMethodNotFound  = -32601
	CodeInvalidParams   = -32602
	CodeInternalError   = -32603
	CodeGroupID         = -40001
	CodeBlockHash       = -40003
	CodeBlockNumber     = -40004
	CodeTxIndex         = -40005
	CodeCallFrom        = -40006
	CodePBFTOnly        = -40007
	CodeInvalidSysCfg   = -40008
	CodeIndexOutOfRange = -40099
)

// message returns the error message the node sends with code.
func message(code int) string {
	switch code {
	case CodeParseError:
		return "JSON_PARSE_ERROR: The JSON-Object is not JSON-Valid"
	case CodeInvalidRequest:
		return "INVALID_JSON_REQUEST: The JSON sent is not a valid JSON-RPC Request object"
	case CodeMethodNotFound:
		return "METHOD_NOT_FOUND: The method being requested is not available on this server"
	case CodeInvalidParams:
		return "INVALID_PARAMS: Invalid method parameters (invalid name and/or type) recognised"
	case CodeInternalError:
		return "INTERNAL_ERROR: "
	case CodeGroupID:
		return "GroupID does not exist"
	case CodeBlockHash:
		return "BlockHash does not exist"
	case CodeBlockNumber:
		return "BlockNumber does not exist"
	case CodeTxIndex:
		return "TransactionIndex is out of range"
	case CodeCallFrom:
		return "Call needs a 'from' field"
	case CodePBFTOnly:
		return "Only pbft consensus supports the view property"
	case CodeInvalidSysCfg:
		return "Invalid System Config"
	}
	return ""
}

// Error is a JSON-RPC error object.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Error implements error.
func (e *Error) Error() string { return e.Message }

func newError(code int) *Error { return &Error{Code: code, Message: message(code)} }

func internalError(detail string) *Error {
	return &Error{Code: CodeInternalError, Message: message(CodeInternalError) + detail}
}

// NodeInfo is what getClientVersion and getSyncStatus report about the node.
type NodeInfo struct {
	// Version is the FISCO-BCOS binary version, e.g. "2.9.0"; " gm" is appended on SM chains.
	Version string
	// SupportedVersion is the chain's supported_version.
	SupportedVersion chain.Version
	ChainID, GroupID int64
	SM               bool
	// NodeID is this node's id (the first sealer).
	NodeID string
}

// Config configures the handler.
type Config struct {
	Chain *chain.Chain
	Info  NodeInfo
	// Delay is added before every response (fault injection: a slow node).
	Delay time.Duration
	// MaxBodyBytes bounds request bodies; 0 means 64 MiB.
	MaxBodyBytes int64
	Log          *zap.Logger
}

// Handler is the JSON-RPC HTTP handler.
type Handler struct {
	cfg     Config
	methods map[string]method
}

// NewHandler returns the JSON-RPC handler for a chain.
func NewHandler(cfg Config) *Handler {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 20
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	h := &Handler{cfg: cfg}
	h.methods = h.table()
	return h
}

// ServeHTTP implements http.Handler: POST on any path, OPTIONS for CORS pre-flight, 405
// otherwise, as the node's SafeHttpServer.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
	case http.MethodOptions:
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
		w.WriteHeader(http.StatusOK)
		return
	default:
		w.Header().Set("Allow", "POST, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	out := h.Handle(r.Context(), body)
	if h.cfg.Delay > 0 {
		t := time.NewTimer(h.cfg.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if out == nil {
		return // notification: nothing to answer
	}
	_, _ = w.Write(out)
}

// Handle answers one JSON-RPC request body (an object or a batch array) and returns the
// response body, nil when nothing is to be sent (notifications only).
func (h *Handler) Handle(ctx context.Context, body []byte) []byte {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(trimmed, &batch); err != nil {
			return encode(errorResponse(nil, newError(CodeParseError)))
		}
		if len(batch) == 0 {
			return encode(errorResponse(nil, newError(CodeInvalidRequest)))
		}
		var out []any
		for _, item := range batch {
			if resp := h.one(ctx, item); resp != nil {
				out = append(out, resp)
			}
		}
		if out == nil {
			return nil
		}
		return encode(out)
	}
	resp := h.one(ctx, trimmed)
	if resp == nil {
		return nil
	}
	return encode(resp)
}

type request struct {
	JSONRPC *string         `json:"jsonrpc"`
	Method  *string         `json:"method"`
	Params  json.RawMessage `json:"params"`
	ID      json.RawMessage `json:"id"`
}

// one answers a single request; nil for a notification.
func (h *Handler) one(ctx context.Context, raw []byte) map[string]any {
	if !json.Valid(raw) {
		return errorResponse(nil, newError(CodeParseError))
	}
	var req request
	if err := json.Unmarshal(raw, &req); err != nil || req.Method == nil || req.JSONRPC == nil || *req.JSONRPC != "2.0" {
		return errorResponse(nil, newError(CodeInvalidRequest))
	}
	notification := req.ID == nil
	result, rerr := h.dispatch(ctx, *req.Method, req.Params)
	if notification {
		return nil
	}
	if rerr != nil {
		if rerr.Code == CodeInternalError {
			h.cfg.Log.Debug("rpc error", zap.String("method", *req.Method), zap.String("error", rerr.Message))
		}
		return errorResponse(req.ID, rerr)
	}
	return map[string]any{"id": req.ID, "jsonrpc": "2.0", "result": result}
}

func errorResponse(id json.RawMessage, e *Error) map[string]any {
	if id == nil {
		id = json.RawMessage("null")
	}
	return map[string]any{"error": e, "id": id, "jsonrpc": "2.0"}
}

// encode writes v as JsonCpp's FastWriter does: compact, object keys sorted (encoding/json
// sorts map keys; the structs used here declare fields alphabetically), no HTML escaping, and
// a trailing newline.
func encode(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only values built by this package are encoded; a failure is a bug worth seeing.
		buf.Reset()
		_ = enc.Encode(errorResponse(nil, internalError("encode response: "+err.Error())))
	}
	return buf.Bytes()
}
