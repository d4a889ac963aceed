// Package bcosdata_test holds the checks that span every API of the proto module.
package bcosdata_test

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	auditv1 "github.com/bcosdata/bcosdata/proto/bcosdata/audit/v1"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
)

// TestAPIsHaveNoBytes walks every request and response of every API service, nested
// messages included, and fails on a bytes field: JSON (the HTTP gateway, grpcurl) shows bytes
// as base64, which nobody reading a hash, an address or a signature can use. The APIs carry
// 0x hex and decimal strings instead. (The bus messages of chain/v1 keep raw bytes: they are
// not an API.) A service added to a file below is walked without changing this test; a new
// API file must be added to the list.
func TestAPIsHaveNoBytes(t *testing.T) {
	files := []protoreflect.FileDescriptor{
		stashv1.File_bcosdata_stash_v1_stash_proto,
		exportv1.File_bcosdata_export_v1_export_proto,
		reconcilev1.File_bcosdata_reconcile_v1_reconcile_proto,
		reconcilev1.File_bcosdata_reconcile_v1_evidence_proto,
		auditv1.File_bcosdata_audit_v1_audit_proto,
	}
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor, path string)
	walk = func(md protoreflect.MessageDescriptor, path string) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		fields := md.Fields()
		for i := range fields.Len() {
			f := fields.Get(i)
			switch {
			case f.Kind() == protoreflect.BytesKind:
				t.Errorf("%s.%s (%s) is bytes: JSON would show it as base64", path, f.Name(), md.FullName())
			case f.IsMap():
				if f.MapValue().Kind() == protoreflect.BytesKind {
					t.Errorf("%s.%s (%s) maps to bytes", path, f.Name(), md.FullName())
				}
				if m := f.MapValue().Message(); m != nil {
					walk(m, path+"."+string(f.Name()))
				}
			case f.Message() != nil:
				walk(f.Message(), path+"."+string(f.Name()))
			}
		}
	}
	services := 0
	for _, fd := range files {
		for i := range fd.Services().Len() {
			svc := fd.Services().Get(i)
			services++
			for j := range svc.Methods().Len() {
				m := svc.Methods().Get(j)
				walk(m.Input(), string(svc.Name())+"."+string(m.Name())+" request")
				walk(m.Output(), string(svc.Name())+"."+string(m.Name())+" response")
			}
		}
	}
	if services < len(files) {
		t.Fatalf("walked %d services in %d files: a file lost its service", services, len(files))
	}
	// Messages that hold hashes, addresses, keys or signatures deep inside the answers: the
	// walk must reach them, or it proves nothing about them.
	for _, name := range []protoreflect.FullName{
		"bcosdata.stash.v1.Transaction", "bcosdata.export.v1.Log", "bcosdata.export.v1.Param",
		"bcosdata.reconcile.v1.EvidenceRecord", "bcosdata.reconcile.v1.Proof", "bcosdata.reconcile.v1.Anchor",
		"bcosdata.audit.v1.AuditRecord",
	} {
		if !seen[name] {
			t.Errorf("the walk never reached %s", name)
		}
	}
}
