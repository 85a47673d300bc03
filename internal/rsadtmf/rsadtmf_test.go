package rsadtmf

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/connect-secure-input/processor/internal/secret"
)

const (
	keyIDA = "0f6b9b0e-6f1a-4a8e-9c43-2c0d5a7e1b11"
	keyIDB = "5d2c4b7a-1e3f-4c6d-8a9b-0c1d2e3f4a5b"
)

func rsaPEM(t *testing.T, bits int, pkcs1 bool) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatalf("generate %d-bit key: %v", bits, err)
	}
	if pkcs1 {
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal PKCS#8: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestLoadAcceptsPKCS8AndPKCS1(t *testing.T) {
	keyring, err := Load(context.Background(), []KeySource{
		{KeyID: keyIDA, PEM: secret.New(rsaPEM(t, 2048, false))},
		{KeyID: keyIDB, PEM: secret.New(rsaPEM(t, 2048, true))},
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	keys := keyring.Keys()
	if len(keys) != 2 || keys[0].ID != keyIDA || keys[1].ID != keyIDB || keys[0].Bits != 2048 {
		t.Errorf("Keys() = %+v", keys)
	}
	if !keyring.Has(keyIDA) || keyring.Has("11111111-1111-1111-1111-111111111111") {
		t.Error("Has does not match the loaded Key IDs")
	}
	if keyring.ESDKKeyring() == nil {
		t.Error("ESDKKeyring() is nil with keys loaded")
	}
}

func TestLoadRejectsBadKeys(t *testing.T) {
	good := rsaPEM(t, 2048, false)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})
	pubDER, err := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	small := rsaPEM(t, 1024, false)

	tests := []struct {
		name    string
		sources []KeySource
		want    string
	}{
		{"not a UUID", []KeySource{{KeyID: "my-key", PEM: secret.Copy(good)}}, "not a UUID"},
		{"no PEM", []KeySource{{KeyID: keyIDA, PEM: secret.Copy([]byte("not pem"))}}, "no PEM block"},
		{"public key", []KeySource{{KeyID: keyIDA, PEM: secret.Copy(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))}}, "is not a private key"},
		{"encrypted key", []KeySource{{KeyID: keyIDA, PEM: secret.Copy(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}))}}, "password-protected"},
		{"EC key", []KeySource{{KeyID: keyIDA, PEM: secret.Copy(ecPEM)}}, "not RSA"},
		{"too small", []KeySource{{KeyID: keyIDA, PEM: secret.Copy(small)}}, "1024 bits"},
		{"corrupt PKCS#8", []KeySource{{KeyID: keyIDA, PEM: secret.Copy(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 1, 2}}))}}, "cannot be parsed"},
		{"two blocks", []KeySource{{KeyID: keyIDA, PEM: secret.Copy(append(append([]byte{}, good...), good...))}}, "more than one PEM block"},
		{"duplicate id", []KeySource{{KeyID: keyIDA, PEM: secret.Copy(good)}, {KeyID: strings.ToUpper(keyIDA), PEM: secret.Copy(good)}}, "duplicate Key ID"},
		{"too many", []KeySource{
			{KeyID: keyIDA, PEM: secret.Copy(good)}, {KeyID: keyIDB, PEM: secret.Copy(good)},
			{KeyID: "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", PEM: secret.Copy(good)}, {KeyID: "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb", PEM: secret.Copy(good)},
			{KeyID: "cccccccc-cccc-cccc-cccc-cccccccccccc", PEM: secret.Copy(good)},
		}, "at most 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(context.Background(), tt.sources)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			var keyErr *KeyError
			if errors.As(err, &keyErr) && !strings.Contains(err.Error(), keyErr.KeyID) {
				t.Errorf("error %q does not name the Key ID", err)
			}
			if strings.Contains(err.Error(), "MII") {
				t.Errorf("error %q contains key material", err)
			}
		})
	}
}

func TestLoadWipesSourcePEM(t *testing.T) {
	backing := rsaPEM(t, 2048, false)
	if _, err := Load(context.Background(), []KeySource{{KeyID: keyIDA, PEM: secret.New(backing)}}); err != nil {
		t.Fatalf("Load: %v", err)
	}
	for i, b := range backing {
		if b != 0 {
			t.Fatalf("source PEM byte %d is %#x after Load, want 0", i, b)
		}
	}
}

func TestEmptyKeyring(t *testing.T) {
	keyring, err := Load(context.Background(), nil)
	if err != nil {
		t.Fatalf("Load(nil): %v", err)
	}
	if keyring.ESDKKeyring() != nil || len(keyring.Keys()) != 0 {
		t.Error("an empty key list built a keyring")
	}
}
