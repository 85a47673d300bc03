package decrypt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"testing"

	"github.com/connect-secure-input/processor/internal/kmsesdk"
	"github.com/connect-secure-input/processor/internal/rsadtmf"
	"github.com/connect-secure-input/processor/internal/secret"
	"github.com/connect-secure-input/processor/internal/testkit/localkms"
	"github.com/connect-secure-input/processor/internal/testkit/vectors"
)

// The benchmarks below run in one `go test -bench` invocation so that their
// ratios come from the same machine state; docs/benchmarks.md records them.

// benchConnect decrypts the committed Connect vector with a 16-digit PAN
// under a key of the given size.
func benchConnect(b *testing.B, vectorName string) {
	m := vectors.Load(b)
	v := m.Vector(b, vectorName)
	key := m.ConnectKey(b, v.KeyID)
	keyring, err := rsadtmf.Load(context.Background(), []rsadtmf.KeySource{{KeyID: key.KeyID, PEM: secret.New(key.PrivatePEM(b))}})
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(Config{}, keyring, nil)
	if err != nil {
		b.Fatal(err)
	}
	text := string(v.Input(b))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := d.Decrypt(context.Background(), text)
		if err != nil {
			b.Fatal(err)
		}
		res.Plaintext.Wipe()
	}
}

func BenchmarkDecryptConnect2048(b *testing.B) { benchConnect(b, "connect-2048-pan16") }
func BenchmarkDecryptConnect4096(b *testing.B) { benchConnect(b, "connect-4096-pan16") }

// BenchmarkDecryptKMS decrypts a Lex-style token through local-kms on
// loopback; the KMS round trip is part of the cost.
func BenchmarkDecryptKMS(b *testing.B) {
	m := vectors.Load(b)
	srv := localkms.Start(b)
	srv.SetEnv(b)
	keyring, err := kmsesdk.New(context.Background(), kmsesdk.Config{KeyARNs: m.KMS.ConfiguredKeyARNs})
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(Config{}, nil, keyring)
	if err != nil {
		b.Fatal(err)
	}
	var text string
	for _, v := range m.Positive() {
		if v.Scheme == "kms" {
			text = string(v.Input(b))
			break
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := d.Decrypt(context.Background(), text)
		if err != nil {
			b.Fatal(err)
		}
		res.Plaintext.Wipe()
	}
}

// benchFloor is the cryptographic floor of one Connect message with the Go
// standard library: one RSA-OAEP-SHA512 private-key decrypt of a 32-byte
// data key and one ECDSA P-384 signature verification.
func benchFloor(b *testing.B, bits int) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		b.Fatal(err)
	}
	wrapped, err := rsa.EncryptOAEP(sha512.New(), rand.Reader, &rsaKey.PublicKey, make([]byte, 32), nil)
	if err != nil {
		b.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha512.Sum384([]byte("message header and body"))
	sig, err := ecdsa.SignASN1(rand.Reader, ecKey, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	opts := &rsa.OAEPOptions{Hash: crypto.SHA512, MGFHash: crypto.SHA512}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := rsaKey.Decrypt(rand.Reader, wrapped, opts); err != nil {
			b.Fatal(err)
		}
		if !ecdsa.VerifyASN1(&ecKey.PublicKey, digest[:], sig) {
			b.Fatal("signature did not verify")
		}
	}
}

func BenchmarkCryptoFloor2048(b *testing.B) { benchFloor(b, 2048) }
func BenchmarkCryptoFloor4096(b *testing.B) { benchFloor(b, 4096) }
