package decrypt

import (
	"context"
	"sync"
	"testing"

	"github.com/connect-secure-input/processor/internal/testkit/vectors"
)

// TestConcurrentDecrypts runs both paths from several goroutines at once;
// with -race it checks that the shared keyrings are safe to share.
func TestConcurrentDecrypts(t *testing.T) {
	m := vectors.Load(t)
	d := vectorDecrypter(t, m)
	var texts []string
	for _, name := range []string{"connect-2048-pan16", "connect-3072-pan16"} {
		texts = append(texts, string(m.Vector(t, name).Input(t)))
	}
	for _, v := range m.Positive() {
		if v.Scheme == "kms" {
			texts = append(texts, string(v.Input(t)))
		}
	}
	var wg sync.WaitGroup
	for i := range 4 {
		for _, text := range texts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := d.Decrypt(context.Background(), text)
				if err != nil {
					t.Errorf("goroutine %d: %v", i, err)
					return
				}
				res.Plaintext.Wipe()
			}()
		}
	}
	wg.Wait()
}
