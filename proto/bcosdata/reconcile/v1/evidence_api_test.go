package reconcilev1_test

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
)

// TestEvidenceAPIHasNoBytes walks every request and response of EvidenceService, nested
// messages included, and fails on a bytes field: JSON shows bytes as base64, while hashes,
// keys and signatures are read as 0x hex.
func TestEvidenceAPIHasNoBytes(t *testing.T) {
	svc := reconcilev1.File_bcosdata_reconcile_v1_evidence_proto.Services().ByName("EvidenceService")
	if svc == nil || svc.Methods().Len() == 0 {
		t.Fatal("EvidenceService has no methods in the file descriptor")
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
	methods := svc.Methods()
	for i := range methods.Len() {
		m := methods.Get(i)
		walk(m.Input(), string(m.Name())+" request")
		walk(m.Output(), string(m.Name())+" response")
	}
	for _, name := range []protoreflect.FullName{"bcosdata.reconcile.v1.EvidenceRecord", "bcosdata.reconcile.v1.Proof", "bcosdata.reconcile.v1.Anchor", "bcosdata.reconcile.v1.Finding"} {
		if !seen[name] {
			t.Errorf("the walk never reached %s", name)
		}
	}
}
