package contract

import (
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
)

// ABI encoding lets many offsets point at the same bytes, so a 60 KB call input can describe a
// string[] of a thousand copies of one 30 KB string, and go-ethereum would allocate every copy
// (then this package would hex- and JSON-encode them). Anyone can send such an input to a
// registered contract's method, so before decoding, checkBudget walks the encoding exactly as
// go-ethereum v1.9.16 will (same offsets, same sizes, its quirks included) without allocating,
// and refuses data whose decoded values would exceed twice its size plus a small allowance.
// An honest encoding never comes near: each word and each content byte is decoded once.

// errBudget reports an encoding whose decoded values would be far larger than it.
var errBudget = errors.New("decoded values would be far larger than the encoding (overlapping offsets)")

// errShort reports an offset or length outside the data; go-ethereum would refuse it too.
var errShort = errors.New("offset or length outside the data")

const budgetAllowance = 4096

// checkBudget walks the non-indexed arguments' encoding in data.
func checkBudget(args abi.Arguments, data []byte) error {
	budget := 2*len(data) + budgetAllowance
	virtual := 0
	for i, arg := range args.NonIndexed() {
		if err := walk(arg.Type, data, (i+virtual)*32, &budget); err != nil {
			return err
		}
		if (arg.Type.T == abi.ArrayTy || arg.Type.T == abi.TupleTy) && !isDynamic(arg.Type) {
			virtual += typeSize(arg.Type)/32 - 1
		}
	}
	return nil
}

// walk mirrors go-ethereum's toGoType at output[index:], spending budget per value.
func walk(t abi.Type, out []byte, index int, budget *int) error {
	if *budget -= 32; *budget < 0 {
		return errBudget
	}
	if index < 0 || index+32 > len(out) {
		return errShort
	}
	switch t.T {
	case abi.StringTy, abi.BytesTy, abi.SliceTy:
		begin, length, err := lengthPrefix(out, index)
		if err != nil {
			return err
		}
		if t.T != abi.SliceTy {
			if *budget -= length; *budget < 0 {
				return errBudget
			}
			return nil
		}
		return walkElems(*t.Elem, out[begin:], length, budget)
	case abi.ArrayTy:
		if isDynamic(*t.Elem) {
			// go-ethereum reads this offset from the word's last 8 bytes, unchecked.
			w := out[index+24 : index+32]
			off := int64(0)
			for _, b := range w {
				off = off<<8 | int64(b)
			}
			if off < 0 || off > int64(len(out)) {
				return errShort
			}
			return walkElems(*t.Elem, out[off:], t.Size, budget)
		}
		return walkElems(*t.Elem, out[index:], t.Size, budget)
	case abi.TupleTy:
		base := out[index:]
		if isDynamic(t) {
			off := new(big.Int).SetBytes(out[index : index+32])
			if !off.IsInt64() || off.Int64() > int64(len(out)) {
				return errShort
			}
			base = out[off.Int64():]
		}
		virtual := 0
		for i, e := range t.TupleElems {
			if err := walk(*e, base, (i+virtual)*32, budget); err != nil {
				return err
			}
			if (e.T == abi.ArrayTy || e.T == abi.TupleTy) && !isDynamic(*e) {
				virtual += typeSize(*e)/32 - 1
			}
		}
	}
	return nil
}

// walkElems mirrors forEachUnpack.
func walkElems(elem abi.Type, out []byte, size int, budget *int) error {
	if size < 0 || size > len(out)/32 {
		return errShort
	}
	step := typeSize(elem)
	for j := range size {
		if err := walk(elem, out, j*step, budget); err != nil {
			return err
		}
	}
	return nil
}

// lengthPrefix mirrors lengthPrefixPointsTo: the content's start and length.
func lengthPrefix(out []byte, index int) (int, int, error) {
	off := new(big.Int).SetBytes(out[index : index+32])
	if !off.IsInt64() || off.Int64() > int64(len(out))-32 {
		return 0, 0, errShort
	}
	begin := int(off.Int64()) + 32
	length := new(big.Int).SetBytes(out[begin-32 : begin])
	if !length.IsInt64() || length.Int64() > int64(len(out)-begin) {
		return 0, 0, errShort
	}
	return begin, int(length.Int64()), nil
}

// isDynamic is go-ethereum's isDynamicType.
func isDynamic(t abi.Type) bool {
	switch t.T {
	case abi.TupleTy:
		for _, e := range t.TupleElems {
			if isDynamic(*e) {
				return true
			}
		}
		return false
	case abi.ArrayTy:
		return isDynamic(*t.Elem)
	}
	return t.T == abi.StringTy || t.T == abi.BytesTy || t.T == abi.SliceTy
}

// typeSize is go-ethereum v1.9.16's getTypeSize, quirk included: a static array of static
// tuples counts 32 bytes per element.
func typeSize(t abi.Type) int {
	if t.T == abi.ArrayTy && !isDynamic(*t.Elem) {
		if t.Elem.T == abi.ArrayTy {
			return t.Size * typeSize(*t.Elem)
		}
		return t.Size * 32
	}
	if t.T == abi.TupleTy && !isDynamic(t) {
		total := 0
		for _, e := range t.TupleElems {
			total += typeSize(*e)
		}
		return total
	}
	return 32
}
