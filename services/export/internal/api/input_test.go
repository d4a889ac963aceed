package api

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// TestPageTokens: a token round-trips with its own query and is refused, naming page_token,
// with another query or when it is not a token.
func TestPageTokens(t *testing.T) {
	k := store.Key{Block: 1 << 40, Tx: 7, Log: 1<<32 - 1}
	tok := encodeToken(k, "q1")
	got, err := decodeToken(tok, "q1")
	if err != nil || *got != k {
		t.Fatalf("decodeToken(encodeToken(%v)) = %v, %v", k, got, err)
	}
	for _, bad := range []struct{ tok, query string }{
		{tok, "q2"},
		{"eyJrIjpbMSwwLDBdLCJxIjoiMDAwMDAwMDAwMDAwMDAwMCJ9", "q1"},
		{"%%%", "q1"},
		{"bm90IGpzb24", "q1"},
		{encodeToken(store.Key{}, "q1")[:10], "q1"},
	} {
		_, err := decodeToken(bad.tok, bad.query)
		if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "page_token:") {
			t.Errorf("decodeToken(%q, %q) = %v, want InvalidArgument naming page_token", bad.tok, bad.query, err)
		}
	}
	if n, err := pageSize(0); n != DefaultPageSize || err != nil {
		t.Errorf("pageSize(0) = %d, %v", n, err)
	}
	if _, err := pageSize(MaxPageSize + 1); status.Code(err) != codes.InvalidArgument {
		t.Errorf("pageSize(%d) = %v, want InvalidArgument", MaxPageSize+1, err)
	}
}

// TestNoBytesInTheAPI: no message of the export API has a bytes field. JSON (grpcurl, the
// HTTP gateway) shows bytes as base64, which no reader of a hash or an address can use: they
// are 0x hex strings, and 256-bit numbers decimal strings.
func TestNoBytesInTheAPI(t *testing.T) {
	var walk func(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool)
	walk = func(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		for i := range md.Fields().Len() {
			f := md.Fields().Get(i)
			if f.Kind() == protoreflect.BytesKind {
				t.Errorf("%s is bytes: JSON shows it as base64", f.FullName())
			}
			if f.Message() != nil {
				walk(f.Message(), seen)
			}
		}
	}
	seen := map[protoreflect.FullName]bool{}
	svc := exportv1.File_bcosdata_export_v1_export_proto.Services().Get(0)
	for i := range svc.Methods().Len() {
		m := svc.Methods().Get(i)
		walk(m.Input(), seen)
		walk(m.Output(), seen)
	}
	if len(seen) < 30 {
		t.Errorf("walked %d messages only", len(seen))
	}
}
