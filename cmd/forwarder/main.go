// Command forwarder is the Amazon Connect Lambda (runtime provided.al2023)
// that forwards contact-flow requests to the processor over mutual TLS. It
// handles only ciphertext. Build it for Lambda with:
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -o bootstrap ./cmd/forwarder
//
// Configuration comes from FORWARDER_* variables (see docs/forwarder.md).
// The mTLS material is read once per cold start, from Secrets Manager or,
// for local runs, from files or PEM text.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"go.uber.org/zap"

	"github.com/connect-secure-input/processor/internal/forwarder"
	"github.com/connect-secure-input/processor/internal/redact"
)

// initTimeout bounds the cold-start set-up, mostly the three Secrets
// Manager reads; Lambda allows an init phase of 10 seconds.
const initTimeout = 8 * time.Second

func main() {
	// Lambda sends standard output to the function's log group.
	logger, err := redact.NewLogger(redact.Options{Output: os.Stdout})
	if err != nil {
		fmt.Fprintf(os.Stderr, "forwarder: %v\n", err)
		os.Exit(1)
	}

	handler, err := setUp(logger)
	if err != nil {
		// Exiting makes Lambda report an init error and retry the cold
		// start on the next invocation.
		logger.Error("forwarder set-up failed", zap.Error(err))
		_ = logger.Sync()
		os.Exit(1)
	}
	lambda.Start(handler.Handle)
}

// setUp reads the configuration and the mTLS material and builds the
// handler with its one HTTP client, reused by every warm invocation.
func setUp(logger *zap.Logger) (*forwarder.Handler, error) {
	cfg, err := forwarder.LoadConfig(os.Getenv)
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(context.Background(), initTimeout)
	defer cancel()

	var secrets forwarder.SecretReader
	if cfg.UsesSecretsManager() {
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("load the AWS configuration for Secrets Manager: %w", err)
		}
		secrets = forwarder.NewSecretsManagerReader(secretsmanager.NewFromConfig(awsCfg))
	}
	material, err := forwarder.LoadMaterial(ctx, cfg, secrets)
	if err != nil {
		return nil, err
	}
	client, err := forwarder.NewHTTPClient(material)
	if err != nil {
		return nil, err
	}

	handler, err := forwarder.New(forwarder.Options{
		ProcessorURL: cfg.ProcessorURL,
		HTTPClient:   client,
		Timeout:      cfg.Timeout,
		Logger:       logger,
	})
	if err != nil {
		return nil, err
	}
	logger.Info("forwarder ready",
		zap.String("processorUrl", cfg.ProcessorURL.String()),
		zap.Duration("timeout", cfg.Timeout))
	return handler, nil
}
