// Package block holds the FISCO BCOS 2.x block, header, transaction, receipt and log types and
// their exact RLP codecs, plus what is computed from them: block, transaction and receipt
// hashes, signing hashes and senders, transaction and receipt roots (both the v2.2.0+ Merkle
// rule and the older RC2 rule), logs blooms, and consensus signature checks.
//
// Decoding is strict (canonical RLP, exact field sizes and counts) and decoded values remember
// their input bytes, so hashes are always taken over the bytes as received and re-encoding
// reproduces them exactly. Values built in code (as the simulator does) encode canonically, the
// way the node does. Hashing and signatures go through a cryptosuite.Suite, which selects
// keccak256/secp256k1 or SM3/SM2.
//
// Building a block:
//
//	tx := &block.Transaction{Nonce: n, BlockLimit: big.NewInt(num + 500), To: &to, Data: input,
//		ChainID: big.NewInt(1), GroupID: big.NewInt(1)}
//	_ = tx.Sign(suite, userKey)
//	blk, _ := block.Assemble(suite, header, txs, receipts, block.MerkleRoots)
//	_ = blk.Sign(suite, 0, sealerKey0) // one per signing sealer
//	raw, _ := blk.Encode()
package block
