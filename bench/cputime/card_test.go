package cputime

import (
	"context"
	"sync"
	"testing"

	"github.com/connect-secure-input/processor/internal/decrypt"
	"github.com/connect-secure-input/processor/internal/rsadtmf"
	"github.com/connect-secure-input/processor/internal/secret"
	"github.com/connect-secure-input/processor/internal/testkit/vectors"
)

// cardVectors are the three Connect messages of one authorization under the
// 2048-bit key: PAN, expiry and CVV.
var cardVectors = []string{"connect-2048-pan16", "connect-2048-expiry", "connect-2048-cvv3"}

// loadCard returns a decrypter with the 2048-bit test key and the texts of
// cardVectors.
func loadCard(b *testing.B) (*decrypt.Decrypter, []string) {
	b.Helper()
	m := vectors.Load(b)
	var texts []string
	for _, name := range cardVectors {
		texts = append(texts, string(m.Vector(b, name).Input(b)))
	}
	key := m.ConnectKey(b, m.Vector(b, cardVectors[0]).KeyID)
	keyring, err := rsadtmf.Load(context.Background(), []rsadtmf.KeySource{{KeyID: key.KeyID, PEM: secret.New(key.PrivatePEM(b))}})
	if err != nil {
		b.Fatal(err)
	}
	d, err := decrypt.New(decrypt.Config{}, keyring, nil)
	if err != nil {
		b.Fatal(err)
	}
	return d, texts
}

func decryptOne(b *testing.B, d *decrypt.Decrypter, text string) {
	res, err := d.Decrypt(context.Background(), text)
	if err != nil {
		b.Error(err)
		return
	}
	res.Plaintext.Wipe()
}

// BenchmarkCardSequential decrypts the three fields of one card one after
// the other, as an authorization request does; ns/op is its latency.
func BenchmarkCardSequential(b *testing.B) {
	d, texts := loadCard(b)
	loop(b, func() {
		for _, text := range texts {
			decryptOne(b, d, text)
		}
	})
}

// BenchmarkCardConcurrent decrypts the three fields at once, one goroutine
// each, to estimate the latency an authorization would gain from it with
// GOMAXPROCS cores free.
func BenchmarkCardConcurrent(b *testing.B) {
	d, texts := loadCard(b)
	loop(b, func() {
		var wg sync.WaitGroup
		for _, text := range texts {
			wg.Go(func() { decryptOne(b, d, text) })
		}
		wg.Wait()
	})
}
