// Package decrypt is the one entry point for ciphertext. It decodes base64,
// bounds the size, reads the AWS Encryption SDK message header without
// decrypting, routes by the encrypted data key's provider (AmazonConnect to
// the raw RSA keyring, aws-kms to the KMS keyring), decrypts with the official
// ESDK for Go, classifies every failure into a stable code, and returns the
// plaintext as a secret.Value.
package decrypt

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	mpltypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygeneratedtypes"
	esdk "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygenerated"
	esdktypes "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygeneratedtypes"

	"github.com/connect-secure-input/processor/internal/kmsesdk"
	"github.com/connect-secure-input/processor/internal/rsadtmf"
	"github.com/connect-secure-input/processor/internal/secret"
)

// Scheme names the decrypt path a message took.
type Scheme string

const (
	SchemeConnectRSA Scheme = "connect_rsa"
	SchemeKMS        Scheme = "kms"
	SchemeUnknown    Scheme = "unknown"
)

// Defaults for Config.
const (
	// DefaultMaxCiphertextBytes bounds the decoded message. A Connect message
	// for a 19-digit PAN under a 4096-bit key is about 1.3 KiB; 16 KiB leaves
	// room for two keys, framing and a long encryption context.
	DefaultMaxCiphertextBytes = 16 << 10
	// DefaultMaxEncryptedDataKeys bounds the wrapped keys per message. Connect
	// writes one per active key (at most two); the ESDK's own limit is the
	// defence against a message that makes the service try many unwraps.
	DefaultMaxEncryptedDataKeys = 3
	// MaxEncryptedDataKeysLimit is the highest value Config accepts.
	MaxEncryptedDataKeysLimit = 16
)

// DefaultConnectSuites is the DTMF allow-list: 0x0378, which Amazon Connect
// emits (format 1, not key-committing), and 0x0578, the committing signed
// suite, in case Connect moves to it.
var DefaultConnectSuites = []Suite{0x0378, 0x0578}

// Config holds the limits and policies of the decrypt path.
type Config struct {
	MaxCiphertextBytes   int
	MaxEncryptedDataKeys int
	// ConnectSuites is the allow-list of algorithm suites on the DTMF path.
	// Suites without key derivation are rejected by New.
	ConnectSuites []Suite
}

// Metadata is the non-secret description of a decrypted message.
type Metadata struct {
	Scheme        Scheme
	KeyID         string // Connect Key ID or KMS key ARN that decrypted
	Suite         Suite
	FormatVersion int
	// ContextKeys are the encryption-context keys of the message, sorted.
	ContextKeys []string
}

// Result is a decrypted message.
type Result struct {
	Plaintext secret.Value
	Metadata  Metadata
}

// Decrypter decrypts messages. It is safe for concurrent use; the ESDK
// clients and keyrings are built once in New.
type Decrypter struct {
	cfg     Config
	connect *rsadtmf.Keyring
	kms     *kmsesdk.Keyring

	// connectClient decrypts under REQUIRE_ENCRYPT_ALLOW_DECRYPT because
	// Connect's suite 0x0378 is not key-committing; kmsClient requires
	// committing suites.
	connectClient *esdk.Client
	kmsClient     *esdk.Client
}

// New validates cfg and builds the ESDK clients. connect or kms may be nil,
// which disables that path: its messages fail with key_provider_unsupported.
func New(cfg Config, connect *rsadtmf.Keyring, kms *kmsesdk.Keyring) (*Decrypter, error) {
	if cfg.MaxCiphertextBytes == 0 {
		cfg.MaxCiphertextBytes = DefaultMaxCiphertextBytes
	}
	if cfg.MaxEncryptedDataKeys == 0 {
		cfg.MaxEncryptedDataKeys = DefaultMaxEncryptedDataKeys
	}
	if len(cfg.ConnectSuites) == 0 {
		cfg.ConnectSuites = DefaultConnectSuites
	}
	if cfg.MaxCiphertextBytes < 256 {
		return nil, fmt.Errorf("maximum ciphertext size %d bytes is below 256, too small for any ESDK message", cfg.MaxCiphertextBytes)
	}
	if cfg.MaxEncryptedDataKeys < 1 || cfg.MaxEncryptedDataKeys > MaxEncryptedDataKeysLimit {
		return nil, fmt.Errorf("maximum encrypted data keys %d is outside 1 to %d", cfg.MaxEncryptedDataKeys, MaxEncryptedDataKeysLimit)
	}
	for _, s := range cfg.ConnectSuites {
		if !s.Known() {
			return nil, fmt.Errorf("algorithm suite %s is not an ESDK suite", s)
		}
		if !s.HasKeyDerivation() {
			return nil, fmt.Errorf("algorithm suite %s (%s) has no key derivation and cannot be allowed", s, s.Name())
		}
	}

	connectClient, err := newClient(mpltypes.ESDKCommitmentPolicyRequireEncryptAllowDecrypt, cfg.MaxEncryptedDataKeys)
	if err != nil {
		return nil, err
	}
	kmsClient, err := newClient(mpltypes.ESDKCommitmentPolicyRequireEncryptRequireDecrypt, cfg.MaxEncryptedDataKeys)
	if err != nil {
		return nil, err
	}
	if connect != nil && len(connect.Keys()) == 0 {
		connect = nil
	}
	return &Decrypter{cfg: cfg, connect: connect, kms: kms, connectClient: connectClient, kmsClient: kmsClient}, nil
}

func newClient(policy mpltypes.ESDKCommitmentPolicy, maxKeys int) (*esdk.Client, error) {
	limit := int64(maxKeys)
	client, err := esdk.NewClient(esdktypes.AwsEncryptionSdkConfig{CommitmentPolicy: &policy, MaxEncryptedDataKeys: &limit})
	if err != nil {
		return nil, fmt.Errorf("create encryption SDK client (%s): %w", policy, err)
	}
	return client, nil
}

// Config returns the effective configuration, defaults applied.
func (d *Decrypter) Config() Config { return d.cfg }

// ConnectEnabled and KMSEnabled report which paths have keys.
func (d *Decrypter) ConnectEnabled() bool { return d.connect != nil }
func (d *Decrypter) KMSEnabled() bool     { return d.kms != nil }

// Decrypt decodes and decrypts one base64 message. On success the caller owns
// Result.Plaintext and must Wipe it. Every failure is an *Error.
func (d *Decrypter) Decrypt(ctx context.Context, text string) (Result, error) {
	msg, err := d.Decode(text)
	if err != nil {
		return Result{Metadata: Metadata{Scheme: SchemeUnknown}}, err
	}
	header, err := ParseHeader(msg)
	if err != nil {
		return Result{Metadata: Metadata{Scheme: SchemeUnknown}}, newError(CodeMalformed, err, "the ciphertext is not a valid Encryption SDK message: %s", err)
	}
	meta := Metadata{Scheme: SchemeUnknown, Suite: header.Suite, FormatVersion: header.FormatVersion, ContextKeys: contextKeys(header)}
	if n := len(header.EncryptedDataKeys); n > d.cfg.MaxEncryptedDataKeys {
		return Result{Metadata: meta}, newError(CodeTooManyEncryptedDataKeys, nil,
			"the message has %d encrypted data keys; at most %d are accepted", n, d.cfg.MaxEncryptedDataKeys)
	}

	switch route(header) {
	case SchemeConnectRSA:
		meta.Scheme = SchemeConnectRSA
		return d.decryptConnect(ctx, msg, header, meta)
	case SchemeKMS:
		meta.Scheme = SchemeKMS
		return d.decryptKMS(ctx, msg, header, meta)
	}
	return Result{Metadata: meta}, newError(CodeKeyProviderUnsupported, nil,
		"no encrypted data key is from a supported key provider (found %s; supported: %s, %s)",
		quoteList(providerIDs(header)), rsadtmf.KeyNamespace, kmsesdk.ProviderID)
}

// Decode trims surrounding whitespace, bounds the size and decodes standard,
// padded base64 (RFC 4648 section 4), which is what Amazon Connect and the
// ESDK's base64 helpers produce.
func (d *Decrypter) Decode(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, newError(CodeMalformed, nil, "the ciphertext is empty")
	}
	if len(text) > base64.StdEncoding.EncodedLen(d.cfg.MaxCiphertextBytes) {
		return nil, newError(CodeTooLarge, nil, "the ciphertext is %d base64 characters; at most %d bytes decoded (%d characters) are accepted",
			len(text), d.cfg.MaxCiphertextBytes, base64.StdEncoding.EncodedLen(d.cfg.MaxCiphertextBytes))
	}
	if strings.ContainsAny(text, "-_") {
		return nil, newError(CodeMalformed, nil, "the ciphertext uses the URL-safe base64 alphabet ('-' or '_'); send standard base64 with '+' and '/'")
	}
	if strings.ContainsAny(text, " \t\r\n") {
		return nil, newError(CodeMalformed, nil, "the ciphertext contains whitespace inside the base64 text; send it on one line")
	}
	if len(text)%4 != 0 {
		return nil, newError(CodeMalformed, nil, "the ciphertext is %d characters, not a multiple of 4; send padded standard base64", len(text))
	}
	msg, err := base64.StdEncoding.Strict().DecodeString(text)
	if err != nil {
		var corrupt base64.CorruptInputError
		if errors.As(err, &corrupt) {
			return nil, newError(CodeMalformed, err, "the ciphertext is not valid standard base64 (invalid character or padding at offset %d)", int64(corrupt))
		}
		return nil, newError(CodeMalformed, err, "the ciphertext is not valid standard base64")
	}
	if len(msg) > d.cfg.MaxCiphertextBytes {
		return nil, newError(CodeTooLarge, nil, "the ciphertext is %d bytes decoded; at most %d are accepted", len(msg), d.cfg.MaxCiphertextBytes)
	}
	return msg, nil
}

// route picks the decrypt path by the encrypted data keys' provider ids. A
// message wrapped for Connect takes the RSA path even if it also carries KMS
// keys, because Connect never mixes providers and the RSA path needs no
// network call.
func route(h *Header) Scheme {
	scheme := SchemeUnknown
	for _, edk := range h.EncryptedDataKeys {
		switch edk.ProviderID {
		case rsadtmf.KeyNamespace:
			return SchemeConnectRSA
		case kmsesdk.ProviderID:
			scheme = SchemeKMS
		}
	}
	return scheme
}

func (d *Decrypter) decryptConnect(ctx context.Context, msg []byte, h *Header, meta Metadata) (Result, error) {
	if d.connect == nil {
		return Result{Metadata: meta}, newError(CodeKeyProviderUnsupported, nil,
			"the message is wrapped for Amazon Connect keys, but no Connect keys are configured")
	}
	var found []string
	for _, edk := range h.EncryptedDataKeys {
		if edk.ProviderID != rsadtmf.KeyNamespace {
			continue
		}
		found = append(found, edk.ProviderInfo)
		if meta.KeyID == "" && d.connect.Has(edk.ProviderInfo) {
			meta.KeyID = edk.ProviderInfo
		}
	}
	if meta.KeyID == "" {
		configured := make([]string, 0, len(d.connect.Keys()))
		for _, k := range d.connect.Keys() {
			configured = append(configured, k.ID)
		}
		return Result{Metadata: meta}, newError(CodeKeyUnknown, nil,
			"the message is wrapped for Connect Key ID %s; the configured Key IDs are %s",
			quoteList(found), quoteList(configured))
	}
	if !slices.Contains(d.cfg.ConnectSuites, h.Suite) {
		return Result{Metadata: meta}, newError(CodeSuiteRejected, nil,
			"algorithm suite %s (%s) is not allowed for Connect messages; allowed: %s", h.Suite, h.Suite.Name(), suiteList(d.cfg.ConnectSuites))
	}
	out, err := callDecrypt(ctx, d.connectClient, esdktypes.DecryptInput{Ciphertext: msg, Keyring: d.connect.ESDKKeyring()})
	if err != nil {
		return Result{Metadata: meta}, classify(err, h, nil)
	}
	return Result{Plaintext: secret.New(out.Plaintext), Metadata: meta}, nil
}

func (d *Decrypter) decryptKMS(ctx context.Context, msg []byte, h *Header, meta Metadata) (Result, error) {
	if d.kms == nil {
		return Result{Metadata: meta}, newError(CodeKeyProviderUnsupported, nil,
			"the message is wrapped with AWS KMS, but no KMS key ARNs are configured")
	}
	var found []string
	for _, edk := range h.EncryptedDataKeys {
		if edk.ProviderID != kmsesdk.ProviderID {
			continue
		}
		found = append(found, edk.ProviderInfo)
		if meta.KeyID == "" && d.kms.MatchesKey(edk.ProviderInfo) {
			meta.KeyID = edk.ProviderInfo
		}
	}
	if meta.KeyID == "" {
		return Result{Metadata: meta}, newError(CodeKeyUnknown, nil,
			"the message is wrapped with KMS key %s; the configured key ARNs are %s",
			quoteList(found), quoteList(d.kms.KeyARNs()))
	}
	intent, present := h.ContextValue(kmsesdk.ContextIntent)
	reproduced := d.kms.ReproducedContext(intent, present)
	out, err := callDecrypt(ctx, d.kmsClient, esdktypes.DecryptInput{
		Ciphertext:        msg,
		MaterialsManager:  d.kms.MaterialsManager(),
		EncryptionContext: reproduced,
	})
	if err != nil {
		return Result{Metadata: meta}, classify(err, h, d.kms)
	}
	return Result{Plaintext: secret.New(out.Plaintext), Metadata: meta}, nil
}

// callDecrypt runs the ESDK's Decrypt and turns a panic inside the library
// into an error, so that no input can crash the service.
//
// NOTE: The ESDK returns its own plaintext slice; intermediate copies inside
// the library (Dafny sequences) are garbage-collected, not wiped.
func callDecrypt(ctx context.Context, client *esdk.Client, input esdktypes.DecryptInput) (out *esdktypes.DecryptOutput, err error) {
	defer lockESDK()()
	defer func() {
		if r := recover(); r != nil {
			out = nil
			err = &libraryPanic{value: fmt.Sprintf("%T", r)}
		}
	}()
	return client.Decrypt(ctx, input)
}

// libraryPanic records that the ESDK panicked; only the panic value's type is
// kept, because the value itself could carry message bytes.
type libraryPanic struct{ value string }

func (p *libraryPanic) Error() string { return "encryption SDK panicked with a " + p.value }

func contextKeys(h *Header) []string {
	keys := make([]string, 0, len(h.EncryptionContext))
	for _, e := range h.EncryptionContext {
		keys = append(keys, e.Key)
	}
	slices.Sort(keys)
	return keys
}

func providerIDs(h *Header) []string {
	var ids []string
	for _, edk := range h.EncryptedDataKeys {
		if !slices.Contains(ids, edk.ProviderID) {
			ids = append(ids, edk.ProviderID)
		}
	}
	return ids
}

// quoteList renders names for messages, each quoted with %q so control
// characters from a hostile header cannot forge log or response text.
func quoteList(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		if len(n) > 128 {
			n = n[:128] + "..."
		}
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(quoted, ", ")
}

func suiteList(suites []Suite) string {
	parts := make([]string, len(suites))
	for i, s := range suites {
		parts[i] = s.String()
	}
	return strings.Join(parts, ", ")
}
