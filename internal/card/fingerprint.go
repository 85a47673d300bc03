package card

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/connect-secure-input/processor/internal/secret"
)

// MinFingerprintKeyLength is the shortest fingerprint key accepted, in bytes:
// the output size of SHA-256, as RFC 2104 recommends for HMAC keys.
const MinFingerprintKeyLength = sha256.Size

// FingerprintLength is the length of a fingerprint in hex characters. It is
// the first 16 bytes (128 bits) of the HMAC-SHA256 of the PAN's digits, which
// makes collisions between distinct cards negligible at any realistic volume.
const FingerprintLength = 32

// Fingerprinter computes keyed fingerprints of PANs, so that log lines and
// records can be matched to one card without storing it. It is an HMAC and
// never a plain hash, because the PAN space is small. With the BIN and last
// four digits that Masked shows, a 16-digit PAN has four unknown digits, and
// the Luhn check fixes one of them. An unkeyed hash would give the PAN back
// after at most 1,000 guesses.
//
// A Fingerprinter is safe for concurrent use.
type Fingerprinter struct {
	key secret.Value
}

// NewFingerprinter returns a Fingerprinter with a copy of key, which must be
// at least MinFingerprintKeyLength bytes. Fingerprints from two processes
// match only when they share the key, so configure one key for every task
// whose fingerprints are compared.
func NewFingerprinter(key []byte) (*Fingerprinter, error) {
	if len(key) < MinFingerprintKeyLength {
		return nil, fmt.Errorf("card: fingerprint key has %d bytes, need at least %d", len(key), MinFingerprintKeyLength)
	}
	return &Fingerprinter{key: secret.Copy(key)}, nil
}

// NewRandomFingerprinter returns a Fingerprinter with a random key of its
// own, for a process whose fingerprints are compared only with each other.
func NewRandomFingerprinter() *Fingerprinter {
	key := make([]byte, MinFingerprintKeyLength)
	// crypto/rand.Read never returns an error since Go 1.24; it crashes the
	// program if the system's random source fails.
	_, _ = rand.Read(key)
	return &Fingerprinter{key: secret.New(key)}
}

// Fingerprint returns the fingerprint of pan's digits, or "" for the zero or
// a wiped PAN.
func (f *Fingerprinter) Fingerprint(pan PAN) string {
	return f.FingerprintDigits(pan.Digits().Bytes())
}

// FingerprintDigits returns the lower-case hex fingerprint of digits, which
// must be the PAN's digits alone (no terminator), or "" when digits is
// empty, so that a wiped PAN never matches a real one.
func (f *Fingerprinter) FingerprintDigits(digits []byte) string {
	if len(digits) == 0 {
		return ""
	}
	mac := hmac.New(sha256.New, f.key.Bytes())
	mac.Write(digits)
	var sum [sha256.Size]byte
	mac.Sum(sum[:0])

	// The inner SHA-256 keeps the digits in its partial-block buffer after
	// Sum. Writing one block of zeros processes that buffer and overwrites
	// it, so the discarded hash state holds only derived bytes.
	// NOTE: the copy of the state that SHA-256's Sum makes on the stack is
	// out of reach; docs/vault-memory.md describes that residual risk.
	var zeros [sha256.BlockSize]byte
	mac.Write(zeros[:])

	return hex.EncodeToString(sum[:FingerprintLength/2])
}
