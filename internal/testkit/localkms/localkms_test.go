package localkms

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, GoleakOptions()...)
}

func TestServeRejectsNonLoopbackAddress(t *testing.T) {
	tests := []struct {
		name string
		addr string
	}{
		{name: "all interfaces", addr: "0.0.0.0:0"},
		{name: "empty host", addr: ":0"},
		{name: "host name", addr: "localhost:0"},
		{name: "private address", addr: "10.0.0.1:0"},
		{name: "missing port", addr: "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Serve(context.Background(), tt.addr, "")
			if err == nil {
				_ = s.Close()
				t.Fatalf("Serve(%q) succeeded, want an error", tt.addr)
			}
			if !strings.Contains(err.Error(), tt.addr) {
				t.Errorf("error %q does not name the address %q", err, tt.addr)
			}
		})
	}
}

func TestStartSeedsDefaultKeys(t *testing.T) {
	s := Start(t)
	keys := DefaultKeys()

	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Errorf("URL = %q, want http://127.0.0.1:<port>", s.URL)
	}
	wantKeys := []string{keys.MultiRegionReplica, keys.Other, keys.Payment, keys.MultiRegion}
	if strings.Join(s.KeyARNs, ",") != strings.Join(sortedCopy(wantKeys), ",") {
		t.Errorf("KeyARNs = %v, want %v", s.KeyARNs, sortedCopy(wantKeys))
	}
	if len(s.AliasARNs) != 1 || s.AliasARNs[0] != keys.PaymentAlias {
		t.Errorf("AliasARNs = %v, want [%s]", s.AliasARNs, keys.PaymentAlias)
	}
}

func TestDataKeyRoundTrip(t *testing.T) {
	s := Start(t)
	keys := DefaultKeys()
	ctx := context.Background()
	encryptionContext := map[string]string{"purpose": "connect-secure-input"}

	tests := []struct {
		name          string
		region        string
		generateWith  string
		decryptWith   string
		wantKeyARN    string
		wantDecryptOK bool
	}{
		{name: "payment key", region: Region, generateWith: keys.Payment, decryptWith: keys.Payment, wantKeyARN: keys.Payment, wantDecryptOK: true},
		{name: "alias", region: Region, generateWith: keys.PaymentAlias, decryptWith: keys.Payment, wantKeyARN: keys.Payment, wantDecryptOK: true},
		{name: "bare key id", region: Region, generateWith: PaymentKeyID, decryptWith: keys.Payment, wantKeyARN: keys.Payment, wantDecryptOK: true},
		{name: "multi-Region primary", region: Region, generateWith: keys.MultiRegion, decryptWith: keys.MultiRegion, wantKeyARN: keys.MultiRegion, wantDecryptOK: true},
		{name: "multi-Region replica decrypts primary", region: ReplicaRegion, generateWith: keys.MultiRegion, decryptWith: keys.MultiRegionReplica, wantKeyARN: keys.MultiRegionReplica, wantDecryptOK: true},
		{name: "other key cannot decrypt", region: Region, generateWith: keys.Payment, decryptWith: keys.Other, wantDecryptOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			generated, err := s.Client(Region).GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
				KeyId:             aws.String(tt.generateWith),
				KeySpec:           types.DataKeySpecAes256,
				EncryptionContext: encryptionContext,
			})
			if err != nil {
				t.Fatalf("GenerateDataKey(%s): %v", tt.generateWith, err)
			}

			decrypted, err := s.Client(tt.region).Decrypt(ctx, &kms.DecryptInput{
				KeyId:             aws.String(tt.decryptWith),
				CiphertextBlob:    generated.CiphertextBlob,
				EncryptionContext: encryptionContext,
			})
			if !tt.wantDecryptOK {
				if err == nil {
					t.Fatalf("Decrypt with %s succeeded, want an error", tt.decryptWith)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decrypt with %s: %v", tt.decryptWith, err)
			}
			if aws.ToString(decrypted.KeyId) != tt.wantKeyARN {
				t.Errorf("Decrypt KeyId = %s, want %s", aws.ToString(decrypted.KeyId), tt.wantKeyARN)
			}
			if !bytes.Equal(decrypted.Plaintext, generated.Plaintext) {
				t.Error("decrypted data key differs from the generated one")
			}
		})
	}
}

func TestDecryptRejectsWrongEncryptionContext(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	client := s.Client(Region)

	generated, err := client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(DefaultKeys().Payment),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: map[string]string{"purpose": "connect-secure-input"},
	})
	if err != nil {
		t.Fatalf("GenerateDataKey: %v", err)
	}
	_, err = client.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    generated.CiphertextBlob,
		EncryptionContext: map[string]string{"purpose": "other"},
	})
	var invalid *types.InvalidCiphertextException
	if !errors.As(err, &invalid) {
		t.Errorf("Decrypt error = %v, want InvalidCiphertextException", err)
	}
}

func TestSetEnvAimsDefaultConfig(t *testing.T) {
	s := Start(t)
	s.SetEnv(t)
	ctx := context.Background()

	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatalf("LoadDefaultConfig: %v", err)
	}
	if cfg.Region != Region {
		t.Errorf("Region = %q, want %q", cfg.Region, Region)
	}
	client := kms.NewFromConfig(cfg)
	out, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(PaymentAliasName)})
	if err != nil {
		t.Fatalf("DescribeKey through the environment: %v", err)
	}
	if got := aws.ToString(out.KeyMetadata.Arn); got != DefaultKeys().Payment {
		t.Errorf("DescribeKey ARN = %s, want %s", got, DefaultKeys().Payment)
	}
}

func TestServeRejectsBadSeed(t *testing.T) {
	tests := []struct {
		name    string
		seed    string
		wantErr string
	}{
		{
			name:    "unknown field",
			seed:    "Keys:\n  Symmetric:\n    Aes:\n      - Metadata:\n          KeyId: k1\n        BackingKey: 00\n",
			wantErr: "BackingKey",
		},
		{
			name: "duplicate key",
			seed: "Keys:\n  Symmetric:\n    Aes:\n" +
				"      - Metadata:\n          KeyId: k1\n        BackingKeys: [" + strings.Repeat("00", 32) + "]\n" +
				"      - Metadata:\n          KeyId: k1\n        BackingKeys: [" + strings.Repeat("11", 32) + "]\n",
			wantErr: "duplicate key",
		},
		{
			name:    "alias without key",
			seed:    "Aliases:\n  - AliasName: alias/missing\n    TargetKeyId: k9\n",
			wantErr: "not in the seed",
		},
		{
			name:    "short backing key",
			seed:    "Keys:\n  Symmetric:\n    Aes:\n      - Metadata:\n          KeyId: k1\n        BackingKeys: [00ff]\n",
			wantErr: "32 bytes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "seed.yaml")
			if err := os.WriteFile(path, []byte(tt.seed), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Serve(context.Background(), "127.0.0.1:0", path)
			if err == nil {
				_ = s.Close()
				t.Fatal("Serve succeeded, want a seed error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestServeStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Serve(ctx, "127.0.0.1:0", "")
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	cancel()
	<-s.Done()
	if err := s.Err(); err != nil {
		t.Errorf("Err after cancel = %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := s.Client(Region).ListKeys(context.Background(), &kms.ListKeysInput{}); err == nil {
		t.Error("ListKeys after stop succeeded, want a connection error")
	}
}

func sortedCopy(in []string) []string {
	return slices.Sorted(slices.Values(in))
}
