// Package kmsesdk decrypts the tokens that the Lex fulfillment Lambda makes
// with the AWS Encryption SDK and an AWS KMS key: a strict, multi-Region-aware
// KMS keyring over configured key ARNs, wrapped in the ESDK's
// required-encryption-context CMM so that the encryption-context policy is
// enforced by the library itself.
package kmsesdk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	mpl "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygenerated"
	mpltypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygeneratedtypes"
)

// ProviderID is the key provider id the ESDK writes for KMS-wrapped data keys.
const ProviderID = "aws-kms"

// Encryption-context keys the Lex fulfillment Lambda sets.
const (
	ContextPurpose = "purpose"
	ContextIntent  = "intent"
)

// Defaults for Config.
const (
	DefaultPurpose = "connect-secure-input"
	DefaultIntent  = "CollectPayment"
	// DefaultCallTimeout bounds one KMS HTTP attempt. The ESDK calls KMS with
	// context.Background (MPL v0.4.0), so the request context cannot cancel
	// a KMS call; this client-side timeout is what bounds it.
	DefaultCallTimeout = 2 * time.Second
	// DefaultMaxAttempts is the number of KMS attempts, first one included.
	DefaultMaxAttempts = 2
)

// Config selects the KMS keys and the encryption-context policy.
type Config struct {
	// KeyARNs are full key ARNs (not aliases and not bare key ids), because a
	// strict keyring decrypts only with keys it is given by ARN. A
	// multi-Region key's replica in another Region matches its primary.
	KeyARNs []string
	// Purpose is the value the "purpose" context key must have.
	Purpose string
	// Intents are the allowed values of the "intent" context key.
	Intents []string
	// CallTimeout bounds one KMS HTTP attempt; MaxAttempts bounds retries.
	CallTimeout time.Duration
	MaxAttempts int
	// AWSConfig is the base SDK configuration (credentials, endpoint
	// override). When nil, New loads the default chain, which honors
	// AWS_REGION and AWS_ENDPOINT_URL_KMS.
	AWSConfig *aws.Config
}

// Keyring is the configured KMS decrypt path: the ESDK materials manager to
// decrypt with and the policy it enforces.
type Keyring struct {
	cfg Config
	cmm mpltypes.ICryptographicMaterialsManager
}

// New validates cfg and builds the keyring. It makes no KMS call.
func New(ctx context.Context, cfg Config) (*Keyring, error) {
	if cfg.Purpose == "" {
		cfg.Purpose = DefaultPurpose
	}
	if len(cfg.Intents) == 0 {
		cfg.Intents = []string{DefaultIntent}
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if len(cfg.KeyARNs) == 0 {
		return nil, errors.New("no KMS key ARNs configured")
	}
	for _, keyARN := range cfg.KeyARNs {
		if err := ValidateKeyARN(keyARN); err != nil {
			return nil, err
		}
	}
	for _, intent := range cfg.Intents {
		if strings.TrimSpace(intent) == "" {
			return nil, errors.New("an allowed intent is empty")
		}
	}

	base := cfg.AWSConfig
	if base == nil {
		loaded, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("load AWS configuration: %w", err)
		}
		base = &loaded
	}

	client, err := mpl.NewClient(mpltypes.MaterialProvidersConfig{})
	if err != nil {
		return nil, fmt.Errorf("create material providers client: %w", err)
	}
	keyring, err := client.CreateAwsKmsMrkMultiKeyring(ctx, mpltypes.CreateAwsKmsMrkMultiKeyringInput{
		KmsKeyIds:      slices.Clone(cfg.KeyARNs),
		ClientSupplier: &clientSupplier{base: *base, timeout: cfg.CallTimeout, attempts: cfg.MaxAttempts},
	})
	if err != nil {
		return nil, fmt.Errorf("create KMS keyring: %w", err)
	}
	underlying, err := client.CreateDefaultCryptographicMaterialsManager(ctx, mpltypes.CreateDefaultCryptographicMaterialsManagerInput{Keyring: keyring})
	if err != nil {
		return nil, fmt.Errorf("create KMS materials manager: %w", err)
	}
	// The required-encryption-context CMM accepts only an underlying CMM
	// (not a keyring) in MPL v0.4.0.
	required, err := client.CreateRequiredEncryptionContextCMM(ctx, mpltypes.CreateRequiredEncryptionContextCMMInput{
		RequiredEncryptionContextKeys: []string{ContextPurpose, ContextIntent},
		UnderlyingCMM:                 underlying,
	})
	if err != nil {
		return nil, fmt.Errorf("create required-encryption-context materials manager: %w", err)
	}
	return &Keyring{cfg: cfg, cmm: required}, nil
}

// ValidateKeyARN accepts only full KMS key ARNs
// (arn:<partition>:kms:<region>:<account>:key/<id>).
func ValidateKeyARN(keyARN string) error {
	parsed, err := arn.Parse(keyARN)
	if err != nil {
		return fmt.Errorf("KMS key %q is not an ARN; configure full key ARNs such as arn:aws:kms:us-east-1:111122223333:key/mrk-...", keyARN)
	}
	if parsed.Service != "kms" || !strings.HasPrefix(parsed.Resource, "key/") || parsed.Region == "" || parsed.AccountID == "" {
		return fmt.Errorf("KMS key %q is not a key ARN (aliases are not accepted for decryption)", keyARN)
	}
	return nil
}

// MaterialsManager returns the CMM to pass to the ESDK's Decrypt.
func (k *Keyring) MaterialsManager() mpltypes.ICryptographicMaterialsManager { return k.cmm }

// KeyARNs returns the configured key ARNs.
func (k *Keyring) KeyARNs() []string { return slices.Clone(k.cfg.KeyARNs) }

// Purpose returns the required purpose value.
func (k *Keyring) Purpose() string { return k.cfg.Purpose }

// IntentAllowed reports whether intent is in the allow-list.
func (k *Keyring) IntentAllowed(intent string) bool { return slices.Contains(k.cfg.Intents, intent) }

// ReproducedContext returns the encryption context to hand to the ESDK's
// Decrypt. The ESDK checks that the message carries exactly these values for
// these keys, and it accepts extra keys in the message (docs/decrypt.md explains
// why the service accepts them too). The intent is taken from the message
// when it is allowed. Otherwise the first allowed intent is reproduced, so
// that the library itself rejects the message as a context mismatch.
func (k *Keyring) ReproducedContext(messageIntent string, present bool) map[string]string {
	intent := k.cfg.Intents[0]
	if present && k.IntentAllowed(messageIntent) {
		intent = messageIntent
	}
	return map[string]string{ContextPurpose: k.cfg.Purpose, ContextIntent: intent}
}

// MatchesKey reports whether a KMS key ARN from a message header is one of
// the configured keys, treating multi-Region keys (key ids starting "mrk-")
// as equal across Regions, as the ESDK's MRK-aware keyring does.
func (k *Keyring) MatchesKey(headerARN string) bool {
	for _, configured := range k.cfg.KeyARNs {
		if configured == headerARN || sameMultiRegionKey(configured, headerARN) {
			return true
		}
	}
	return false
}

func sameMultiRegionKey(a, b string) bool {
	pa, errA := arn.Parse(a)
	pb, errB := arn.Parse(b)
	if errA != nil || errB != nil {
		return false
	}
	if !strings.HasPrefix(pa.Resource, "key/mrk-") {
		return false
	}
	return pa.Partition == pb.Partition && pa.Service == pb.Service && pa.AccountID == pb.AccountID && pa.Resource == pb.Resource
}

// clientSupplier gives the ESDK one KMS client per Region, built once from the
// service's AWS configuration with a per-attempt timeout and bounded retries,
// so connections are reused across decrypts.
type clientSupplier struct {
	base     aws.Config
	timeout  time.Duration
	attempts int

	mu      sync.Mutex
	clients map[string]*kms.Client
}

var _ mpltypes.IClientSupplier = (*clientSupplier)(nil)

// GetClient implements mpltypes.IClientSupplier.
func (s *clientSupplier) GetClient(input mpltypes.GetClientInput) (kms.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if client, ok := s.clients[input.Region]; ok {
		return *client, nil
	}
	cfg := s.base.Copy()
	cfg.Region = input.Region
	cfg.HTTPClient = &http.Client{Timeout: s.timeout}
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = s.attempts })
	}
	client := kms.NewFromConfig(cfg)
	if s.clients == nil {
		s.clients = make(map[string]*kms.Client)
	}
	s.clients[input.Region] = client
	return *client, nil
}
