// Package cputime measures the Go crypto floor and the service's Connect
// decrypt in CPU time per operation as well as wall time. The benchmarks of
// internal/decrypt report wall time only, which on a machine shared with
// other processes counts the time this process waited for a core. The CPU
// time of the process (user plus system, all threads, GC included) is the
// cost per core whatever else runs, so bench/run.sh compares the Go and Node
// figures in both.
//
// The operations are the same as in internal/decrypt/bench_test.go: the
// committed Connect vectors with a 16-digit PAN, and one RSA-OAEP-SHA512
// decrypt of a 32-byte data key plus one ECDSA P-384 verify for the floor.
package cputime

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"syscall"
	"testing"
	"time"

	"github.com/connect-secure-input/processor/internal/decrypt"
	"github.com/connect-secure-input/processor/internal/rsadtmf"
	"github.com/connect-secure-input/processor/internal/secret"
	"github.com/connect-secure-input/processor/internal/testkit/vectors"
)

// processCPU returns the CPU time the process has used so far.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs op in a b.Loop and reports the process CPU time per operation as
// the "cpu-ns/op" metric next to the wall-clock ns/op.
func loop(b *testing.B, op func()) {
	b.Helper()
	b.ReportAllocs()
	start := processCPU(b)
	n := 0
	for b.Loop() {
		op()
		n++
	}
	b.ReportMetric(float64(processCPU(b)-start)/float64(n), "cpu-ns/op")
}

func benchConnect(b *testing.B, vectorName string) {
	m := vectors.Load(b)
	v := m.Vector(b, vectorName)
	key := m.ConnectKey(b, v.KeyID)
	keyring, err := rsadtmf.Load(context.Background(), []rsadtmf.KeySource{{KeyID: key.KeyID, PEM: secret.New(key.PrivatePEM(b))}})
	if err != nil {
		b.Fatal(err)
	}
	d, err := decrypt.New(decrypt.Config{}, keyring, nil)
	if err != nil {
		b.Fatal(err)
	}
	text := string(v.Input(b))
	ctx := context.Background()
	loop(b, func() {
		res, err := d.Decrypt(ctx, text)
		if err != nil {
			b.Fatal(err)
		}
		res.Plaintext.Wipe()
	})
}

func BenchmarkCPUDecryptConnect2048(b *testing.B) { benchConnect(b, "connect-2048-pan16") }
func BenchmarkCPUDecryptConnect4096(b *testing.B) { benchConnect(b, "connect-4096-pan16") }

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
	loop(b, func() {
		if _, err := rsaKey.Decrypt(rand.Reader, wrapped, opts); err != nil {
			b.Fatal(err)
		}
		if !ecdsa.VerifyASN1(&ecKey.PublicKey, digest[:], sig) {
			b.Fatal("signature did not verify")
		}
	})
}

func BenchmarkCPUCryptoFloor2048(b *testing.B) { benchFloor(b, 2048) }
func BenchmarkCPUCryptoFloor4096(b *testing.B) { benchFloor(b, 4096) }
