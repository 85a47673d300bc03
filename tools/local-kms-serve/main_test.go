package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"go.uber.org/goleak"

	"github.com/connect-secure-input/processor/internal/testkit/localkms"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, localkms.GoleakOptions()...)
}

func TestRunWritesInfoAndServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	infoReader, infoWriter := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, infoWriter, io.Discard)
		_ = infoWriter.Close()
	}()

	var info Info
	if err := json.NewDecoder(infoReader).Decode(&info); err != nil {
		t.Fatalf("decode info from standard output: %v", err)
	}
	if !strings.HasPrefix(info.Endpoint, "http://127.0.0.1:") {
		t.Errorf("endpoint = %q, want http://127.0.0.1:<port>", info.Endpoint)
	}
	if info.Keys != localkms.DefaultKeys() {
		t.Errorf("keys = %+v, want the default seed's %+v", info.Keys, localkms.DefaultKeys())
	}

	client := kms.New(kms.Options{
		Region:       info.Region,
		BaseEndpoint: aws.String(info.Endpoint),
		Credentials:  aws.NewCredentialsCache(staticCredentials(info)),
	})
	out, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(info.Keys.PaymentAlias)})
	if err != nil {
		t.Fatalf("DescribeKey: %v", err)
	}
	if got := aws.ToString(out.KeyMetadata.Arn); got != info.Keys.Payment {
		t.Errorf("alias resolves to %s, want %s", got, info.Keys.Payment)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
}

func TestRunRejectsPublicAddress(t *testing.T) {
	err := run(context.Background(), []string{"-addr", "0.0.0.0:0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("run error = %v, want a loopback address error", err)
	}
}

type staticCredentials Info

func (c staticCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}, nil
}
