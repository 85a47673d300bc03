// Package rsadtmf holds the RSA private keys whose public halves are uploaded
// to Amazon Connect for "Store customer input" encryption, and builds the
// official AWS Encryption SDK raw RSA keyrings that decrypt those messages.
//
// Amazon Connect wraps the data key with RSA-OAEP using SHA-512 for both the
// hash and MGF1, under key namespace "AmazonConnect" and key name equal to the
// Key ID that Connect shows for the uploaded public key.
package rsadtmf

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"strings"

	mpl "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygenerated"
	mpltypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygeneratedtypes"

	"github.com/connect-secure-input/processor/internal/secret"
)

const (
	// KeyNamespace is the provider id Amazon Connect writes into each
	// encrypted data key.
	KeyNamespace = "AmazonConnect"

	// MinKeyBits and MaxKeyBits bound the RSA modulus Connect accepts for an
	// uploaded public key.
	MinKeyBits = 2048
	MaxKeyBits = 4096

	// MaxKeys is the most keys the processor accepts at once. Connect keeps at
	// most two keys active; two more leave room for an overlapping rotation.
	MaxKeys = 4
)

// Padding is the OAEP padding Amazon Connect uses to wrap data keys.
const Padding = mpltypes.PaddingSchemeOaepSha512Mgf1

// keyIDPattern matches the Key ID Connect shows: a lower- or upper-case UUID.
var keyIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// KeySource is one configured key before validation: its Key ID and the PEM
// text of its private key (PKCS#8 or PKCS#1). PEM is a secret.Value because it
// is key material; Load wipes it.
type KeySource struct {
	KeyID string
	PEM   secret.Value
	// Origin names where the key came from (a file path or an environment
	// variable) for error messages; it never holds key material.
	Origin string
}

// Key is one validated Connect key.
type Key struct {
	ID   string
	Bits int
}

// KeyError reports a key that failed validation. Its message names the Key ID
// and the problem, never key material.
type KeyError struct {
	KeyID  string
	Origin string
	Reason string
}

func (e *KeyError) Error() string {
	where := ""
	if e.Origin != "" {
		where = " (from " + e.Origin + ")"
	}
	return fmt.Sprintf("connect key %q%s: %s", e.KeyID, where, e.Reason)
}

// Keyring is the validated set of Connect keys and the ESDK keyring that
// decrypts with any of them.
type Keyring struct {
	keys    []Key
	keyring mpltypes.IKeyring
}

// Load validates the sources (Key ID format, PEM type, RSA key size, duplicate
// Key IDs, at most MaxKeys) and builds one raw RSA keyring per key, combined
// in a multi-keyring. It wipes every source PEM and every intermediate copy it
// makes, whatever the outcome.
func Load(ctx context.Context, sources []KeySource) (*Keyring, error) {
	defer func() {
		for _, s := range sources {
			s.PEM.Wipe()
		}
	}()
	if len(sources) > MaxKeys {
		return nil, fmt.Errorf("%d connect keys configured, at most %d are accepted", len(sources), MaxKeys)
	}

	client, err := mpl.NewClient(mpltypes.MaterialProvidersConfig{})
	if err != nil {
		return nil, fmt.Errorf("create material providers client: %w", err)
	}

	seen := make(map[string]bool, len(sources))
	k := &Keyring{}
	children := make([]mpltypes.IKeyring, 0, len(sources))
	for _, src := range sources {
		canonical := strings.ToLower(src.KeyID)
		if seen[canonical] {
			return nil, &KeyError{KeyID: src.KeyID, Origin: src.Origin, Reason: "duplicate Key ID; each Connect key must be configured once"}
		}
		seen[canonical] = true

		bits, pkcs8, err := parsePrivateKey(src)
		if err != nil {
			return nil, err
		}
		child, err := client.CreateRawRsaKeyring(ctx, mpltypes.CreateRawRsaKeyringInput{
			KeyName:       src.KeyID,
			KeyNamespace:  KeyNamespace,
			PaddingScheme: Padding,
			PrivateKey:    pkcs8,
		})
		secret.Zero(pkcs8)
		if err != nil {
			return nil, &KeyError{KeyID: src.KeyID, Origin: src.Origin, Reason: "the Encryption SDK rejected the key"}
		}
		children = append(children, child)
		k.keys = append(k.keys, Key{ID: src.KeyID, Bits: bits})
	}
	if len(children) == 0 {
		return k, nil
	}

	multi, err := client.CreateMultiKeyring(ctx, mpltypes.CreateMultiKeyringInput{ChildKeyrings: children})
	if err != nil {
		return nil, fmt.Errorf("combine connect keyrings: %w", err)
	}
	k.keyring = multi
	return k, nil
}

// parsePrivateKey checks one source and returns the key size and the key as
// PKCS#8 PEM, which is the only form the ESDK's raw RSA keyring reads. The
// caller zeroes the returned PEM.
func parsePrivateKey(src KeySource) (int, []byte, error) {
	fail := func(reason string) (int, []byte, error) {
		return 0, nil, &KeyError{KeyID: src.KeyID, Origin: src.Origin, Reason: reason}
	}
	if !keyIDPattern.MatchString(src.KeyID) {
		return fail("the Key ID is not a UUID; use the Key ID that Amazon Connect shows for the uploaded public key")
	}
	block, rest := pem.Decode(src.PEM.Bytes())
	if block == nil {
		return fail("no PEM block found; expected PRIVATE KEY (PKCS#8) or RSA PRIVATE KEY (PKCS#1)")
	}
	defer secret.Zero(block.Bytes)
	if len(strings.TrimSpace(string(rest))) != 0 && pemHasMoreBlocks(rest) {
		return fail("more than one PEM block found; put one private key in each file or variable")
	}

	var key *rsa.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return fail("the PKCS#8 private key cannot be parsed")
		}
		rsaKey, ok := parsed.(*rsa.PrivateKey)
		if !ok {
			return fail(fmt.Sprintf("the private key is %T, not RSA", parsed))
		}
		key = rsaKey
	case "RSA PRIVATE KEY":
		parsed, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return fail("the PKCS#1 private key cannot be parsed")
		}
		key = parsed
	case "ENCRYPTED PRIVATE KEY":
		return fail("the private key is password-protected; store it unencrypted in the secret store instead")
	default:
		return fail(fmt.Sprintf("PEM block type %q is not a private key", block.Type))
	}

	bits := key.N.BitLen()
	if bits < MinKeyBits || bits > MaxKeyBits {
		return fail(fmt.Sprintf("the RSA key has %d bits; Amazon Connect accepts %d to %d", bits, MinKeyBits, MaxKeyBits))
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fail("the private key cannot be converted to PKCS#8")
	}
	defer secret.Zero(der)
	return bits, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// pemHasMoreBlocks reports whether rest holds another PEM block, so that
// trailing comments or blank lines after the key are allowed.
func pemHasMoreBlocks(rest []byte) bool {
	next, _ := pem.Decode(rest)
	return next != nil
}

// Keys returns the loaded Key IDs and sizes, in configuration order.
func (k *Keyring) Keys() []Key {
	if k == nil {
		return nil
	}
	return append([]Key(nil), k.keys...)
}

// Has reports whether keyID is one of the loaded keys. Connect writes Key IDs
// in lower case; the comparison is exact because the ESDK's keyring compares
// key names byte for byte.
func (k *Keyring) Has(keyID string) bool {
	if k == nil {
		return false
	}
	for _, key := range k.keys {
		if key.ID == keyID {
			return true
		}
	}
	return false
}

// ESDKKeyring returns the keyring to decrypt with, or nil when no keys are
// loaded.
func (k *Keyring) ESDKKeyring() mpltypes.IKeyring {
	if k == nil {
		return nil
	}
	return k.keyring
}

// ErrNoKeys is returned by callers that need at least one Connect key.
var ErrNoKeys = errors.New("no connect keys are configured")
