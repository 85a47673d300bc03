package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
	"go.uber.org/zap"

	"github.com/connect-secure-input/processor/internal/config"
	"github.com/connect-secure-input/processor/internal/decrypt"
	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/gateway/simulator"
	"github.com/connect-secure-input/processor/internal/gateway/simulator/simhttp"
	"github.com/connect-secure-input/processor/internal/gateway/stripegw"
	"github.com/connect-secure-input/processor/internal/kmsesdk"
	"github.com/connect-secure-input/processor/internal/rsadtmf"
	"github.com/connect-secure-input/processor/internal/store"
	"github.com/connect-secure-input/processor/internal/store/memstore"
	"github.com/connect-secure-input/processor/internal/store/pgstore"
)

// storeOpenTimeout bounds connecting to PostgreSQL and migrating at start-up.
const storeOpenTimeout = 30 * time.Second

// buildDecrypter loads the Connect keys and the KMS keyring, logging what was
// loaded (Key IDs and ARNs, never material). It also returns the KMS probe
// that /readyz uses, or nil when the KMS path is disabled.
func buildDecrypter(ctx context.Context, cfg config.Config, log *zap.Logger) (*decrypt.Decrypter, func(context.Context) error, error) {
	connect, err := rsadtmf.Load(ctx, cfg.ConnectKeys)
	if err != nil {
		return nil, nil, fmt.Errorf("load Connect keys: %w", err)
	}
	for _, k := range connect.Keys() {
		log.Info("loaded Connect key", zap.String("key_id", k.ID), zap.Int("bits", k.Bits))
	}

	var kmsKeyring *kmsesdk.Keyring
	var probe func(context.Context) error
	if len(cfg.KMSKeyARNs) > 0 {
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("load AWS configuration: %w", err)
		}
		kmsKeyring, err = kmsesdk.New(ctx, kmsesdk.Config{
			KeyARNs: cfg.KMSKeyARNs, Purpose: cfg.KMSPurpose, Intents: cfg.KMSIntents, CallTimeout: cfg.KMSTimeout, AWSConfig: &awsCfg,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("PROCESSOR_KMS_KEY_ARNS: %w", err)
		}
		log.Info("KMS path enabled", zap.Strings("key_arns", cfg.KMSKeyARNs), zap.String("purpose", cfg.KMSPurpose), zap.Strings("intents", cfg.KMSIntents))
		probe = kmsProbe(awsCfg, cfg.KMSKeyARNs[0])
	} else {
		log.Info("KMS path disabled: PROCESSOR_KMS_KEY_ARNS is empty, so KMS tokens fail with key_provider_unsupported")
	}
	if len(connect.Keys()) == 0 && kmsKeyring == nil {
		return nil, nil, errors.New("no decryption keys: set PROCESSOR_CONNECT_KEYS, PROCESSOR_CONNECT_KEY_<n>_ID/_PEM or PROCESSOR_KMS_KEY_ARNS")
	}

	d, err := decrypt.New(decrypt.Config{
		MaxCiphertextBytes: cfg.MaxCiphertextBytes, MaxEncryptedDataKeys: cfg.MaxEncryptedKeys, ConnectSuites: cfg.ConnectSuites,
	}, connect, kmsKeyring)
	if err != nil {
		return nil, nil, err
	}
	return d, probe, nil
}

// kmsProbe returns a reachability check: DescribeKey on one configured key.
// Any response from KMS, an access-denied error included, proves reachability
// (the task role needs only kms:Decrypt); only a network error or a 5xx
// counts as unreachable.
func kmsProbe(awsCfg aws.Config, keyARN string) func(context.Context) error {
	client := kms.NewFromConfig(awsCfg)
	return func(ctx context.Context) error {
		_, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyARN)})
		var apiErr smithy.APIError
		if err == nil || (errors.As(err, &apiErr) && apiErr.ErrorFault() != smithy.FaultServer) {
			return nil
		}
		return err
	}
}

func openStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	if cfg.Store == "postgres" {
		openCtx, cancel := context.WithTimeout(ctx, storeOpenTimeout)
		defer cancel()
		st, err := pgstore.Open(openCtx, string(cfg.DatabaseURL.Bytes()), pgstore.Options{})
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL store (PROCESSOR_DATABASE_URL): %w", err)
		}
		return st, nil
	}
	st, err := memstore.New(memstore.Options{Retention: cfg.RecordRetention})
	if err != nil {
		return nil, fmt.Errorf("open memory store: %w", err)
	}
	return st, nil
}

func buildGateway(cfg config.Config) (gateway.Authorizer, error) {
	switch {
	case cfg.Gateway == "stripe":
		gw, err := stripegw.New(stripegw.Config{APIKey: string(cfg.StripeAPIKey.Bytes()), BaseURL: cfg.StripeURL})
		if err != nil {
			return nil, fmt.Errorf("stripe gateway: %w", err)
		}
		return gw, nil
	case cfg.SimulatorURL != "":
		// A simulator shared with other processes, for multi-task tests.
		gw, err := simhttp.NewClient(cfg.SimulatorURL)
		if err != nil {
			return nil, fmt.Errorf("simulator gateway (PROCESSOR_SIMULATOR_URL): %w", err)
		}
		return gw, nil
	}
	gw, err := simulator.New(simulator.Config{BaseLatency: cfg.SimulatorLatency, SlowDelay: cfg.SimulatorSlowDelay})
	if err != nil {
		return nil, fmt.Errorf("simulator gateway: %w", err)
	}
	return gw, nil
}

func captureMode(text string) gateway.CaptureMode {
	if text == "automatic" {
		return gateway.CaptureAutomatic
	}
	return gateway.CaptureManual
}
