package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mpl "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygenerated"
	mpltypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygeneratedtypes"
	esdk "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygenerated"
	esdktypes "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygeneratedtypes"
	"go.uber.org/goleak"

	"github.com/connect-secure-input/processor/internal/testkit/localkms"
	"github.com/connect-secure-input/processor/internal/testkit/vectors"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, localkms.GoleakOptions()...)
}

func TestHelpSaysTestOnly(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"dtmf", "-help"}, {"keygen", "-h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), args, strings.NewReader(""), &bytes.Buffer{}, &stderr)
			if !errors.Is(err, flag.ErrHelp) {
				t.Errorf("run error = %v, want flag.ErrHelp", err)
			}
			if !strings.Contains(stderr.String(), "TEST ONLY") {
				t.Errorf("help does not say TEST ONLY:\n%s", stderr.String())
			}
		})
	}
}

func TestDTMFOutputDecrypts(t *testing.T) {
	m := vectors.Load(t)
	key := m.ConfiguredConnectKeys()[0]
	publicPath := filepath.Join(vectors.Root(t), filepath.FromSlash(key.PublicKey))

	var stdout bytes.Buffer
	err := run(context.Background(), []string{"dtmf", "-key", key.KeyID + "=" + publicPath},
		strings.NewReader("4111111111111111\n"), &stdout, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("dtmf: %v", err)
	}
	text := strings.TrimSuffix(stdout.String(), "\n")
	if !strings.HasPrefix(text, "AYAD") {
		t.Errorf("output starts %q, want AYAD", text[:min(4, len(text))])
	}

	plaintext := decryptConnect(t, text, key)
	if string(plaintext) != "4111111111111111" {
		t.Error("decrypted digits differ from the input without its newline")
	}
}

func TestLexOutputDecrypts(t *testing.T) {
	server := localkms.Start(t)
	server.SetEnv(t)
	arn := localkms.DefaultKeys().Payment

	var stdout bytes.Buffer
	err := run(context.Background(), []string{"lex", "-key-arn", arn}, strings.NewReader("123"), &stdout, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("lex: %v", err)
	}
	if !strings.HasPrefix(stdout.String(), "AgV4") {
		t.Errorf("output starts %q, want AgV4", stdout.String()[:min(4, stdout.Len())])
	}
}

func TestKeygenWritesKeyPair(t *testing.T) {
	dir := t.TempDir()
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"keygen", "-bits", "2048", "-dir", dir}, nil, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatalf("keygen: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("keygen wrote %d files, want 2", len(entries))
	}
	keyID := strings.TrimSuffix(entries[0].Name(), ".private.pem")
	if !strings.Contains(stdout.String(), "Key ID: "+keyID) {
		t.Errorf("output does not name Key ID %s:\n%s", keyID, stdout.String())
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		stdin   string
		wantErr string
	}{
		{name: "no sub-command", args: nil, wantErr: "missing sub-command"},
		{name: "unknown sub-command", args: []string{"encrypt"}, wantErr: `unknown sub-command "encrypt"`},
		{name: "dtmf without key", args: []string{"dtmf"}, stdin: "123", wantErr: "missing -key"},
		{name: "dtmf malformed key flag", args: []string{"dtmf", "-key", "only-an-id"}, wantErr: "want KeyID=path"},
		{name: "dtmf missing key file", args: []string{"dtmf", "-key", "id=/nonexistent/key.pem"}, stdin: "123", wantErr: "read public key for Key ID id"},
		{name: "lex without key", args: []string{"lex"}, stdin: "123", wantErr: "missing -key-arn"},
		{name: "keygen bad size", args: []string{"keygen", "-bits", "1024", "-dir", os.TempDir()}, wantErr: "invalid key size 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, strings.NewReader(tt.stdin), &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestDTMFRejectsEmptyInput(t *testing.T) {
	m := vectors.Load(t)
	key := m.ConfiguredConnectKeys()[0]
	publicPath := filepath.Join(vectors.Root(t), filepath.FromSlash(key.PublicKey))
	err := run(context.Background(), []string{"dtmf", "-key", key.KeyID + "=" + publicPath}, strings.NewReader("\n"), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "empty standard input") {
		t.Errorf("run error = %v, want an empty input error", err)
	}
}

func decryptConnect(t *testing.T, text string, key vectors.ConnectKey) []byte {
	t.Helper()
	ctx := context.Background()
	materials, err := mpl.NewClient(mpltypes.MaterialProvidersConfig{})
	if err != nil {
		t.Fatal(err)
	}
	keyring, err := materials.CreateRawRsaKeyring(ctx, mpltypes.CreateRawRsaKeyringInput{
		KeyNamespace:  "AmazonConnect",
		KeyName:       key.KeyID,
		PaddingScheme: mpltypes.PaddingSchemeOaepSha512Mgf1,
		PrivateKey:    key.PrivatePEM(t),
		PublicKey:     key.PublicPEM(t),
	})
	if err != nil {
		t.Fatal(err)
	}

	policy := mpltypes.ESDKCommitmentPolicyRequireEncryptAllowDecrypt
	client, err := esdk.NewClient(esdktypes.AwsEncryptionSdkConfig{CommitmentPolicy: &policy})
	if err != nil {
		t.Fatal(err)
	}

	decoded, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		t.Fatalf("output is not standard base64: %v", err)
	}
	out, err := client.Decrypt(ctx, esdktypes.DecryptInput{Ciphertext: decoded, Keyring: keyring})
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	return out.Plaintext
}
