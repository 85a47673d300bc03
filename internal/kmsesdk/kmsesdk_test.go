package kmsesdk

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

const (
	primaryMRK = "arn:aws:kms:eu-west-2:111122223333:key/mrk-7ce43e9e45dd00954722e84ad46e22e4"
	replicaMRK = "arn:aws:kms:us-east-1:111122223333:key/mrk-7ce43e9e45dd00954722e84ad46e22e4"
	singleKey  = "arn:aws:kms:eu-west-2:111122223333:key/740ca468-bb9d-4253-b325-8ca7addb96fa"
)

func TestValidateKeyARN(t *testing.T) {
	tests := []struct {
		arn  string
		want string
	}{
		{singleKey, ""},
		{primaryMRK, ""},
		{"740ca468-bb9d-4253-b325-8ca7addb96fa", "is not an ARN"},
		{"alias/connect-secure-input", "is not an ARN"},
		{"arn:aws:kms:eu-west-2:111122223333:alias/connect-secure-input", "aliases are not accepted"},
		{"arn:aws:s3:::bucket", "is not a key ARN"},
	}
	for _, tt := range tests {
		t.Run(tt.arn, func(t *testing.T) {
			err := ValidateKeyARN(tt.arn)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("ValidateKeyARN = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("ValidateKeyARN = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func newTestKeyring(t *testing.T, cfg Config) *Keyring {
	t.Helper()
	cfg.AWSConfig = &aws.Config{Region: "eu-west-2"}
	k, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}

func TestMatchesKeyAcrossRegions(t *testing.T) {
	k := newTestKeyring(t, Config{KeyARNs: []string{primaryMRK, singleKey}})
	tests := []struct {
		arn  string
		want bool
	}{
		{primaryMRK, true},
		{replicaMRK, true},
		{singleKey, true},
		{"arn:aws:kms:us-east-1:111122223333:key/740ca468-bb9d-4253-b325-8ca7addb96fa", false},
		{"arn:aws:kms:us-east-1:999999999999:key/mrk-7ce43e9e45dd00954722e84ad46e22e4", false},
	}
	for _, tt := range tests {
		if got := k.MatchesKey(tt.arn); got != tt.want {
			t.Errorf("MatchesKey(%s) = %v, want %v", tt.arn, got, tt.want)
		}
	}
}

func TestReproducedContext(t *testing.T) {
	k := newTestKeyring(t, Config{KeyARNs: []string{singleKey}, Intents: []string{"CollectPayment", "UpdateCard"}})
	tests := []struct {
		name       string
		intent     string
		present    bool
		wantIntent string
	}{
		{"allowed intent", "UpdateCard", true, "UpdateCard"},
		{"other intent", "UpdateAddress", true, "CollectPayment"},
		{"missing intent", "", false, "CollectPayment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := k.ReproducedContext(tt.intent, tt.present)
			if got[ContextPurpose] != DefaultPurpose || got[ContextIntent] != tt.wantIntent || len(got) != 2 {
				t.Errorf("ReproducedContext = %v, want purpose %q and intent %q", got, DefaultPurpose, tt.wantIntent)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no keys":      {},
		"alias":        {KeyARNs: []string{"arn:aws:kms:eu-west-2:111122223333:alias/x"}},
		"empty intent": {KeyARNs: []string{singleKey}, Intents: []string{" "}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.AWSConfig = &aws.Config{Region: "eu-west-2"}
			if _, err := New(context.Background(), cfg); err == nil {
				t.Error("New succeeded, want an error")
			}
		})
	}
}
