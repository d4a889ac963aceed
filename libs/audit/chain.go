package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// Record is one row of a trail: one authorization decision.
type Record struct {
	Seq       uint64
	Time      time.Time
	Subject   string
	Roles     []string
	Via       string
	Peer      string
	RPC       string
	Resource  string
	Allowed   bool
	Reason    string
	RequestID string
	PrevHash  []byte
	Hash      []byte
}

// genesis is the prev_hash of a trail's first record.
var genesis = make([]byte, sha256.Size)

// contentVersion prefixes the canonical content, so a later change of the encoding is a new
// version rather than a silent break of every old chain.
const contentVersion = "bcosdata.audit.v1\x00"

// ChainHash returns SHA-256(prev || canonical content of r) for the trail of service. The
// content is every field but the hashes, each length-prefixed, with the time in microseconds
// (what PostgreSQL stores), so the same row always hashes the same.
func ChainHash(service string, prev []byte, r Record) []byte {
	h := sha256.New()
	h.Write(prev)
	var b []byte
	b = append(b, contentVersion...)
	b = appendString(b, service)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixMicro()))
	for _, s := range []string{r.Subject, r.Via, r.Peer, r.RPC, r.Resource, r.Reason, r.RequestID} {
		b = appendString(b, s)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Roles)))
	for _, s := range r.Roles {
		b = appendString(b, s)
	}
	if r.Allowed {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	h.Write(b)
	return h.Sum(nil)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
