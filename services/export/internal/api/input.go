package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// Page sizes of every list.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// invalid is an InvalidArgument error naming the field.
func invalid(field, format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "%s: %s", field, fmt.Sprintf(format, args...))
}

// errNotOpen is the answer before the storage is open.
var errNotOpen = status.Error(codes.Unavailable, "export storage is not open yet: retry shortly")

// storeErr turns a storage error into a status: an ended call keeps its code, an error
// PostgreSQL raised on a query is Internal (a query bug, never an input: inputs are checked
// first), anything else (connection, pool) Unavailable.
func storeErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	if store.IsLockConflict(err) {
		return status.Error(codes.Unavailable, err.Error())
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return status.Error(codes.Internal, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}

// pageSize checks a request's page size.
func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, invalid("page_size", "%d: want 0 (default %d) to %d", n, DefaultPageSize, MaxPageSize)
	case n == 0:
		return DefaultPageSize, nil
	case n > MaxPageSize:
		return 0, invalid("page_size", "%d: at most %d", n, MaxPageSize)
	}
	return int(n), nil
}

// pageToken is what a page token holds: the key of the last row sent and a fingerprint of
// the query it belongs to.
type pageToken struct {
	Key   [3]uint64 `json:"k"`
	Query string    `json:"q"`
}

// queryID fingerprints a list request without its paging fields (which clear may reset on
// the copy), so a token is only accepted with the filters it was made for.
func queryID(req proto.Message, clear func(proto.Message)) string {
	c := proto.Clone(req)
	clear(c)
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	sum := sha256.Sum256(append([]byte(proto.MessageName(req)), b...))
	return hex.EncodeToString(sum[:8])
}

func encodeToken(k store.Key, query string) string {
	b, _ := json.Marshal(pageToken{Key: [3]uint64{k.Block, uint64(k.Tx), uint64(k.Log)}, Query: query})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken checks a page token: nil key for none.
func decodeToken(tok, query string) (*store.Key, error) {
	if tok == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	var t pageToken
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.Key[1] > 1<<32-1 || t.Key[2] > 1<<32-1 {
		return nil, invalid("page_token", "not a page token of this API")
	}
	if t.Query != query {
		return nil, invalid("page_token", "made for another query: send the same filters as with the first page")
	}
	return &store.Key{Block: t.Key[0], Tx: uint32(t.Key[1]), Log: uint32(t.Key[2])}, nil
}

// page builds the store page of a request.
// pagedRequest is a List request: its page fields, and a query the page token is bound to.
type pagedRequest interface {
	proto.Message
	GetPageSize() int32
	GetPageToken() string
	GetIncludeTotal() bool
}

// paging returns a list request's page and its query identity (the request without its page
// fields, which a page token is bound to).
func paging(req pagedRequest) (store.Page, string, error) {
	q := queryID(req, func(m proto.Message) {
		r := m.ProtoReflect()
		for _, name := range []protoreflect.Name{"page_size", "page_token", "include_total"} {
			if fd := r.Descriptor().Fields().ByName(name); fd != nil {
				r.Clear(fd)
			}
		}
	})
	p, err := page(req.GetPageSize(), req.GetPageToken(), req.GetIncludeTotal(), q)
	return p, q, err
}

func page(size int32, token string, total bool, query string) (store.Page, error) {
	n, err := pageSize(size)
	if err != nil {
		return store.Page{}, err
	}
	after, err := decodeToken(token, query)
	if err != nil {
		return store.Page{}, err
	}
	return store.Page{After: after, Limit: n, Total: total}, nil
}

// next returns the next page token: empty when the page was not full.
func next(n, limit int, last store.Key, query string) string {
	if n < limit {
		return ""
	}
	return encodeToken(last, query)
}

// hexOf is b as lowercase 0x hex, "" for nil (absent).
func hexOf(b []byte) string {
	if b == nil {
		return ""
	}
	return "0x" + hex.EncodeToString(b)
}

// parseHex parses 0x hex of n bytes (any length when n < 0).
func parseHex(field, s string, n int, what string) ([]byte, error) {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok {
		h, ok = strings.CutPrefix(s, "0X")
	}
	b, err := hex.DecodeString(h)
	if !ok || err != nil || (n >= 0 && len(b) != n) {
		return nil, invalid(field, "%q: want %s as 0x-prefixed hex", s, what)
	}
	return b, nil
}

// parseHash parses a 32-byte hash.
func parseHash(field, s string) ([]byte, error) { return parseHex(field, s, 32, "a 32-byte hash") }

// optAddress parses an optional address: nil for "".
func optAddress(field, s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	return parseHex(field, s, 20, "a 20-byte address")
}
