package evidence

import "crypto/sha256"

const batchTag = "bcosdata.evidence.batch.v1\x00"

// BatchID returns the id a batch is anchored under: SHA-256("bcosdata.evidence.batch.v1" 0x00 ‖
// u32be(len(segment)) ‖ segment ‖ root). It binds the segment name to the root, so the same
// root under another name (or another root under the same name) is another batch.
func BatchID(segment string, root [32]byte) [32]byte {
	b := make([]byte, 0, len(batchTag)+4+len(segment)+32)
	b = append(b, batchTag...)
	b = appendField(b, segment)
	b = append(b, root[:]...)
	return sha256.Sum256(b)
}
