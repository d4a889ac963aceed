package contract

import (
	"fmt"

	"github.com/ethereum/go-ethereum/accounts/abi"
)

// go-ethereum v1.9.16 sizes a static array of static tuples, e.g. (uint256,uint256)[2], as 32
// bytes per element when it steps over it (getTypeSize), so every value after one decodes from
// the wrong offset, silently. Its elements it steps correctly. A static array of k static
// tuples is encoded exactly like a static tuple of k such tuples, which it sizes right, so the
// decoder is given that tuple instead (decodeType); values are still converted with the ABI's
// own type, whose JSON walker accepts the tuple's fields as the array's elements.

// decodeType returns t with every static array of static tuples turned into a tuple.
func decodeType(t abi.Type) (abi.Type, error) {
	if !hasStaticTupleArray(t) {
		return t, nil
	}
	typ, comps := marshalFixed(t)
	fixed, err := abi.NewType(typ, "", comps)
	if err != nil {
		return abi.Type{}, fmt.Errorf("rewrite %s for decoding: %w", t.String(), err)
	}
	return fixed, nil
}

func hasStaticTupleArray(t abi.Type) bool {
	switch t.T {
	case abi.ArrayTy:
		if t.Elem.T == abi.TupleTy && !isDynamic(*t.Elem) {
			return true
		}
		return hasStaticTupleArray(*t.Elem)
	case abi.SliceTy:
		return hasStaticTupleArray(*t.Elem)
	case abi.TupleTy:
		for _, e := range t.TupleElems {
			if hasStaticTupleArray(*e) {
				return true
			}
		}
	}
	return false
}

// marshalFixed describes t as go-ethereum's JSON argument form, with the rewrite applied.
func marshalFixed(t abi.Type) (string, []abi.ArgumentMarshaling) {
	switch t.T {
	case abi.TupleTy:
		comps := make([]abi.ArgumentMarshaling, len(t.TupleElems))
		for i, e := range t.TupleElems {
			typ, sub := marshalFixed(*e)
			comps[i] = abi.ArgumentMarshaling{Name: t.TupleRawNames[i], Type: typ, Components: sub}
		}
		return "tuple", comps
	case abi.ArrayTy:
		typ, sub := marshalFixed(*t.Elem)
		if typ == "tuple" && !isDynamic(*t.Elem) { // a static tuple, or a static array made one
			comps := make([]abi.ArgumentMarshaling, t.Size)
			for i := range comps {
				comps[i] = abi.ArgumentMarshaling{Name: fmt.Sprintf("e%d", i), Type: typ, Components: sub}
			}
			return "tuple", comps
		}
		return fmt.Sprintf("%s[%d]", typ, t.Size), sub
	case abi.SliceTy:
		typ, sub := marshalFixed(*t.Elem)
		return typ + "[]", sub
	}
	return t.String(), nil
}
