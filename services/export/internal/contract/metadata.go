package contract

// solc appends CBOR-encoded metadata to the runtime code, followed by its length as two
// big-endian bytes: 0.6.x writes a map {"ipfs": bytes(34), "solc": bytes(3)}
// (a2 64 'ipfs' 58 22 … 64 'solc' 43 …), 0.4/0.5 a map {"bzzr0": bytes(32)} (a1 65 'bzzr0'
// 58 20 …). The metadata hashes the source and its settings (paths and comments included), so
// the same contract compiled elsewhere differs only there. Creation code ends with the runtime
// code, so its trailer is the last thing in a creation bytecode file too.

// maxCBORDepth bounds nesting so a hostile trailer cannot recurse deeply.
const maxCBORDepth = 8

// stripMetadata returns code without its metadata trailer, or code unchanged when it does not
// end with one (a compiler run with metadata off, or not solc at all).
func stripMetadata(code []byte) []byte {
	if len(code) < 2 {
		return code
	}
	n := int(code[len(code)-2])<<8 | int(code[len(code)-1])
	start := len(code) - 2 - n
	if n == 0 || start < 0 {
		return code
	}
	if end, ok := cborMap(code, start); ok && end == len(code)-2 {
		return code[:start]
	}
	return code
}

// metadataAt reports whether a metadata trailer (a CBOR map then its two-byte length) starts
// at code[start], and returns the offset just past it.
func metadataAt(code []byte, start int) (int, bool) {
	end, ok := cborMap(code, start)
	if !ok || end+2 > len(code) {
		return 0, false
	}
	n := int(code[end])<<8 | int(code[end+1])
	if n != end-start {
		return 0, false
	}
	return end + 2, true
}

// cborMap parses one definite-length CBOR map at b[i] and returns the offset past it.
func cborMap(b []byte, i int) (int, bool) {
	if i < 0 || i >= len(b) || b[i]>>5 != 5 {
		return 0, false
	}
	return cborItem(b, i, 0)
}

// cborItem skips one well-formed, definite-length CBOR data item at b[i]. Indefinite lengths,
// tags and floats do not occur in solc metadata and are refused.
func cborItem(b []byte, i, depth int) (int, bool) {
	if depth > maxCBORDepth || i >= len(b) {
		return 0, false
	}
	major, info := b[i]>>5, b[i]&0x1f
	i++
	var arg uint64
	switch {
	case info < 24:
		arg = uint64(info)
	case info <= 27:
		size := 1 << (info - 24)
		if i+size > len(b) {
			return 0, false
		}
		for _, c := range b[i : i+size] {
			arg = arg<<8 | uint64(c)
		}
		i += size
	default:
		return 0, false
	}
	switch major {
	case 0, 1: // unsigned, negative integer
		return i, true
	case 2, 3: // byte string, text string
		if arg > uint64(len(b)-i) {
			return 0, false
		}
		return i + int(arg), true
	case 4, 5: // array, map
		items := arg
		if major == 5 {
			if arg > uint64(len(b)) {
				return 0, false
			}
			items = arg * 2
		}
		if items > uint64(len(b)-i) {
			return 0, false
		}
		for range items {
			var ok bool
			if i, ok = cborItem(b, i, depth+1); !ok {
				return 0, false
			}
		}
		return i, true
	case 7: // simple values false, true, null
		return i, info >= 20 && info <= 22
	default:
		return 0, false
	}
}
