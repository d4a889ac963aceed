package block_test

import (
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// A simulator seals a block: seeded keys, a signed transaction, its receipt, roots and hash
// from Assemble, then 2f+1 sealer signatures. A verifier decodes and checks it.
func ExampleAssemble() {
	s := cryptosuite.SM() // or cryptosuite.ECDSA()
	var sealers []*cryptosuite.PrivateKey
	header := &block.Header{Number: 1, Timestamp: 1_700_000_000_000, Sealer: 0}
	for i := range 4 {
		k, _ := s.KeyFromSeed(fmt.Appendf(nil, "sealer-%d", i))
		sealers = append(sealers, k)
		header.SealerList = append(header.SealerList, k.PublicKey())
	}
	user, _ := s.KeyFromSeed([]byte("user"))

	to := common.HexToAddress("0x8c17cf316c1063ab6c89df875e96c9f0f5b2f744")
	tx := &block.Transaction{Nonce: big.NewInt(1), BlockLimit: big.NewInt(501), To: &to,
		Data: []byte{0x4e, 0xd3, 0x88, 0x5e}, ChainID: big.NewInt(1), GroupID: big.NewInt(1)}
	if err := tx.Sign(s, user); err != nil {
		panic(err)
	}
	receipt := &block.Receipt{StateRoot: header.StateRoot, GasUsed: big.NewInt(21000)}
	receipt.Bloom = receipt.ComputeBloom(s)

	blk, err := block.Assemble(s, header, []*block.Transaction{tx}, []*block.Receipt{receipt}, block.MerkleRoots)
	if err != nil {
		panic(err)
	}
	for i := range 3 {
		if err := blk.Sign(s, uint64(i), sealers[i]); err != nil {
			panic(err)
		}
	}
	raw, _ := blk.Encode()

	got, err := block.DecodeBlock(raw)
	if err != nil {
		panic(err)
	}
	from, _ := got.Transactions[0].Sender(s)
	fmt.Println("hash:", got.VerifyHash(s) == nil)
	fmt.Println("signatures:", got.VerifySignatures(s) == nil)
	fmt.Println("roots:", got.VerifyRoots(s, block.MerkleRoots) == nil)
	fmt.Println("sender is user:", from == s.Address(user.PublicKey()))
	// Output:
	// hash: true
	// signatures: true
	// roots: true
	// sender is user: true
}
