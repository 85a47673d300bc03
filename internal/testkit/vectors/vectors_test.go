package vectors_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	mpl "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygenerated"
	mpltypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygeneratedtypes"
	esdk "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygenerated"
	esdktypes "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygeneratedtypes"
	"go.uber.org/goleak"

	"github.com/connect-secure-input/processor/internal/testkit/localkms"
	"github.com/connect-secure-input/processor/internal/testkit/vectors"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, localkms.GoleakOptions()...)
}

func TestManifestCoversEveryCase(t *testing.T) {
	m := vectors.Load(t)

	if m.Generator.ESDK != "@aws-crypto/client-node" || m.Generator.ESDKVersion == "" {
		t.Errorf("generator = %+v, want @aws-crypto/client-node with a version", m.Generator)
	}
	if len(m.ConfiguredConnectKeys()) != 3 {
		t.Errorf("configured Connect keys = %d, want 3", len(m.ConfiguredConnectKeys()))
	}

	// Every code a ciphertext alone can cause has at least one vector. The
	// KMS codes come from the KMS endpoint's state, not from a message.
	counts := map[string]int{}
	for _, v := range m.Vectors {
		counts[v.Error]++
	}
	for _, code := range vectors.Codes {
		if code == vectors.CodeKMSUnavailable || code == vectors.CodeKMSAccessDenied {
			continue
		}
		if counts[code] == 0 {
			t.Errorf("no vector expects %s", code)
		}
	}
	if counts[""] < 30 {
		t.Errorf("positive vectors = %d, want at least 30", counts[""])
	}
}

func TestConnectKeysMatchManifest(t *testing.T) {
	m := vectors.Load(t)
	for _, k := range m.ConnectKeys {
		t.Run(k.KeyID, func(t *testing.T) {
			for _, pemBytes := range [][]byte{k.PrivatePEM(t), k.PublicPEM(t)} {
				if !bytes.Contains(pemBytes, []byte("-----BEGIN ")) {
					t.Errorf("key file of %s is not PEM", k.KeyID)
				}
			}
			if k.PrivateKeyPKCS1 != "" && !bytes.Contains(k.PrivatePKCS1PEM(t), []byte("RSA PRIVATE KEY")) {
				t.Errorf("PKCS#1 key file of %s is not PKCS#1 PEM", k.KeyID)
			}
		})
	}
}

func TestGeneratedInputIsDeterministic(t *testing.T) {
	m := vectors.Load(t)
	tests := []struct {
		name    string
		wantLen int
	}{
		{name: "random-1mib-raw", wantLen: 1 << 20},
		{name: "random-1mib-base64", wantLen: 4 * ((1<<20 + 2) / 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := m.Vector(t, tt.name)
			first, second := v.Input(t), v.Input(t)
			if len(first) != tt.wantLen {
				t.Errorf("input length = %d, want %d", len(first), tt.wantLen)
			}
			if !bytes.Equal(first, second) {
				t.Error("two generations of the input differ")
			}
		})
	}
}

// TestPositiveVectorsDecryptWithGoESDK checks the vectors before any service
// code exists: every message with a plaintext decrypts with the official Go
// ESDK to that plaintext. Positive vectors decrypt under the service's own
// policy. For Connect that is REQUIRE_ENCRYPT_ALLOW_DECRYPT, and for KMS it is
// REQUIRE_ENCRYPT_REQUIRE_DECRYPT with the required encryption context.
// Negative vectors with a plaintext are rejected by the service's policy
// alone, so they decrypt under a permissive policy.
func TestPositiveVectorsDecryptWithGoESDK(t *testing.T) {
	m := vectors.Load(t)
	kms := localkms.Start(t)
	ctx := context.Background()

	for _, v := range m.Vectors {
		want := v.Plaintext()
		if want == nil {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			input, ok := strictBase64(v.Input(t))
			if !ok {
				if v.Positive() {
					t.Fatal("positive vector is not standard base64")
				}
				// base64-line-wrapped: its message is valid, its encoding is not.
				input = v.Ciphertext(t)
			}

			var out *esdktypes.DecryptOutput
			var err error
			switch v.Scheme {
			case vectors.SchemeConnect:
				key := m.ConnectKey(t, v.KeyID)
				out, err = decryptConnect(ctx, t, input, []vectors.ConnectKey{key}, nil)
			case vectors.SchemeKMS:
				arn := v.KeyARN
				if v.DecryptKeyARN != "" {
					arn = v.DecryptKeyARN
				}
				out, err = decryptKMS(ctx, t, kms, m, input, []string{arn}, v.Positive())
			default:
				t.Fatalf("vector with plaintext has scheme %q", v.Scheme)
			}
			if err != nil {
				t.Fatalf("Go ESDK decrypt: %s", describe(err))
			}

			if !bytes.Equal(out.Plaintext, want) {
				t.Errorf("plaintext differs from the manifest (%d bytes, want %d)", len(out.Plaintext), len(want))
			}
			if got := string(out.AlgorithmSuiteId); got != v.Suite {
				t.Errorf("suite = %s, want %s", got, v.Suite)
			}
			for key, value := range v.EncryptionContext {
				if out.EncryptionContext[key] != value {
					t.Errorf("encryption context %s = %q, want %q", key, out.EncryptionContext[key], value)
				}
			}
		})
	}
}

// TestNegativeVectorsFailWithGoESDK checks that negative vectors fail in the
// Go ESDK configured as the service will be. That is all configured keys, at
// most Service.MaxEncryptedDataKeys encrypted data keys, the service's
// commitment policies and the required encryption context. Vectors that only
// a service bound rejects (size, suite allow-list) are skipped.
func TestNegativeVectorsFailWithGoESDK(t *testing.T) {
	m := vectors.Load(t)
	kms := localkms.Start(t)
	ctx := context.Background()
	maxKeys := int64(m.Service.MaxEncryptedDataKeys)

	for _, v := range m.Negative() {
		if v.Error == vectors.CodeCiphertextTooLarge || v.Error == vectors.CodeAlgorithmSuiteRejected {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			input, ok := strictBase64(v.Input(t))
			if !ok {
				if v.Error != vectors.CodeCiphertextMalformed {
					t.Errorf("input is not standard base64, but the vector expects %s", v.Error)
				}
				return
			}

			var err error
			switch v.Scheme {
			case vectors.SchemeKMS:
				_, err = decryptKMS(ctx, t, kms, m, input, m.KMS.ConfiguredKeyARNs, true)
			default:
				_, err = decryptConnect(ctx, t, input, m.ConfiguredConnectKeys(), &maxKeys)
			}
			if err == nil {
				t.Fatalf("Go ESDK decrypted a vector that expects %s", v.Error)
			}
			t.Logf("expects %s; Go ESDK: %s", v.Error, describe(err))
		})
	}
}

// describe returns the messages of an ESDK or MPL error, whose own Error
// methods print a nil code pointer as "%!s(*string=<nil>)".
func describe(err error) string {
	var collection mpltypes.CollectionOfErrors
	if errors.As(err, &collection) {
		parts := []string{collection.Message}
		for _, inner := range collection.ListOfErrors {
			parts = append(parts, describe(inner))
		}
		return strings.Join(parts, "; ")
	}
	var esdkErr esdktypes.AwsEncryptionSdkException
	if errors.As(err, &esdkErr) {
		return esdkErr.Message
	}
	var mplErr mpltypes.AwsCryptographicMaterialProvidersException
	if errors.As(err, &mplErr) {
		return mplErr.Message
	}
	return strings.TrimPrefix(err.Error(), "%!s(*string=<nil>): ")
}

// strictBase64 decodes standard base64 after trimming surrounding whitespace
// and, unlike encoding/base64, rejects line breaks inside the text.
func strictBase64(input []byte) ([]byte, bool) {
	text := strings.TrimSpace(string(input))
	if text == "" || strings.ContainsAny(text, "\r\n") {
		return nil, false
	}
	decoded, err := base64.StdEncoding.DecodeString(text)
	return decoded, err == nil
}

func decryptConnect(ctx context.Context, t *testing.T, ciphertext []byte, keys []vectors.ConnectKey, maxKeys *int64) (*esdktypes.DecryptOutput, error) {
	t.Helper()
	materials := newMaterials(t)
	keyrings := make([]mpltypes.IKeyring, 0, len(keys))
	for _, k := range keys {
		keyring, err := materials.CreateRawRsaKeyring(ctx, mpltypes.CreateRawRsaKeyringInput{
			KeyNamespace:  "AmazonConnect",
			KeyName:       k.KeyID,
			PaddingScheme: mpltypes.PaddingSchemeOaepSha512Mgf1,
			PrivateKey:    k.PrivatePEM(t),
			PublicKey:     k.PublicPEM(t),
		})
		if err != nil {
			t.Fatalf("create raw RSA keyring for %s: %v", k.KeyID, err)
		}
		keyrings = append(keyrings, keyring)
	}
	keyring := keyrings[0]
	if len(keyrings) > 1 {
		var err error
		keyring, err = materials.CreateMultiKeyring(ctx, mpltypes.CreateMultiKeyringInput{ChildKeyrings: keyrings})
		if err != nil {
			t.Fatalf("create multi-keyring: %v", err)
		}
	}

	policy := mpltypes.ESDKCommitmentPolicyRequireEncryptAllowDecrypt
	client := newESDK(t, esdktypes.AwsEncryptionSdkConfig{CommitmentPolicy: &policy, MaxEncryptedDataKeys: maxKeys})
	return client.Decrypt(ctx, esdktypes.DecryptInput{Ciphertext: ciphertext, Keyring: keyring})
}

// decryptKMS decrypts with multi-Region-aware KMS keyrings for keyARNs. With
// strict set it applies the service's KMS policy, which is
// REQUIRE_ENCRYPT_REQUIRE_DECRYPT, at most Service.MaxEncryptedDataKeys
// encrypted data keys and the required purpose and intent. Without strict it
// uses REQUIRE_ENCRYPT_ALLOW_DECRYPT and checks no context.
func decryptKMS(ctx context.Context, t *testing.T, server *localkms.Server, m vectors.Manifest, ciphertext []byte, keyARNs []string, strict bool) (*esdktypes.DecryptOutput, error) {
	t.Helper()
	materials := newMaterials(t)
	keyrings := make([]mpltypes.IKeyring, 0, len(keyARNs))
	for _, arn := range keyARNs {
		keyring, err := materials.CreateAwsKmsMrkKeyring(ctx, mpltypes.CreateAwsKmsMrkKeyringInput{
			KmsClient: server.Client(regionOf(t, arn)),
			KmsKeyId:  arn,
		})
		if err != nil {
			t.Fatalf("create KMS keyring for %s: %v", arn, err)
		}
		keyrings = append(keyrings, keyring)
	}
	keyring, err := materials.CreateMultiKeyring(ctx, mpltypes.CreateMultiKeyringInput{ChildKeyrings: keyrings})
	if err != nil {
		t.Fatalf("create multi-keyring: %v", err)
	}

	if !strict {
		policy := mpltypes.ESDKCommitmentPolicyRequireEncryptAllowDecrypt
		client := newESDK(t, esdktypes.AwsEncryptionSdkConfig{CommitmentPolicy: &policy})
		return client.Decrypt(ctx, esdktypes.DecryptInput{Ciphertext: ciphertext, Keyring: keyring})
	}

	defaultCMM, err := materials.CreateDefaultCryptographicMaterialsManager(ctx, mpltypes.CreateDefaultCryptographicMaterialsManagerInput{Keyring: keyring})
	if err != nil {
		t.Fatalf("create default CMM: %v", err)
	}
	requiredCMM, err := materials.CreateRequiredEncryptionContextCMM(ctx, mpltypes.CreateRequiredEncryptionContextCMMInput{
		UnderlyingCMM:                 defaultCMM,
		RequiredEncryptionContextKeys: []string{"purpose", "intent"},
	})
	if err != nil {
		t.Fatalf("create required encryption context CMM: %v", err)
	}
	policy := mpltypes.ESDKCommitmentPolicyRequireEncryptRequireDecrypt
	maxKeys := int64(m.Service.MaxEncryptedDataKeys)
	client := newESDK(t, esdktypes.AwsEncryptionSdkConfig{CommitmentPolicy: &policy, MaxEncryptedDataKeys: &maxKeys})
	return client.Decrypt(ctx, esdktypes.DecryptInput{
		Ciphertext:       ciphertext,
		MaterialsManager: requiredCMM,
		EncryptionContext: map[string]string{
			"purpose": m.Service.KMSPurpose,
			"intent":  m.Service.KMSIntents[0],
		},
	})
}

func newMaterials(t *testing.T) *mpl.Client {
	t.Helper()
	client, err := mpl.NewClient(mpltypes.MaterialProvidersConfig{})
	if err != nil {
		t.Fatalf("create material providers client: %v", err)
	}
	return client
}

func newESDK(t *testing.T, config esdktypes.AwsEncryptionSdkConfig) *esdk.Client {
	t.Helper()
	client, err := esdk.NewClient(config)
	if err != nil {
		t.Fatalf("create ESDK client: %v", err)
	}
	return client
}

// regionOf returns the Region field of a KMS key ARN.
func regionOf(t *testing.T, arn string) string {
	t.Helper()
	parts := strings.Split(arn, ":")
	if len(parts) < 6 {
		t.Fatalf("invalid KMS key ARN %q", arn)
	}
	return parts[3]
}
