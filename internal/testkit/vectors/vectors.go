// Package vectors loads the ESDK interoperability vectors in
// testdata/vectors (made by the official JavaScript ESDK, see gen.mjs there)
// and the test-only Connect RSA keys in testdata/keys, so that every test
// reads them the same way.
//
// A vector without an expected error decrypts to its plaintext. A vector with
// one must fail with that code when the service is configured as
// Manifest.Service sets out. Plaintext is public test card data.
package vectors

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Error codes of the service that vectors expect.
const (
	CodeCiphertextMalformed      = "ciphertext_malformed"
	CodeCiphertextTooLarge       = "ciphertext_too_large"
	CodeTooManyEncryptedDataKeys = "too_many_encrypted_data_keys"
	CodeKeyProviderUnsupported   = "key_provider_unsupported"
	CodeKeyUnknown               = "key_unknown"
	CodeCommitmentPolicy         = "commitment_policy_violation"
	CodeAlgorithmSuiteRejected   = "algorithm_suite_rejected"
	CodeEncryptionContext        = "encryption_context_mismatch"
	CodeAuthenticationFailed     = "ciphertext_authentication_failed"
	CodeKMSUnavailable           = "kms_unavailable"
	CodeKMSAccessDenied          = "kms_access_denied"
)

// Codes lists every error code a vector may expect.
var Codes = []string{
	CodeCiphertextMalformed, CodeCiphertextTooLarge, CodeTooManyEncryptedDataKeys,
	CodeKeyProviderUnsupported, CodeKeyUnknown, CodeCommitmentPolicy,
	CodeAlgorithmSuiteRejected, CodeEncryptionContext, CodeAuthenticationFailed,
	CodeKMSUnavailable, CodeKMSAccessDenied,
}

// Schemes of a vector.
const (
	// SchemeConnect is a Connect DTMF message (raw RSA keyring, AmazonConnect).
	SchemeConnect = "connect"
	// SchemeKMS is a Lex token (AWS KMS keyring).
	SchemeKMS = "kms"
	// SchemeNone is input that is no ESDK message of either scheme.
	SchemeNone = "none"
)

// Manifest is testdata/vectors/manifest.json.
type Manifest struct {
	About       string       `json:"about"`
	Generator   Generator    `json:"generator"`
	Service     Service      `json:"service"`
	ConnectKeys []ConnectKey `json:"connect_keys"`
	KMS         KMS          `json:"kms"`
	Vectors     []Vector     `json:"vectors"`

	root string
}

// Generator names the ESDK that made the vectors.
type Generator struct {
	ESDK        string `json:"esdk"`
	ESDKVersion string `json:"esdk_version"`
	NodeVersion string `json:"node_version"`
}

// Service is the service configuration that the expected errors assume.
type Service struct {
	// MaxCiphertextBytes bounds the decoded message size.
	MaxCiphertextBytes int `json:"max_ciphertext_bytes"`
	// MaxEncryptedDataKeys bounds the encrypted data keys per message.
	MaxEncryptedDataKeys int `json:"max_encrypted_data_keys"`
	// DTMFSuites is the algorithm suite allow-list of the Connect path, as
	// "0x0378"-style ids.
	DTMFSuites []string `json:"dtmf_suites"`
	// KMSPurpose and KMSIntents are the required encryption-context values.
	KMSPurpose string   `json:"kms_purpose"`
	KMSIntents []string `json:"kms_intents"`
}

// ConnectKey is a test-only Connect RSA key pair. Paths are relative to the
// repository root.
type ConnectKey struct {
	KeyID           string `json:"key_id"`
	Bits            int    `json:"bits"`
	PrivateKey      string `json:"private_key"`
	PrivateKeyPKCS1 string `json:"private_key_pkcs1,omitempty"`
	PublicKey       string `json:"public_key"`
	// Configured reports whether the service under test is given this key.
	Configured bool `json:"configured"`

	root string
}

// KMS describes the local-kms keys the KMS vectors were made with; they come
// from the seed of internal/testkit/localkms, so a fresh local-kms decrypts them.
type KMS struct {
	AccountID     string            `json:"account_id"`
	Region        string            `json:"region"`
	ReplicaRegion string            `json:"replica_region"`
	Keys          map[string]string `json:"keys"`
	// ConfiguredKeyARNs are the key ARNs the service under test is given.
	ConfiguredKeyARNs []string `json:"configured_key_arns"`
}

// Vector is one input and its expected outcome.
type Vector struct {
	Name        string `json:"name"`
	File        string `json:"file,omitempty"`
	Description string `json:"description"`
	Scheme      string `json:"scheme"`
	// KeyID is the Connect Key ID that decrypts the message, or for a
	// negative vector the key name it carries.
	KeyID  string   `json:"key_id,omitempty"`
	KeyIDs []string `json:"key_ids,omitempty"`
	// KeyARN is the KMS key ARN in the (first matching) encrypted data key.
	KeyARN  string   `json:"key_arn,omitempty"`
	KeyARNs []string `json:"key_arns,omitempty"`
	// DecryptKeyARN is the configured ARN that decrypts the message when it
	// differs from KeyARN (a multi-Region replica).
	DecryptKeyARN     string            `json:"decrypt_key_arn,omitempty"`
	Suite             string            `json:"suite,omitempty"`
	FormatVersion     int               `json:"format_version,omitempty"`
	FrameLength       int               `json:"frame_length,omitempty"`
	EDKCount          int               `json:"edk_count,omitempty"`
	EncryptionContext map[string]string `json:"encryption_context,omitempty"`
	// PlaintextText is the decrypted content; use Plaintext. It is set on
	// every positive vector and on negative vectors that the ESDK itself
	// decrypts, where only the service's policy rejects the message.
	PlaintextText string `json:"plaintext,omitempty"`
	// Error is the expected error code; empty for a positive vector.
	Error string `json:"error,omitempty"`
	// Note explains an expected code that depends on the service's reading.
	Note        string    `json:"note,omitempty"`
	DerivedFrom string    `json:"derived_from,omitempty"`
	Mutation    *Mutation `json:"mutation,omitempty"`
	Generate    *Generate `json:"generate,omitempty"`

	dir string
}

// Mutation records how a negative vector was derived from DerivedFrom.
type Mutation struct {
	// Kind is "xor" (Offset, XOR), "truncate" (Length) or "append" (Bytes, hex).
	Kind   string `json:"kind"`
	Region string `json:"region,omitempty"`
	Offset int    `json:"offset,omitempty"`
	XOR    int    `json:"xor,omitempty"`
	Length int    `json:"length,omitempty"`
	Bytes  string `json:"bytes,omitempty"`
}

// Generate describes an input made at test time instead of committed.
type Generate struct {
	// Kind is "random": Bytes bytes from math/rand/v2 ChaCha8 keyed with the
	// 32 ASCII bytes of Seed.
	Kind  string `json:"kind"`
	Bytes int    `json:"bytes"`
	Seed  string `json:"seed"`
	// Encoding is "base64" (standard) or "raw".
	Encoding string `json:"encoding"`
}

// Load reads testdata/vectors/manifest.json from the repository root and
// checks that it is consistent: unique names, known codes, files present.
func Load(t testing.TB) Manifest {
	t.Helper()
	root := Root(t)
	raw, err := os.ReadFile(filepath.Join(root, "testdata", "vectors", "manifest.json"))
	if err != nil {
		t.Fatalf("read vector manifest: %v", err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("parse vector manifest: %v", err)
	}
	m.root = root
	for i := range m.ConnectKeys {
		m.ConnectKeys[i].root = root
	}
	for i := range m.Vectors {
		m.Vectors[i].dir = filepath.Join(root, "testdata", "vectors")
	}
	if err := m.validate(); err != nil {
		t.Fatalf("invalid vector manifest: %v", err)
	}
	return m
}

// Root returns the repository root: the folder of the go.mod that `go env
// GOMOD` names, or failing that the nearest parent of the working directory
// with a go.mod.
func Root(t testing.TB) string {
	t.Helper()
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod)
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("find repository root: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("find repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Positive returns the vectors that must decrypt.
func (m Manifest) Positive() []Vector {
	var out []Vector
	for _, v := range m.Vectors {
		if v.Error == "" {
			out = append(out, v)
		}
	}
	return out
}

// Negative returns the vectors that must fail.
func (m Manifest) Negative() []Vector {
	var out []Vector
	for _, v := range m.Vectors {
		if v.Error != "" {
			out = append(out, v)
		}
	}
	return out
}

// Vector returns the vector called name.
func (m Manifest) Vector(t testing.TB, name string) Vector {
	t.Helper()
	for _, v := range m.Vectors {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no vector %q in the manifest", name)
	return Vector{}
}

// ConnectKey returns the test key with keyID.
func (m Manifest) ConnectKey(t testing.TB, keyID string) ConnectKey {
	t.Helper()
	for _, k := range m.ConnectKeys {
		if k.KeyID == keyID {
			return k
		}
	}
	t.Fatalf("no Connect test key with Key ID %q in the manifest", keyID)
	return ConnectKey{}
}

// ConfiguredConnectKeys returns the keys the service under test is given.
func (m Manifest) ConfiguredConnectKeys() []ConnectKey {
	var out []ConnectKey
	for _, k := range m.ConnectKeys {
		if k.Configured {
			out = append(out, k)
		}
	}
	return out
}

// Input returns the exact bytes the service receives for v: the committed
// file, or the generated input.
func (v Vector) Input(t testing.TB) []byte {
	t.Helper()
	if v.Generate != nil {
		input, err := v.Generate.input()
		if err != nil {
			t.Fatalf("generate input of vector %s: %v", v.Name, err)
		}
		return input
	}
	input, err := os.ReadFile(filepath.Join(v.dir, filepath.FromSlash(v.File)))
	if err != nil {
		t.Fatalf("read vector %s: %v", v.Name, err)
	}
	return input
}

// Ciphertext returns the decoded message of v, after trimming surrounding
// whitespace, for tests that call the ESDK directly. It fails the test when
// the input is not standard base64.
func (v Vector) Ciphertext(t testing.TB) []byte {
	t.Helper()
	text := strings.TrimSpace(string(v.Input(t)))
	decoded, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		t.Fatalf("vector %s is not standard base64: %v", v.Name, err)
	}
	return decoded
}

// Plaintext returns the expected plaintext, or nil when the ESDK cannot
// decrypt the message.
func (v Vector) Plaintext() []byte {
	if v.PlaintextText == "" {
		return nil
	}
	return []byte(v.PlaintextText)
}

// Positive reports whether v must decrypt.
func (v Vector) Positive() bool { return v.Error == "" }

// PrivatePEM returns the key's PKCS#8 private key PEM.
func (k ConnectKey) PrivatePEM(t testing.TB) []byte {
	t.Helper()
	return k.read(t, k.PrivateKey)
}

// PrivatePKCS1PEM returns the key's PKCS#1 private key PEM; it fails the test
// for keys committed in PKCS#8 only.
func (k ConnectKey) PrivatePKCS1PEM(t testing.TB) []byte {
	t.Helper()
	if k.PrivateKeyPKCS1 == "" {
		t.Fatalf("Connect test key %s has no PKCS#1 form", k.KeyID)
	}
	return k.read(t, k.PrivateKeyPKCS1)
}

// PublicPEM returns the key's SubjectPublicKeyInfo PEM.
func (k ConnectKey) PublicPEM(t testing.TB) []byte {
	t.Helper()
	return k.read(t, k.PublicKey)
}

func (k ConnectKey) read(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(k.root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("read Connect test key %s: %v", k.KeyID, err)
	}
	return b
}

func (g Generate) input() ([]byte, error) {
	if g.Kind != "random" {
		return nil, fmt.Errorf("unknown generate kind %q", g.Kind)
	}
	var seed [32]byte
	if len(g.Seed) != len(seed) {
		return nil, fmt.Errorf("seed %q has %d bytes, want %d", g.Seed, len(g.Seed), len(seed))
	}
	copy(seed[:], g.Seed)
	random := make([]byte, g.Bytes)
	// ChaCha8.Read always returns len(p) and a nil error, as its doc states.
	_, _ = rand.NewChaCha8(seed).Read(random)
	switch g.Encoding {
	case "raw":
		return random, nil
	case "base64":
		return []byte(base64.StdEncoding.EncodeToString(random)), nil
	default:
		return nil, fmt.Errorf("unknown encoding %q", g.Encoding)
	}
}

func (m Manifest) validate() error {
	known := make(map[string]bool, len(Codes))
	for _, c := range Codes {
		known[c] = true
	}
	keyIDs := make(map[string]bool, len(m.ConnectKeys))
	for _, k := range m.ConnectKeys {
		keyIDs[k.KeyID] = true
	}
	names := make(map[string]bool, len(m.Vectors))
	for _, v := range m.Vectors {
		switch {
		case v.Name == "":
			return fmt.Errorf("a vector has no name")
		case names[v.Name]:
			return fmt.Errorf("duplicate vector name %q", v.Name)
		case v.Error != "" && !known[v.Error]:
			return fmt.Errorf("vector %s: unknown error code %q", v.Name, v.Error)
		case v.Error == "" && v.PlaintextText == "":
			return fmt.Errorf("vector %s: positive vector without plaintext", v.Name)
		case (v.File == "") == (v.Generate == nil):
			return fmt.Errorf("vector %s: want exactly one of file and generate", v.Name)
		case v.Scheme != SchemeConnect && v.Scheme != SchemeKMS && v.Scheme != SchemeNone:
			return fmt.Errorf("vector %s: unknown scheme %q", v.Name, v.Scheme)
		case v.Error == "" && v.Scheme == SchemeConnect && !keyIDs[v.KeyID]:
			return fmt.Errorf("vector %s: Key ID %q is not a Connect test key", v.Name, v.KeyID)
		}
		names[v.Name] = true
		if v.DerivedFrom != "" && !names[v.DerivedFrom] {
			return fmt.Errorf("vector %s: derived from %q, which is not listed before it", v.Name, v.DerivedFrom)
		}
	}
	return nil
}
