// Package connectcrypt makes ciphertexts the way the two producers in front of
// the service do, with the official AWS Encryption SDK (ESDK) for Go:
//
//   - Amazon Connect's "Store customer input" block (DTMF): a raw RSA keyring
//     with key namespace "AmazonConnect", key name = the Key ID Connect shows
//     for the uploaded public key, RSA-OAEP with SHA-512 and MGF1-SHA-512,
//     commitment policy FORBID_ENCRYPT_ALLOW_DECRYPT and algorithm suite 0x0378
//     (AES-256-GCM, HKDF-SHA384, ECDSA P-384), so message format version 1.
//     The only encryption-context entry is aws-crypto-public-key, which the
//     ESDK adds for a signed suite. The base64 text starts "AYAD".
//   - The Lex V2 fulfillment Lambda: an AWS KMS keyring, commitment policy
//     REQUIRE_ENCRYPT_REQUIRE_DECRYPT, suite 0x0578 (format version 2), and the
//     encryption context {"purpose": ..., "intent": ...}.
//
// TEST ONLY: the service never encrypts card data. This package exists so
// tests, the demo and tools/connect-encrypt can feed the service realistic
// input. It also generates RSA key pairs with a UUID Key ID, as an operator
// would before uploading the public key to Connect.
package connectcrypt

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"

	mpl "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygenerated"
	mpltypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygeneratedtypes"
	esdk "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygenerated"
	esdktypes "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygeneratedtypes"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// Constants of the Amazon Connect DTMF scheme.
const (
	// KeyNamespace is the raw keyring namespace, and so the encrypted data
	// key's provider id, of every Connect ciphertext.
	KeyNamespace = "AmazonConnect"
	// Padding is Connect's RSA wrapping: OAEP with SHA-512 and MGF1-SHA-512.
	Padding = mpltypes.PaddingSchemeOaepSha512Mgf1
	// Suite is Connect's algorithm suite, 0x0378, which is not key-committing.
	Suite = mpltypes.ESDKAlgorithmSuiteIdAlgAes256GcmIv12Tag16HkdfSha384EcdsaP384
	// CommitmentPolicy is the policy under which Connect encrypts; it is the
	// only policy that allows encrypting with a non-committing suite.
	CommitmentPolicy = mpltypes.ESDKCommitmentPolicyForbidEncryptAllowDecrypt
	// PublicKeyContextKey is the encryption-context key under which the ESDK
	// stores the message's ECDSA verification key for signed suites.
	PublicKeyContextKey = "aws-crypto-public-key"
)

// Constants of the Lex fulfillment (KMS) scheme.
const (
	// LexSuite is the algorithm suite of Lex tokens, 0x0578 (key-committing, signed).
	LexSuite = mpltypes.ESDKAlgorithmSuiteIdAlgAes256GcmHkdfSha512CommitKeyEcdsaP384
	// LexCommitmentPolicy is the commitment policy of the Lex fulfillment Lambda.
	LexCommitmentPolicy = mpltypes.ESDKCommitmentPolicyRequireEncryptRequireDecrypt
	// PurposeKey and IntentKey are the encryption-context keys of a Lex token.
	PurposeKey = "purpose"
	IntentKey  = "intent"
	// DefaultPurpose and DefaultIntent are the values the service expects by default.
	DefaultPurpose = "connect-secure-input"
	DefaultIntent  = "CollectPayment"
)

// PublicKey is an RSA public key uploaded to Connect and the Key ID that
// Connect shows for it.
type PublicKey struct {
	KeyID string
	Key   *rsa.PublicKey
}

// ParsePublicKeyPEM reads an RSA public key from PEM, either SubjectPublicKeyInfo
// ("PUBLIC KEY", what Connect takes) or PKCS#1 ("RSA PUBLIC KEY"), and pairs
// it with its Key ID.
func ParsePublicKeyPEM(keyID string, pemBytes []byte) (PublicKey, error) {
	if keyID == "" {
		return PublicKey{}, errors.New("missing Key ID: pass the Key ID Connect shows for the public key")
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return PublicKey{}, fmt.Errorf("invalid public key for Key ID %s: no PEM block found", keyID)
	}

	var key *rsa.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return PublicKey{}, fmt.Errorf("invalid public key for Key ID %s: %w", keyID, err)
		}
		rsaKey, ok := parsed.(*rsa.PublicKey)
		if !ok {
			return PublicKey{}, fmt.Errorf("invalid public key for Key ID %s: %T is not an RSA key", keyID, parsed)
		}
		key = rsaKey
	case "RSA PUBLIC KEY":
		parsed, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return PublicKey{}, fmt.Errorf("invalid public key for Key ID %s: %w", keyID, err)
		}
		key = parsed
	default:
		return PublicKey{}, fmt.Errorf("invalid public key for Key ID %s: PEM type %q, want PUBLIC KEY or RSA PUBLIC KEY", keyID, block.Type)
	}

	if err := checkKeySize(key.N.BitLen()); err != nil {
		return PublicKey{}, fmt.Errorf("invalid public key for Key ID %s: %w", keyID, err)
	}
	return PublicKey{KeyID: keyID, Key: key}, nil
}

// EncryptDTMF encrypts digits as Connect's "Store customer input" block does
// and returns the message as standard base64. With more than one key the
// message carries one encrypted data key per key, as when two keys are
// active during a rotation. The caller keeps ownership of digits.
func EncryptDTMF(ctx context.Context, digits []byte, keys ...PublicKey) (string, error) {
	if len(keys) == 0 {
		return "", errors.New("missing public key: pass at least one Connect public key")
	}
	materials, err := mpl.NewClient(mpltypes.MaterialProvidersConfig{})
	if err != nil {
		return "", fmt.Errorf("create material providers client: %w", err)
	}

	keyrings := make([]mpltypes.IKeyring, 0, len(keys))
	for _, k := range keys {
		keyring, err := rsaKeyring(ctx, materials, k)
		if err != nil {
			return "", err
		}
		keyrings = append(keyrings, keyring)
	}
	keyring := keyrings[0]
	if len(keyrings) > 1 {
		keyring, err = materials.CreateMultiKeyring(ctx, mpltypes.CreateMultiKeyringInput{
			Generator:     keyrings[0],
			ChildKeyrings: keyrings[1:],
		})
		if err != nil {
			return "", fmt.Errorf("create multi-keyring: %w", readable(err))
		}
	}

	suite := Suite
	return encrypt(ctx, CommitmentPolicy, esdktypes.EncryptInput{
		Plaintext:        digits,
		AlgorithmSuiteId: &suite,
		Keyring:          keyring,
	})
}

// LexContext returns the encryption context of a Lex token for intent, with
// the default purpose.
func LexContext(intent string) map[string]string {
	return map[string]string{PurposeKey: DefaultPurpose, IntentKey: intent}
}

// EncryptLex encrypts a slot value as the Lex fulfillment Lambda does: an AWS
// KMS keyring on keyARN through client, suite 0x0578, and encryptionContext
// (normally LexContext). It returns standard base64. The caller keeps
// ownership of slot.
func EncryptLex(ctx context.Context, client *kms.Client, keyARN string, encryptionContext map[string]string, slot []byte) (string, error) {
	if client == nil {
		return "", errors.New("missing KMS client")
	}
	materials, err := mpl.NewClient(mpltypes.MaterialProvidersConfig{})
	if err != nil {
		return "", fmt.Errorf("create material providers client: %w", err)
	}
	keyring, err := materials.CreateAwsKmsKeyring(ctx, mpltypes.CreateAwsKmsKeyringInput{
		KmsClient: client,
		KmsKeyId:  keyARN,
	})
	if err != nil {
		return "", fmt.Errorf("create KMS keyring for %s: %w", keyARN, readable(err))
	}

	suite := LexSuite
	return encrypt(ctx, LexCommitmentPolicy, esdktypes.EncryptInput{
		Plaintext:         slot,
		AlgorithmSuiteId:  &suite,
		EncryptionContext: encryptionContext,
		Keyring:           keyring,
	})
}

func rsaKeyring(ctx context.Context, materials *mpl.Client, key PublicKey) (mpltypes.IKeyring, error) {
	if key.Key == nil {
		return nil, fmt.Errorf("missing RSA key for Key ID %s", key.KeyID)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Key)
	if err != nil {
		return nil, fmt.Errorf("encode public key for Key ID %s: %w", key.KeyID, err)
	}
	// The MPL reads the public key as SubjectPublicKeyInfo PEM and needs no
	// private key to encrypt.
	keyring, err := materials.CreateRawRsaKeyring(ctx, mpltypes.CreateRawRsaKeyringInput{
		KeyNamespace:  KeyNamespace,
		KeyName:       key.KeyID,
		PaddingScheme: Padding,
		PublicKey:     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
	})
	if err != nil {
		return nil, fmt.Errorf("create raw RSA keyring for Key ID %s: %w", key.KeyID, readable(err))
	}
	return keyring, nil
}

func encrypt(ctx context.Context, policy mpltypes.ESDKCommitmentPolicy, input esdktypes.EncryptInput) (string, error) {
	client, err := esdk.NewClient(esdktypes.AwsEncryptionSdkConfig{CommitmentPolicy: &policy})
	if err != nil {
		return "", fmt.Errorf("create AWS Encryption SDK client: %w", err)
	}
	out, err := client.Encrypt(ctx, input)
	if err != nil {
		return "", fmt.Errorf("encrypt with the AWS Encryption SDK: %w", readable(err))
	}
	return base64.StdEncoding.EncodeToString(out.Ciphertext), nil
}

// sdkError gives an ESDK or MPL exception a readable message: their own Error
// methods print a nil code pointer as "%!s(*string=<nil>)".
type sdkError struct {
	message string
	err     error
}

func (e sdkError) Error() string { return e.message }
func (e sdkError) Unwrap() error { return e.err }

func readable(err error) error {
	var esdkErr esdktypes.AwsEncryptionSdkException
	if errors.As(err, &esdkErr) {
		return sdkError{message: esdkErr.Message, err: err}
	}
	var mplErr mpltypes.AwsCryptographicMaterialProvidersException
	if errors.As(err, &mplErr) {
		return sdkError{message: mplErr.Message, err: err}
	}
	return err
}
