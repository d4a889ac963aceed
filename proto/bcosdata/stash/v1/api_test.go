package stashv1_test

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
)

// TestAPIHasNoBytes walks every request and response of StashService, nested messages
// included, and fails on a bytes field: JSON shows bytes as base64, which nobody reading a
// hash or an address can use. The API carries 0x hex and decimal strings instead.
func TestAPIHasNoBytes(t *testing.T) {
	svc := stashv1.File_bcosdata_stash_v1_stash_proto.Services().ByName("StashService")
	if svc == nil || svc.Methods().Len() == 0 {
		t.Fatal("StashService has no methods in the file descriptor")
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
	// The walk must reach the block view and the row view, or it proves nothing.
	for _, name := range []protoreflect.FullName{"bcosdata.stash.v1.Transaction", "bcosdata.stash.v1.FieldValue", "bcosdata.chain.v1.Verification"} {
		if !seen[name] {
			t.Errorf("the walk never reached %s", name)
		}
	}
}
