package forwarder

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Material is the PEM material of the mTLS client.
type Material struct {
	// ClientCertPEM is the client certificate, optionally followed by
	// intermediate CA certificates.
	ClientCertPEM []byte
	// ClientKeyPEM is the client certificate's private key.
	ClientKeyPEM []byte
	// ServerCAPEM is the CA (or CAs) that the processor's server
	// certificate must chain to; no other root is trusted.
	ServerCAPEM []byte
}

// SecretReader reads the value of one secret by ARN.
type SecretReader interface {
	ReadSecret(ctx context.Context, arn string) ([]byte, error)
}

// LoadMaterial reads the three pieces of material from the sources in cfg.
// secrets may be nil when cfg.UsesSecretsManager is false.
func LoadMaterial(ctx context.Context, cfg Config, secrets SecretReader) (Material, error) {
	var m Material
	var err error
	if m.ClientCertPEM, err = readMaterial(ctx, cfg.ClientCert, secrets); err != nil {
		return Material{}, err
	}
	if m.ClientKeyPEM, err = readMaterial(ctx, cfg.ClientKey, secrets); err != nil {
		return Material{}, err
	}
	if m.ServerCAPEM, err = readMaterial(ctx, cfg.ServerCA, secrets); err != nil {
		return Material{}, err
	}
	return m, nil
}

func readMaterial(ctx context.Context, src Source, secrets SecretReader) ([]byte, error) {
	switch {
	case src.SecretARN != "":
		if secrets == nil {
			return nil, fmt.Errorf("read the %s from %s: no Secrets Manager client was configured", src.Name, src.origin())
		}
		value, err := secrets.ReadSecret(ctx, src.SecretARN)
		if err != nil {
			return nil, fmt.Errorf("read the %s from %s %s: %w", src.Name, src.origin(), src.SecretARN, err)
		}
		return value, nil
	case src.File != "":
		value, err := os.ReadFile(src.File)
		if err != nil {
			return nil, fmt.Errorf("read the %s from %s: %w", src.Name, src.origin(), err)
		}
		return value, nil
	case len(src.PEM) > 0:
		return src.PEM, nil
	default:
		return nil, fmt.Errorf("the %s is not configured", src.Name)
	}
}

// SecretsManagerAPI is the part of the Secrets Manager client that the
// forwarder calls; *secretsmanager.Client implements it.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretsManagerAPI = (*secretsmanager.Client)(nil)

// SecretsManagerReader reads secrets with the AWS Secrets Manager API.
type SecretsManagerReader struct {
	client SecretsManagerAPI
}

var _ SecretReader = (*SecretsManagerReader)(nil)

// NewSecretsManagerReader returns a SecretReader over client.
func NewSecretsManagerReader(client SecretsManagerAPI) *SecretsManagerReader {
	return &SecretsManagerReader{client: client}
}

// ReadSecret returns the current version of the secret arn: its
// SecretString, or its SecretBinary when the string is empty.
func (r *SecretsManagerReader) ReadSecret(ctx context.Context, arn string) ([]byte, error) {
	out, err := r.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return nil, err
	}
	if s := aws.ToString(out.SecretString); s != "" {
		return []byte(s), nil
	}
	if len(out.SecretBinary) > 0 {
		return out.SecretBinary, nil
	}
	return nil, errors.New("the secret is empty")
}
