package connectcrypt

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gofrs/uuid"
)

// Key sizes, in bits, that KeyPair generation accepts. Connect takes RSA
// public keys of 2048 bits and more; the service reads 2048 to 4096.
const (
	MinKeyBits = 2048
	MaxKeyBits = 4096
)

// KeyPair is an RSA key pair for Connect with its Key ID. In Connect the Key
// ID is assigned on upload; here it is a random UUID in the same format.
type KeyPair struct {
	KeyID   string
	Private *rsa.PrivateKey
}

// GenerateKeyPair creates an RSA key of bits (2048, 3072 or 4096) with a
// random UUID as Key ID.
func GenerateKeyPair(bits int) (KeyPair, error) {
	switch bits {
	case 2048, 3072, 4096:
	default:
		return KeyPair{}, fmt.Errorf("invalid key size %d bits: use 2048, 3072 or 4096", bits)
	}
	id, err := uuid.NewV4()
	if err != nil {
		return KeyPair{}, fmt.Errorf("create Key ID: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return KeyPair{}, fmt.Errorf("generate %d-bit RSA key: %w", bits, err)
	}
	return KeyPair{KeyID: id.String(), Private: key}, nil
}

// PublicKey returns the public half with its Key ID, ready for EncryptDTMF.
func (k KeyPair) PublicKey() PublicKey {
	return PublicKey{KeyID: k.KeyID, Key: &k.Private.PublicKey}
}

// PrivatePEM encodes the private key as unencrypted PKCS#8 PEM ("PRIVATE
// KEY"), the form the ESDK's raw RSA keyring reads.
func (k KeyPair) PrivatePEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, fmt.Errorf("encode private key of Key ID %s: %w", k.KeyID, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// PublicPEM encodes the public key as SubjectPublicKeyInfo PEM ("PUBLIC
// KEY"), the form Connect takes on upload.
func (k KeyPair) PublicPEM() ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(&k.Private.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encode public key of Key ID %s: %w", k.KeyID, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// WriteFiles writes <KeyID>.private.pem (mode 0600) and <KeyID>.public.pem
// (mode 0644) into dir and returns their paths. It fails rather than
// overwrite an existing file.
func (k KeyPair) WriteFiles(dir string) (privatePath, publicPath string, err error) {
	privatePEM, err := k.PrivatePEM()
	if err != nil {
		return "", "", err
	}
	publicPEM, err := k.PublicPEM()
	if err != nil {
		return "", "", err
	}
	privatePath = filepath.Join(dir, k.KeyID+".private.pem")
	publicPath = filepath.Join(dir, k.KeyID+".public.pem")
	if err := writeNew(privatePath, privatePEM, 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(publicPath, publicPEM, 0o644); err != nil {
		return "", "", err
	}
	return privatePath, publicPath, nil
}

// ParsePrivateKeyPEM reads an RSA private key from PKCS#8 ("PRIVATE KEY") or
// PKCS#1 ("RSA PRIVATE KEY") PEM and pairs it with its Key ID.
func ParsePrivateKeyPEM(keyID string, pemBytes []byte) (KeyPair, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return KeyPair{}, fmt.Errorf("invalid private key for Key ID %s: no PEM block found", keyID)
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return KeyPair{}, fmt.Errorf("invalid private key for Key ID %s: %w", keyID, err)
		}
		rsaKey, ok := parsed.(*rsa.PrivateKey)
		if !ok {
			return KeyPair{}, fmt.Errorf("invalid private key for Key ID %s: %T is not an RSA key", keyID, parsed)
		}
		key = rsaKey
	case "RSA PRIVATE KEY":
		parsed, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return KeyPair{}, fmt.Errorf("invalid private key for Key ID %s: %w", keyID, err)
		}
		key = parsed
	default:
		return KeyPair{}, fmt.Errorf("invalid private key for Key ID %s: PEM type %q, want PRIVATE KEY or RSA PRIVATE KEY", keyID, block.Type)
	}
	if err := checkKeySize(key.N.BitLen()); err != nil {
		return KeyPair{}, fmt.Errorf("invalid private key for Key ID %s: %w", keyID, err)
	}
	return KeyPair{KeyID: keyID, Private: key}, nil
}

func checkKeySize(bits int) error {
	if bits < MinKeyBits || bits > MaxKeyBits {
		return fmt.Errorf("RSA key of %d bits, want %d to %d bits", bits, MinKeyBits, MaxKeyBits)
	}
	return nil
}

func writeNew(path string, content []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(content); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
