// Package evidence is the pure core of bcosdata's evidence log: signed records, their
// canonical encoding, RFC 6962 Merkle batches, the self-describing segment (archive) format and
// the inclusion proof a third party checks without our database. The chain side (anchoring a
// batch root in the Evidence contract and checking an anchor through go-sdk) is in the chain
// sub-package, so users of the formats do not pull in go-sdk.
//
// # Canonical encoding
//
// A record is signed over SigningBytes, a binary encoding with one layout and no options:
//
//	"bcosdata.evidence.record.v1" 0x00      domain tag, 28 bytes
//	field(Kind) field(ID) field(Publisher) field(Category) field(PayloadType)
//	PayloadHash                             32 bytes, SHA-256 of the payload
//	time(NotBefore) time(NotAfter)
//	field(Target)
//
// where field(s) is the length of s as a 4-byte big-endian unsigned integer followed by the
// UTF-8 bytes of s, and time(t) is one byte 0 for an open bound (the zero time.Time) or one
// byte 1 followed by t as Unix milliseconds in an 8-byte big-endian two's-complement integer.
// Only milliseconds are signed. The payload itself is never encoded, only its hash, so erasing
// a payload leaves the signature, the leaf hash and every proof valid.
//
// The signature is the crypto suite's consensus signature over Digest, the suite hash
// (keccak256 or SM3) of SigningBytes: 65 bytes r‖s‖v for ECDSA secp256k1, 128 bytes r‖s‖pub for
// SM2 (libs/fisco/cryptosuite).
//
// # Leaf hash, tree and batch id
//
// The Merkle entry of a record is SigningBytes ‖ Signature (SigningBytes is self-delimiting);
// its leaf hash is the RFC 6962 leaf hash SHA-256(0x00 ‖ entry). The records of one batch, in
// segment order, are the leaves of an RFC 6962 tree (SHA-256, interior nodes
// SHA-256(0x01 ‖ left ‖ right)); the root of an empty batch is SHA-256 of nothing. BatchID
// is SHA-256("bcosdata.evidence.batch.v1" 0x00 ‖ field(segment name) ‖ root).
//
// The segment file layout and the proof JSON are documented on WriteSegment and Proof, and all
// of it in docs/evidence.md.
package evidence
