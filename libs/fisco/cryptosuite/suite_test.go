package cryptosuite_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

func suites() []*cryptosuite.Suite {
	return []*cryptosuite.Suite{cryptosuite.ECDSA(), cryptosuite.SM()}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	if len(s) >= 2 && s[:2] == "0x" {
		s = s[2:]
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("decode hex %q: %v", s, err)
	}
	return b
}

func TestNewSelectsSuiteByName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr error
		sigLen  int
	}{
		{name: "ecdsa", sigLen: 65},
		{name: "sm", sigLen: 128},
		{name: "SM", wantErr: cryptosuite.ErrUnknownSuite},
		{name: "", wantErr: cryptosuite.ErrUnknownSuite},
		{name: "gm", wantErr: cryptosuite.ErrUnknownSuite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := cryptosuite.New(tt.name)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New(%q) error = %v, want %v", tt.name, err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if s.Name() != tt.name || s.SignatureLen() != tt.sigLen {
				t.Errorf("New(%q) = %s with %d-byte signatures, want %d", tt.name, s.Name(), s.SignatureLen(), tt.sigLen)
			}
		})
	}
}

// Expected digests are published test vectors: keccak256 (the pre-NIST Keccak Ethereum uses)
// and SM3 (GB/T 32905-2016 example 1 for "abc").
func TestHashMatchesPublishedVectors(t *testing.T) {
	tests := []struct {
		suite *cryptosuite.Suite
		parts [][]byte
		want  string
	}{
		{cryptosuite.ECDSA(), nil, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"},
		{cryptosuite.ECDSA(), [][]byte{[]byte("abc")}, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"},
		{cryptosuite.ECDSA(), [][]byte{[]byte("a"), nil, []byte("bc")}, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"},
		{cryptosuite.SM(), nil, "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"},
		{cryptosuite.SM(), [][]byte{[]byte("abc")}, "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"},
		{cryptosuite.SM(), [][]byte{[]byte("ab"), []byte("c")}, "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"},
	}
	for _, tt := range tests {
		t.Run(tt.suite.Name()+"/"+string(bytes.Join(tt.parts, []byte("|"))), func(t *testing.T) {
			if got := tt.suite.Hash(tt.parts...); hex.EncodeToString(got[:]) != tt.want {
				t.Errorf("Hash = %x, want %s", got, tt.want)
			}
		})
	}
}

// The secp256k1 key with scalar 1 has the generator as public key; its Ethereum address is a
// widely published constant.
func TestECDSAKeyAndAddressOfScalarOne(t *testing.T) {
	s := cryptosuite.ECDSA()
	d := make([]byte, 32)
	d[31] = 1
	k, err := s.PrivateKeyFromBytes(d)
	if err != nil {
		t.Fatal(err)
	}
	wantPub := "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798" +
		"483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"
	if got := k.PublicKey().String(); got != wantPub {
		t.Errorf("public key = %s, want %s", got, wantPub)
	}
	if got := s.Address(k.PublicKey()); got != common.HexToAddress("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf") {
		t.Errorf("address = %s", got.Hex())
	}
	if !bytes.Equal(k.Bytes(), d) {
		t.Errorf("Bytes = %x, want %x", k.Bytes(), d)
	}
}

func TestPrivateKeyFromBytesRejectsOutOfRange(t *testing.T) {
	secpN := mustHex(t, "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
	sm2N := mustHex(t, "fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123")
	sm2NMinus1 := new(big.Int).Sub(new(big.Int).SetBytes(sm2N), big.NewInt(1)).Bytes()
	tests := []struct {
		name  string
		suite *cryptosuite.Suite
		d     []byte
	}{
		{"ecdsa zero", cryptosuite.ECDSA(), make([]byte, 32)},
		{"ecdsa n", cryptosuite.ECDSA(), secpN},
		{"ecdsa short", cryptosuite.ECDSA(), []byte{1}},
		{"sm zero", cryptosuite.SM(), make([]byte, 32)},
		{"sm n", cryptosuite.SM(), sm2N},
		{"sm n-1 (1+d not invertible)", cryptosuite.SM(), sm2NMinus1},
		{"sm long", cryptosuite.SM(), make([]byte, 33)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.suite.PrivateKeyFromBytes(tt.d); !errors.Is(err, cryptosuite.ErrInvalidPrivateKey) {
				t.Errorf("PrivateKeyFromBytes(%x) error = %v, want ErrInvalidPrivateKey", tt.d, err)
			}
		})
	}
}

func TestKeyFromSeedIsDeterministicPerSuite(t *testing.T) {
	for _, s := range suites() {
		t.Run(s.Name(), func(t *testing.T) {
			a, err := s.KeyFromSeed([]byte("sealer-0"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := s.KeyFromSeed([]byte("sealer-0"))
			c, _ := s.KeyFromSeed([]byte("sealer-1"))
			if a.PublicKey() != b.PublicKey() || !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Error("same seed gave different keys")
			}
			if a.PublicKey() == c.PublicKey() {
				t.Error("different seeds gave the same key")
			}
			// The scalar is the first in-range Hash(seed ‖ u32(0)) — recompute it independently.
			if want := s.Hash([]byte("sealer-0"), []byte{0, 0, 0, 0}); !bytes.Equal(a.Bytes(), want[:]) {
				t.Errorf("scalar = %x, want Hash(seed‖0) = %x", a.Bytes(), want)
			}
		})
	}
	e, _ := cryptosuite.ECDSA().KeyFromSeed([]byte("x"))
	m, _ := cryptosuite.SM().KeyFromSeed([]byte("x"))
	if bytes.Equal(e.Bytes(), m.Bytes()) {
		t.Error("the two suites derived the same scalar from one seed")
	}
}

// chunkReader returns its chunks in order, then fails.
type chunkReader struct{ chunks [][]byte }

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, errors.New("exhausted")
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	if len(r.chunks[0]) == 0 {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

func TestGenerateKeyReadsFixedCandidatesAndSkipsInvalid(t *testing.T) {
	good := bytes.Repeat([]byte{0x42}, 32)
	for _, s := range suites() {
		t.Run(s.Name(), func(t *testing.T) {
			r := &chunkReader{chunks: [][]byte{make([]byte, 32), bytes.Repeat([]byte{0xff}, 32), good}}
			k, err := s.GenerateKey(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(k.Bytes(), good) {
				t.Errorf("scalar = %x, want the first valid candidate %x", k.Bytes(), good)
			}
			want, _ := s.PrivateKeyFromBytes(good)
			if k.PublicKey() != want.PublicKey() {
				t.Error("public key differs from the one PrivateKeyFromBytes gives")
			}
			if _, err := s.GenerateKey(&chunkReader{}); err == nil {
				t.Error("GenerateKey with a failing reader succeeded")
			}
			if _, err := s.GenerateKey(nil); err != nil {
				t.Errorf("GenerateKey(nil) = %v, want a crypto/rand key", err)
			}
		})
	}
}

func TestParsePublicKey(t *testing.T) {
	id := "4ca3a91a4937355dba6a2e5fe76141479a1fc44e9caa86750092dab64e0b8382f6b8476749c2d2de414350a54491620d38813d2a1442f524e36e3d9946109c4d"
	for _, in := range []string{id, "0x" + id} {
		p, err := cryptosuite.ParsePublicKey(in)
		if err != nil || p.String() != id {
			t.Errorf("ParsePublicKey(%.10s…) = %s, %v", in, p, err)
		}
	}
	for _, bad := range []string{id[:126], id + "00", "zz" + id[2:]} {
		if _, err := cryptosuite.ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%.10s… len %d) succeeded", bad, len(bad))
		}
	}
}

func TestKeyOfOtherSuiteIsRefused(t *testing.T) {
	smKey, _ := cryptosuite.SM().KeyFromSeed([]byte("k"))
	ecKey, _ := cryptosuite.ECDSA().KeyFromSeed([]byte("k"))
	if _, err := cryptosuite.ECDSA().Sign(smKey, common.Hash{1}); !errors.Is(err, cryptosuite.ErrSuiteMismatch) {
		t.Errorf("ECDSA Sign with SM key: %v", err)
	}
	if _, err := cryptosuite.SM().SignTx(ecKey, common.Hash{1}); !errors.Is(err, cryptosuite.ErrSuiteMismatch) {
		t.Errorf("SM SignTx with ECDSA key: %v", err)
	}
	if _, err := cryptosuite.SM().Sign(nil, common.Hash{1}); !errors.Is(err, cryptosuite.ErrInvalidPrivateKey) {
		t.Errorf("Sign with nil key: %v", err)
	}
}
