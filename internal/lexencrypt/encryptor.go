package lexencrypt

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	mpl "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygenerated"
	mpltypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygeneratedtypes"
	esdk "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygenerated"
	esdktypes "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygeneratedtypes"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/connect-secure-input/processor/internal/secret"
)

// Environment variables of the Lambda, set by deploy/cloudformation/forwarder.yaml.
const (
	EnvKeyARN  = "LEXENCRYPT_KMS_KEY_ARN"
	EnvPurpose = "LEXENCRYPT_PURPOSE"
)

// Encryption-context keys and the default purpose. The processor's KMS path
// requires both keys and compares their values with its own configuration.
const (
	ContextPurpose = "purpose"
	ContextIntent  = "intent"
	DefaultPurpose = "connect-secure-input"
)

// Suite and CommitmentPolicy are what the processor's KMS path accepts: the
// key-committing, signed suite 0x0578 (message format version 2) under
// REQUIRE_ENCRYPT_REQUIRE_DECRYPT.
const (
	Suite            = mpltypes.ESDKAlgorithmSuiteIdAlgAes256GcmHkdfSha512CommitKeyEcdsaP384
	CommitmentPolicy = mpltypes.ESDKCommitmentPolicyRequireEncryptRequireDecrypt
)

// Defaults for Config.
const (
	// DefaultCallTimeout bounds one KMS HTTP attempt. The ESDK calls KMS with
	// context.Background (MPL v0.4.0), so the invocation's context cannot
	// cancel a KMS call; this client-side timeout is what bounds it.
	DefaultCallTimeout = 2 * time.Second
	// DefaultMaxAttempts is the number of KMS attempts, the first included.
	// Two attempts of 2 s stay inside the function's 5 s timeout.
	DefaultMaxAttempts = 2
)

// purposePattern is the AllowedPattern of EncryptionContextPurpose in the
// CloudFormation templates; the IAM policy on the key compares this value.
var purposePattern = regexp.MustCompile(`^[\w.-]{1,64}$`)

// Config selects the KMS key and the purpose of the encryption context.
type Config struct {
	// KeyARN is the full ARN of the payments key. An alias is not accepted,
	// because the key policy and the processor name the key itself.
	KeyARN string
	// Purpose is the value of the "purpose" encryption-context key.
	Purpose string
	// CallTimeout bounds one KMS HTTP attempt; MaxAttempts bounds retries.
	CallTimeout time.Duration
	MaxAttempts int
	// AWSConfig is the base SDK configuration. When nil, NewEncryptor loads the
	// default chain, which honors AWS_REGION and AWS_ENDPOINT_URL_KMS.
	AWSConfig *aws.Config
}

// ConfigFromEnv reads LEXENCRYPT_KMS_KEY_ARN and LEXENCRYPT_PURPOSE through
// getenv (os.Getenv in the Lambda) and validates them.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		KeyARN:  strings.TrimSpace(getenv(EnvKeyARN)),
		Purpose: strings.TrimSpace(getenv(EnvPurpose)),
	}
	if cfg.KeyARN == "" {
		return Config{}, fmt.Errorf("missing %s: set it to the ARN of the payments KMS key", EnvKeyARN)
	}
	return cfg, cfg.withDefaults().validate()
}

func (c Config) withDefaults() Config {
	if c.Purpose == "" {
		c.Purpose = DefaultPurpose
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	return c
}

func (c Config) validate() error {
	parsed, err := arn.Parse(c.KeyARN)
	if err != nil || parsed.Service != "kms" || !strings.HasPrefix(parsed.Resource, "key/") || parsed.Region == "" || parsed.AccountID == "" {
		return fmt.Errorf("invalid %s %q: want a full key ARN such as arn:aws:kms:eu-west-2:111122223333:key/<key id>", EnvKeyARN, c.KeyARN)
	}
	if !purposePattern.MatchString(c.Purpose) {
		return fmt.Errorf("invalid %s %q: want 1 to 64 letters, digits, '_', '.' or '-'", EnvPurpose, c.Purpose)
	}
	return nil
}

// Encryptor encrypts slot values with the AWS Encryption SDK and a KMS
// keyring. It is built once per Lambda execution environment (at cold start)
// and is safe for concurrent use.
type Encryptor struct {
	purpose string
	client  *esdk.Client
	keyring mpltypes.IKeyring
}

// NewEncryptor validates cfg and builds the ESDK client and the KMS keyring.
// It makes no KMS call.
func NewEncryptor(ctx context.Context, cfg Config) (*Encryptor, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	kmsClient, err := newKMSClient(ctx, cfg)
	if err != nil {
		return nil, err
	}

	materials, err := mpl.NewClient(mpltypes.MaterialProvidersConfig{})
	if err != nil {
		return nil, fmt.Errorf("create material providers client: %w", readable(err))
	}
	keyring, err := materials.CreateAwsKmsKeyring(ctx, mpltypes.CreateAwsKmsKeyringInput{
		KmsClient: kmsClient,
		KmsKeyId:  cfg.KeyARN,
	})
	if err != nil {
		return nil, fmt.Errorf("create KMS keyring for %s: %w", cfg.KeyARN, readable(err))
	}
	policy := CommitmentPolicy
	client, err := esdk.NewClient(esdktypes.AwsEncryptionSdkConfig{CommitmentPolicy: &policy})
	if err != nil {
		return nil, fmt.Errorf("create AWS Encryption SDK client: %w", readable(err))
	}
	return &Encryptor{purpose: cfg.Purpose, client: client, keyring: keyring}, nil
}

// newKMSClient builds the KMS client with a per-attempt timeout and bounded
// retries. The client uses the key's Region even when AWS_REGION differs.
func newKMSClient(ctx context.Context, cfg Config) (*kms.Client, error) {
	base := cfg.AWSConfig
	if base == nil {
		loaded, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("load AWS configuration: %w", err)
		}
		base = &loaded
	}
	awsCfg := base.Copy()
	parsed, _ := arn.Parse(cfg.KeyARN) // validated by the caller
	awsCfg.Region = parsed.Region
	awsCfg.HTTPClient = &http.Client{Timeout: cfg.CallTimeout}
	awsCfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = cfg.MaxAttempts })
	}
	return kms.NewFromConfig(awsCfg), nil
}

// Encrypt encrypts plaintext for intent and returns the message as standard
// base64, which is what the processor decodes. The encryption context is
// {"purpose": <configured purpose>, "intent": intent}. The caller keeps
// ownership of plaintext.
//
// NOTE: The ESDK copies the plaintext into its own buffers (Dafny sequences),
// which are garbage-collected, not wiped.
func (e *Encryptor) Encrypt(ctx context.Context, intent string, plaintext secret.Value) (string, error) {
	if intent == "" {
		return "", errors.New("missing intent name: the encryption context needs it")
	}
	suite := Suite
	out, err := e.callEncrypt(ctx, esdktypes.EncryptInput{
		Plaintext:         plaintext.Bytes(),
		AlgorithmSuiteId:  &suite,
		EncryptionContext: map[string]string{ContextPurpose: e.purpose, ContextIntent: intent},
		Keyring:           e.keyring,
	})
	if err != nil {
		return "", fmt.Errorf("encrypt with the AWS Encryption SDK: %w", readable(err))
	}
	return base64.StdEncoding.EncodeToString(out.Ciphertext), nil
}

// callEncrypt turns a panic inside the ESDK into an error that names only the
// panic value's type, because the value itself could hold plaintext and the
// Lambda runtime would log it.
func (e *Encryptor) callEncrypt(ctx context.Context, input esdktypes.EncryptInput) (out *esdktypes.EncryptOutput, err error) {
	defer func() {
		if r := recover(); r != nil {
			out = nil
			err = fmt.Errorf("encryption SDK panicked with a %T", r)
		}
	}()
	return e.client.Encrypt(ctx, input)
}

// Purpose returns the configured purpose.
func (e *Encryptor) Purpose() string { return e.purpose }

// sdkError gives an ESDK or MPL exception a readable message: their own Error
// methods print a nil code pointer as "%!s(*string=<nil>)" (ESDK v0.4.0).
// The messages name keys and policies, never plaintext.
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
