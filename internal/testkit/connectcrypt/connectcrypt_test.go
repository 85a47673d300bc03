package connectcrypt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mpl "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygenerated"
	mpltypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygeneratedtypes"
	esdk "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygenerated"
	esdktypes "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygeneratedtypes"
	"go.uber.org/goleak"

	"github.com/connect-secure-input/processor/internal/testkit/connectcrypt"
	"github.com/connect-secure-input/processor/internal/testkit/localkms"
	"github.com/connect-secure-input/processor/internal/testkit/vectors"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, localkms.GoleakOptions()...)
}

var payloads = []struct {
	name   string
	digits string
}{
	{name: "pan16", digits: "4111111111111111"},
	{name: "pan15", digits: "378282246310005"},
	{name: "pan19", digits: "6205500000000000004"},
	{name: "cvv3", digits: "123"},
	{name: "cvv4", digits: "1234"},
	{name: "expiry", digits: "1230"},
}

func TestEncryptDTMFDecryptsLikeConnect(t *testing.T) {
	m := vectors.Load(t)
	ctx := context.Background()

	for _, key := range m.ConfiguredConnectKeys() {
		public := parsePublic(t, key)
		for _, p := range payloads {
			t.Run(key.KeyID[:8]+"-"+p.name, func(t *testing.T) {
				text, err := connectcrypt.EncryptDTMF(ctx, []byte(p.digits), public)
				if err != nil {
					t.Fatalf("EncryptDTMF: %v", err)
				}
				if !strings.HasPrefix(text, "AYAD") {
					t.Errorf("base64 starts %q, want AYAD (format 1, suite 0x0378)", text[:4])
				}
				ciphertext := decodeBase64(t, text)

				header := readHeader(t, ciphertext)
				if header.version != 1 || header.suite != 0x0378 {
					t.Errorf("header version %d suite %#04x, want 1 and 0x0378", header.version, header.suite)
				}
				if len(header.edks) != 1 || header.edks[0] != [2]string{"AmazonConnect", key.KeyID} {
					t.Errorf("encrypted data keys = %v, want one AmazonConnect key named %s", header.edks, key.KeyID)
				}

				out, err := decryptRSA(ctx, t, ciphertext, key, mpltypes.ESDKCommitmentPolicyRequireEncryptAllowDecrypt, mpltypes.PaddingSchemeOaepSha512Mgf1)
				if err != nil {
					t.Fatalf("decrypt under REQUIRE_ENCRYPT_ALLOW_DECRYPT: %v", err)
				}
				if string(out.Plaintext) != p.digits {
					t.Error("decrypted digits differ from the input")
				}
				if out.AlgorithmSuiteId != connectcrypt.Suite {
					t.Errorf("suite = %s, want %s", out.AlgorithmSuiteId, connectcrypt.Suite)
				}
				if len(out.EncryptionContext) != 1 || out.EncryptionContext[connectcrypt.PublicKeyContextKey] == "" {
					t.Errorf("encryption context keys = %v, want only %s", keys(out.EncryptionContext), connectcrypt.PublicKeyContextKey)
				}
			})
		}
	}
}

func TestEncryptDTMFPolicyAndPadding(t *testing.T) {
	m := vectors.Load(t)
	ctx := context.Background()
	key := m.ConfiguredConnectKeys()[0]
	text, err := connectcrypt.EncryptDTMF(ctx, []byte("4111111111111111"), parsePublic(t, key))
	if err != nil {
		t.Fatalf("EncryptDTMF: %v", err)
	}
	ciphertext := decodeBase64(t, text)

	tests := []struct {
		name    string
		policy  mpltypes.ESDKCommitmentPolicy
		padding mpltypes.PaddingScheme
		wantErr string
	}{
		{
			name:    "require decrypt rejects",
			policy:  mpltypes.ESDKCommitmentPolicyRequireEncryptRequireDecrypt,
			padding: mpltypes.PaddingSchemeOaepSha512Mgf1,
			wantErr: "Commitment policy requires only committing algorithm suites",
		},
		{
			name:    "OAEP-SHA256 keyring fails",
			policy:  mpltypes.ESDKCommitmentPolicyRequireEncryptAllowDecrypt,
			padding: mpltypes.PaddingSchemeOaepSha256Mgf1,
			wantErr: "crypto/rsa: decryption error",
		},
		{
			name:    "OAEP-SHA1 keyring fails",
			policy:  mpltypes.ESDKCommitmentPolicyRequireEncryptAllowDecrypt,
			padding: mpltypes.PaddingSchemeOaepSha1Mgf1,
			wantErr: "crypto/rsa: decryption error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decryptRSA(ctx, t, ciphertext, key, tt.policy, tt.padding)
			if err == nil {
				t.Fatal("decrypt succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestEncryptDTMFTwoActiveKeys(t *testing.T) {
	m := vectors.Load(t)
	ctx := context.Background()
	configured := m.ConfiguredConnectKeys()
	first, second := configured[0], configured[1]

	text, err := connectcrypt.EncryptDTMF(ctx, []byte("378282246310005"), parsePublic(t, first), parsePublic(t, second))
	if err != nil {
		t.Fatalf("EncryptDTMF: %v", err)
	}
	ciphertext := decodeBase64(t, text)
	header := readHeader(t, ciphertext)
	want := [][2]string{{"AmazonConnect", first.KeyID}, {"AmazonConnect", second.KeyID}}
	if len(header.edks) != 2 || header.edks[0] != want[0] || header.edks[1] != want[1] {
		t.Errorf("encrypted data keys = %v, want %v", header.edks, want)
	}

	for _, key := range []vectors.ConnectKey{first, second} {
		t.Run(key.KeyID, func(t *testing.T) {
			out, err := decryptRSA(ctx, t, ciphertext, key, mpltypes.ESDKCommitmentPolicyRequireEncryptAllowDecrypt, mpltypes.PaddingSchemeOaepSha512Mgf1)
			if err != nil {
				t.Fatalf("decrypt with one of two keys: %v", err)
			}
			if string(out.Plaintext) != "378282246310005" {
				t.Error("decrypted digits differ from the input")
			}
		})
	}
}

func TestEncryptDTMFRejectsMissingKey(t *testing.T) {
	_, err := connectcrypt.EncryptDTMF(context.Background(), []byte("123"))
	if err == nil || !strings.Contains(err.Error(), "missing public key") {
		t.Errorf("error = %v, want a missing public key error", err)
	}
}

func TestEncryptLexDecryptsWithRequiredContext(t *testing.T) {
	server := localkms.Start(t)
	ctx := context.Background()
	keys := localkms.DefaultKeys()

	tests := []struct {
		name       string
		encryptARN string
		decryptARN string
	}{
		{name: "payment key", encryptARN: keys.Payment, decryptARN: keys.Payment},
		{name: "multi-Region replica", encryptARN: keys.MultiRegion, decryptARN: keys.MultiRegionReplica},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, err := connectcrypt.EncryptLex(ctx, server.Client(localkms.Region), tt.encryptARN,
				connectcrypt.LexContext(connectcrypt.DefaultIntent), []byte("4111111111111111"))
			if err != nil {
				t.Fatalf("EncryptLex: %v", err)
			}
			if !strings.HasPrefix(text, "AgV4") {
				t.Errorf("base64 starts %q, want AgV4 (format 2, suite 0x0578)", text[:4])
			}

			out, err := decryptKMS(ctx, t, server, decodeBase64(t, text), tt.decryptARN)
			if err != nil {
				t.Fatalf("decrypt with the required encryption context: %v", err)
			}
			if string(out.Plaintext) != "4111111111111111" {
				t.Error("decrypted value differs from the input")
			}
			if out.AlgorithmSuiteId != connectcrypt.LexSuite {
				t.Errorf("suite = %s, want %s", out.AlgorithmSuiteId, connectcrypt.LexSuite)
			}
		})
	}
}

func TestEncryptLexWrongIntentFails(t *testing.T) {
	server := localkms.Start(t)
	ctx := context.Background()
	arn := localkms.DefaultKeys().Payment

	text, err := connectcrypt.EncryptLex(ctx, server.Client(localkms.Region), arn, connectcrypt.LexContext("TransferFunds"), []byte("123"))
	if err != nil {
		t.Fatalf("EncryptLex: %v", err)
	}
	_, err = decryptKMS(ctx, t, server, decodeBase64(t, text), arn)
	if err == nil || !strings.Contains(err.Error(), "does not match reproduced encryption context") {
		t.Errorf("error = %v, want a reproduced encryption context mismatch", err)
	}
}

func TestParsePublicKeyPEM(t *testing.T) {
	m := vectors.Load(t)
	key := m.ConfiguredConnectKeys()[0]
	spki := key.PublicPEM(t)
	private, err := connectcrypt.ParsePrivateKeyPEM(key.KeyID, key.PrivatePEM(t))
	if err != nil {
		t.Fatalf("ParsePrivateKeyPEM: %v", err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&private.Private.PublicKey)})

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // a too-small key is the case under test
	if err != nil {
		t.Fatal(err)
	}
	smallDER, err := x509.MarshalPKIXPublicKey(&small.PublicKey)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		keyID   string
		pem     []byte
		wantErr string
	}{
		{name: "SubjectPublicKeyInfo", keyID: key.KeyID, pem: spki},
		{name: "PKCS1", keyID: key.KeyID, pem: pkcs1},
		{name: "missing Key ID", keyID: "", pem: spki, wantErr: "missing Key ID"},
		{name: "not PEM", keyID: key.KeyID, pem: []byte("not a key"), wantErr: "no PEM block"},
		{name: "private key", keyID: key.KeyID, pem: key.PrivatePEM(t), wantErr: `PEM type "PRIVATE KEY"`},
		{name: "EC key", keyID: key.KeyID, pem: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}), wantErr: "not an RSA key"},
		{name: "1024 bits", keyID: key.KeyID, pem: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: smallDER}), wantErr: "1024 bits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := connectcrypt.ParsePublicKeyPEM(tt.keyID, tt.pem)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParsePublicKeyPEM: %v", err)
				}
				if got.KeyID != tt.keyID || got.Key.N.Cmp(private.Private.N) != 0 {
					t.Error("parsed key differs from the test key")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestGenerateKeyPair(t *testing.T) {
	ctx := context.Background()
	pair, err := connectcrypt.GenerateKeyPair(2048)
	if err != nil {
		t.Fatalf("GenerateKeyPair: %v", err)
	}
	if len(pair.KeyID) != 36 || pair.KeyID[14] != '4' {
		t.Errorf("Key ID %q is not a version 4 UUID", pair.KeyID)
	}
	if bits := pair.Private.N.BitLen(); bits != 2048 {
		t.Errorf("key size = %d bits, want 2048", bits)
	}

	dir := t.TempDir()
	privatePath, publicPath, err := pair.WriteFiles(dir)
	if err != nil {
		t.Fatalf("WriteFiles: %v", err)
	}
	assertMode(t, privatePath, 0o600)
	assertMode(t, publicPath, 0o644)
	if _, _, err := pair.WriteFiles(dir); !errors.Is(err, os.ErrExist) {
		t.Errorf("second WriteFiles error = %v, want os.ErrExist", err)
	}

	privatePEM, err := os.ReadFile(privatePath)
	if err != nil {
		t.Fatal(err)
	}
	publicPEM, err := os.ReadFile(publicPath)
	if err != nil {
		t.Fatal(err)
	}
	public, err := connectcrypt.ParsePublicKeyPEM(pair.KeyID, publicPEM)
	if err != nil {
		t.Fatalf("ParsePublicKeyPEM of the written key: %v", err)
	}
	text, err := connectcrypt.EncryptDTMF(ctx, []byte("1230"), public)
	if err != nil {
		t.Fatalf("EncryptDTMF: %v", err)
	}
	out, err := decryptRSAPEM(ctx, t, decodeBase64(t, text), pair.KeyID, privatePEM, publicPEM,
		mpltypes.ESDKCommitmentPolicyRequireEncryptAllowDecrypt, mpltypes.PaddingSchemeOaepSha512Mgf1)
	if err != nil {
		t.Fatalf("decrypt with the written private key: %v", err)
	}
	if string(out.Plaintext) != "1230" {
		t.Error("decrypted expiry differs from the input")
	}
}

func TestGenerateKeyPairRejectsSize(t *testing.T) {
	for _, bits := range []int{1024, 2047, 8192} {
		if _, err := connectcrypt.GenerateKeyPair(bits); err == nil {
			t.Errorf("GenerateKeyPair(%d) succeeded, want an error", bits)
		}
	}
}

func TestParsePrivateKeyPEMForms(t *testing.T) {
	m := vectors.Load(t)
	for _, key := range m.ConnectKeys {
		if key.PrivateKeyPKCS1 == "" {
			continue
		}
		pkcs8, err := connectcrypt.ParsePrivateKeyPEM(key.KeyID, key.PrivatePEM(t))
		if err != nil {
			t.Fatalf("PKCS#8: %v", err)
		}
		pkcs1, err := connectcrypt.ParsePrivateKeyPEM(key.KeyID, key.PrivatePKCS1PEM(t))
		if err != nil {
			t.Fatalf("PKCS#1: %v", err)
		}
		if !pkcs8.Private.Equal(pkcs1.Private) {
			t.Errorf("Key ID %s: the PKCS#1 and PKCS#8 files hold different keys", key.KeyID)
		}
	}
}

// header is the part of an ESDK message header these tests check.
type header struct {
	version int
	suite   uint16
	// edks holds each encrypted data key's provider id and provider info.
	edks [][2]string
}

// readHeader reads the version, suite and encrypted data keys of a format 1
// or 2 message (see the ESDK message format reference).
func readHeader(t *testing.T, msg []byte) header {
	t.Helper()
	var h header
	offset := 0
	next := func(n int) []byte {
		if offset+n > len(msg) {
			t.Fatalf("message of %d bytes ends inside the header", len(msg))
		}
		b := msg[offset : offset+n]
		offset += n
		return b
	}

	h.version = int(next(1)[0])
	if h.version == 1 {
		next(1) // message type
	}
	h.suite = binary.BigEndian.Uint16(next(2))
	if h.version == 1 {
		next(16)
	} else {
		next(32)
	}
	next(int(binary.BigEndian.Uint16(next(2)))) // AAD

	count := int(binary.BigEndian.Uint16(next(2)))
	for range count {
		provider := string(next(int(binary.BigEndian.Uint16(next(2)))))
		info := string(next(int(binary.BigEndian.Uint16(next(2)))))
		next(int(binary.BigEndian.Uint16(next(2))))
		h.edks = append(h.edks, [2]string{provider, info})
	}
	return h
}

func parsePublic(t *testing.T, key vectors.ConnectKey) connectcrypt.PublicKey {
	t.Helper()
	public, err := connectcrypt.ParsePublicKeyPEM(key.KeyID, key.PublicPEM(t))
	if err != nil {
		t.Fatalf("ParsePublicKeyPEM(%s): %v", key.KeyID, err)
	}
	return public
}

func decryptRSA(ctx context.Context, t *testing.T, ciphertext []byte, key vectors.ConnectKey, policy mpltypes.ESDKCommitmentPolicy, padding mpltypes.PaddingScheme) (*esdktypes.DecryptOutput, error) {
	t.Helper()
	return decryptRSAPEM(ctx, t, ciphertext, key.KeyID, key.PrivatePEM(t), key.PublicPEM(t), policy, padding)
}

func decryptRSAPEM(ctx context.Context, t *testing.T, ciphertext []byte, keyID string, privatePEM, publicPEM []byte, policy mpltypes.ESDKCommitmentPolicy, padding mpltypes.PaddingScheme) (*esdktypes.DecryptOutput, error) {
	t.Helper()
	materials := newMaterials(t)
	keyring, err := materials.CreateRawRsaKeyring(ctx, mpltypes.CreateRawRsaKeyringInput{
		KeyNamespace:  connectcrypt.KeyNamespace,
		KeyName:       keyID,
		PaddingScheme: padding,
		PrivateKey:    privatePEM,
		PublicKey:     publicPEM,
	})
	if err != nil {
		t.Fatalf("create raw RSA keyring: %v", err)
	}
	client, err := esdk.NewClient(esdktypes.AwsEncryptionSdkConfig{CommitmentPolicy: &policy})
	if err != nil {
		t.Fatalf("create ESDK client: %v", err)
	}
	return client.Decrypt(ctx, esdktypes.DecryptInput{Ciphertext: ciphertext, Keyring: keyring})
}

// decryptKMS decrypts as the service's KMS path does: a multi-Region-aware
// KMS keyring, REQUIRE_ENCRYPT_REQUIRE_DECRYPT, and the required context
// keys purpose and intent reproduced with their default values.
func decryptKMS(ctx context.Context, t *testing.T, server *localkms.Server, ciphertext []byte, keyARN string) (*esdktypes.DecryptOutput, error) {
	t.Helper()
	materials := newMaterials(t)
	region := strings.Split(keyARN, ":")[3]
	keyring, err := materials.CreateAwsKmsMrkKeyring(ctx, mpltypes.CreateAwsKmsMrkKeyringInput{
		KmsClient: server.Client(region),
		KmsKeyId:  keyARN,
	})
	if err != nil {
		t.Fatalf("create KMS keyring: %v", err)
	}

	defaultCMM, err := materials.CreateDefaultCryptographicMaterialsManager(ctx, mpltypes.CreateDefaultCryptographicMaterialsManagerInput{Keyring: keyring})
	if err != nil {
		t.Fatalf("create default CMM: %v", err)
	}
	requiredCMM, err := materials.CreateRequiredEncryptionContextCMM(ctx, mpltypes.CreateRequiredEncryptionContextCMMInput{
		UnderlyingCMM:                 defaultCMM,
		RequiredEncryptionContextKeys: []string{connectcrypt.PurposeKey, connectcrypt.IntentKey},
	})
	if err != nil {
		t.Fatalf("create required encryption context CMM: %v", err)
	}

	policy := connectcrypt.LexCommitmentPolicy
	client, err := esdk.NewClient(esdktypes.AwsEncryptionSdkConfig{CommitmentPolicy: &policy})
	if err != nil {
		t.Fatalf("create ESDK client: %v", err)
	}
	return client.Decrypt(ctx, esdktypes.DecryptInput{
		Ciphertext:        ciphertext,
		MaterialsManager:  requiredCMM,
		EncryptionContext: connectcrypt.LexContext(connectcrypt.DefaultIntent),
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

func decodeBase64(t *testing.T, text string) []byte {
	t.Helper()
	decoded, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		t.Fatalf("output is not standard base64: %v", err)
	}
	return decoded
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s mode = %o, want %o", filepath.Base(path), got, want)
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
