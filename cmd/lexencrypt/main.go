// Command lexencrypt is the Lex V2 fulfillment Lambda of pattern B. At cold
// start it reads LEXENCRYPT_KMS_KEY_ARN and LEXENCRYPT_PURPOSE, builds the AWS
// Encryption SDK client and the KMS keyring once, and then serves code hook
// events until the Lambda runtime stops it. See internal/lexencrypt for what
// one invocation does.
//
// Build it for the provided.al2023 runtime as a file named bootstrap:
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -o bootstrap ./cmd/lexencrypt
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"go.uber.org/zap"

	"github.com/connect-secure-input/processor/internal/lexencrypt"
	"github.com/connect-secure-input/processor/internal/redact"
)

func main() {
	log, err := redact.NewLogger(redact.Options{Output: os.Stdout})
	if err != nil {
		fmt.Fprintln(os.Stderr, "lexencrypt:", err)
		os.Exit(1)
	}
	handler, err := newHandler(context.Background(), os.Getenv, log)
	if err != nil {
		// A configuration error fails every cold start the same way, so it
		// is logged once and the process exits for Lambda to report it.
		log.Error("start Lex fulfillment function", zap.Error(err))
		_ = log.Sync()
		os.Exit(1)
	}
	lambda.Start(handler)
}

// newHandler reads the configuration through getenv and builds the handler.
func newHandler(ctx context.Context, getenv func(string) string, log *zap.Logger) (*lexencrypt.Handler, error) {
	cfg, err := lexencrypt.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	enc, err := lexencrypt.NewEncryptor(ctx, cfg)
	if err != nil {
		return nil, err
	}
	log.Info("Lex fulfillment function ready", zap.String("kms_key_arn", cfg.KeyARN), zap.String("purpose", enc.Purpose()))
	return lexencrypt.NewHandler(enc, log), nil
}
