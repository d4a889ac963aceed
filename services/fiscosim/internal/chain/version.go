package chain

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a FISCO BCOS supported_version x.y.z, packed so versions compare as integers.
type Version uint32

// Versions at which node behaviour the simulator reproduces changes.
const (
	V2_2_0 Version = 2<<16 | 2<<8 // Merkle roots, raw block bytes in storage, ids from 100000
	V2_4_0 Version = 2<<16 | 4<<8 // evmFlags in the genesis mark
	V2_5_0 Version = 2<<16 | 5<<8 // raw code and codeHash rows
	V2_6_0 Version = 2<<16 | 6<<8 // _sys_hash_2_header_, consensus_timeout, header RPCs
	V2_7_0 Version = 2<<16 | 7<<8 // tx JSON extras, statusMsg, signatureList in blocks, batch receipts
	V2_9_0 Version = 2<<16 | 9<<8 // remainGas, 8-field receipts, per-tx gasUsed
)

// ParseVersion parses "x.y.z" with integer parts (the form go-sdk accepts as Supported Version).
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return 0, fmt.Errorf("parse version %q: want x.y.z", s)
	}
	var v uint32
	for _, p := range parts {
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return 0, fmt.Errorf("parse version %q: part %q: %w", s, p, err)
		}
		v = v<<8 | uint32(n)
	}
	return Version(v), nil
}

// String returns x.y.z.
func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d", v>>16&0xff, v>>8&0xff, v&0xff)
}

// AtLeast reports whether v ≥ o.
func (v Version) AtLeast(o Version) bool { return v >= o }
