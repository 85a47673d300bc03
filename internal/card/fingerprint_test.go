package card

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func testKey(fill byte) []byte {
	key := make([]byte, MinFingerprintKeyLength)
	for i := range key {
		key[i] = fill
	}
	return key
}

func TestNewFingerprinterKeyLength(t *testing.T) {
	tests := []struct {
		name    string
		keyLen  int
		wantErr bool
	}{
		{"empty", 0, true},
		{"one byte short", MinFingerprintKeyLength - 1, true},
		{"minimum", MinFingerprintKeyLength, false},
		{"longer", 64, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewFingerprinter(make([]byte, tt.keyLen))
			if (err != nil) != tt.wantErr {
				t.Errorf("NewFingerprinter(%d bytes) err = %v, wantErr %v", tt.keyLen, err, tt.wantErr)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	pan, err := ValidatePAN(value("4111111111111111"))
	wantCode(t, err, "")
	other, err := ValidatePAN(value("4242424242424242"))
	wantCode(t, err, "")

	keyA := testKey(0xA5)
	fpA, err := NewFingerprinter(keyA)
	if err != nil {
		t.Fatalf("NewFingerprinter: %v", err)
	}
	fpB, err := NewFingerprinter(testKey(0x5A))
	if err != nil {
		t.Fatalf("NewFingerprinter: %v", err)
	}

	got := fpA.Fingerprint(pan)
	if len(got) != FingerprintLength {
		t.Errorf("len(fingerprint) = %d, want %d", len(got), FingerprintLength)
	}
	if strings.Trim(got, "0123456789abcdef") != "" {
		t.Errorf("fingerprint %q is not lower-case hex", got)
	}
	if again := fpA.Fingerprint(pan); again != got {
		t.Errorf("second fingerprint %q differs from first %q", again, got)
	}
	if viaDigits := fpA.FingerprintDigits([]byte("4111111111111111")); viaDigits != got {
		t.Errorf("FingerprintDigits = %q, Fingerprint = %q; want equal", viaDigits, got)
	}
	if fpA.Fingerprint(other) == got {
		t.Error("two different PANs have the same fingerprint")
	}
	if fpB.Fingerprint(pan) == got {
		t.Error("two different keys give the same fingerprint")
	}

	plain := sha256.Sum256([]byte("4111111111111111"))
	if got == hex.EncodeToString(plain[:FingerprintLength/2]) {
		t.Error("fingerprint equals the unkeyed SHA-256 of the PAN")
	}

	keyA[0] ^= 0xFF
	if after := fpA.Fingerprint(pan); after != got {
		t.Error("changing the caller's key slice changed the fingerprint; the key was not copied")
	}
}

func TestFingerprintOfWipedPANIsEmpty(t *testing.T) {
	fp := NewRandomFingerprinter()
	pan, err := ValidatePAN(value("4111111111111111"))
	wantCode(t, err, "")
	if fp.Fingerprint(pan) == "" {
		t.Fatal("fingerprint of a valid PAN is empty")
	}
	pan.Wipe()
	if got := fp.Fingerprint(pan); got != "" {
		t.Errorf("fingerprint of a wiped PAN = %q, want empty", got)
	}
	if got := fp.Fingerprint(PAN{}); got != "" {
		t.Errorf("fingerprint of the zero PAN = %q, want empty", got)
	}
}

func TestRandomFingerprintersDiffer(t *testing.T) {
	digits := []byte("4111111111111111")
	a := NewRandomFingerprinter().FingerprintDigits(digits)
	b := NewRandomFingerprinter().FingerprintDigits(digits)
	if a == b {
		t.Error("two random fingerprinters gave the same fingerprint")
	}
}
