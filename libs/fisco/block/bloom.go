package block

import (
	"encoding/hex"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// BloomLen is the size of a logs bloom: 2048 bits.
const BloomLen = 256

// Bloom is Ethereum's bloom9 filter with the suite's hash (keccak256, or SM3 on SM chains).
type Bloom [BloomLen]byte

// Add sets the three bits of item: for h = Hash(item) and i = 0, 2, 4, bit
// (h[i]<<8 | h[i+1]) & 2047, counted from the last byte.
func (b *Bloom) Add(s *cryptosuite.Suite, item []byte) {
	h := s.Hash(item)
	for i := 0; i < 6; i += 2 {
		bit := (uint(h[i])<<8 | uint(h[i+1])) & 2047
		b[BloomLen-1-bit/8] |= 1 << (bit % 8)
	}
}

// Test reports whether item's three bits are all set (false positives are possible).
func (b *Bloom) Test(s *cryptosuite.Suite, item []byte) bool {
	var one Bloom
	one.Add(s, item)
	for i := range one {
		if one[i]&b[i] != one[i] {
			return false
		}
	}
	return true
}

// Or merges other into b.
func (b *Bloom) Or(other Bloom) {
	for i := range b {
		b[i] |= other[i]
	}
}

// String returns 0x and 512 hex digits, as the RPC prints it.
func (b Bloom) String() string { return "0x" + hex.EncodeToString(b[:]) }

// LogsBloom returns the bloom of logs: each log's address and every topic added.
func LogsBloom(s *cryptosuite.Suite, logs []Log) Bloom {
	var b Bloom
	for i := range logs {
		b.Add(s, logs[i].Address[:])
		for _, t := range logs[i].Topics {
			b.Add(s, t[:])
		}
	}
	return b
}
