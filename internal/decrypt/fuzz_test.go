package decrypt

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"testing"
)

// FuzzDecryptMessage feeds arbitrary message bytes, base64-encoded, through
// Inspect and Decrypt on the Connect path. Every outcome must be a success or
// an *Error with one of the documented codes; nothing may panic. The KMS path
// is left out because each attempt would be a network call.
func FuzzDecryptMessage(f *testing.F) {
	d, pairs := newConnectDecrypter(f, Config{})
	for _, text := range []string{
		encryptDTMF(f, testPAN, pairs.configured),
		encryptDTMF(f, "0127", pairs.configured, pairs.second),
		encryptDTMF(f, "123", pairs.unconfigured),
	} {
		raw, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
		f.Add(raw[:len(raw)/2])
	}
	for _, text := range vectorSeeds(f) {
		if raw, err := base64.StdEncoding.DecodeString(text); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x01, 0x80, 0x03, 0x78})

	f.Fuzz(func(t *testing.T, raw []byte) {
		text := base64.StdEncoding.EncodeToString(raw)
		if _, err := d.Inspect(text); err != nil {
			checkCoded(t, err)
		}
		res, err := d.Decrypt(context.Background(), text)
		if err != nil {
			checkCoded(t, err)
			return
		}
		res.Plaintext.Wipe()
	})
}

// FuzzDecode feeds arbitrary text to the base64 and size checks.
func FuzzDecode(f *testing.F) {
	d, err := New(Config{}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"", " AYADeA== ", "AYAD-_==", "AYA", "A\nYAD", "////", "AAAA===="} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if _, err := d.Decrypt(context.Background(), text); err != nil {
			checkCoded(t, err)
		}
	})
}

func checkCoded(t *testing.T, err error) {
	t.Helper()
	var de *Error
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a decrypt *Error", err, err)
	}
	if !slices.Contains(Codes, de.Code) {
		t.Fatalf("error code %q is not documented", de.Code)
	}
}
