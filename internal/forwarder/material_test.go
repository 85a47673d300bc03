package forwarder_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/connect-secure-input/processor/internal/forwarder"
	"github.com/connect-secure-input/processor/internal/testkit/pki"
)

// Secret ARNs of the tests; nothing here reaches AWS.
const (
	certSecretARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:forwarder-cert-AbCdEf"
	keySecretARN  = "arn:aws:secretsmanager:us-east-1:111122223333:secret:forwarder-key-AbCdEf"
	caSecretARN   = "arn:aws:secretsmanager:us-east-1:111122223333:secret:processor-ca-AbCdEf"
)

func TestLoadMaterialFromFiles(t *testing.T) {
	ca := pki.NewCA(t, "forwarder test CA")
	files := ca.Issue(t, pki.ClientOptions("forwarder")).Write(t, t.TempDir(), "client")
	caFile := t.TempDir() + "/server-ca.pem"
	if err := pki.WriteBundle(caFile, ca); err != nil {
		t.Fatal(err)
	}
	cfg, err := forwarder.LoadConfig(getenv(map[string]string{
		forwarder.EnvProcessorURL:   "https://127.0.0.1:8443",
		forwarder.EnvClientCertFile: files.CertFile,
		forwarder.EnvClientKeyFile:  files.KeyFile,
		forwarder.EnvServerCAFile:   caFile,
	}))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}

	material, err := forwarder.LoadMaterial(context.Background(), cfg, nil)

	if err != nil {
		t.Fatalf("LoadMaterial: %v", err)
	}
	assertFileContent(t, files.CertFile, material.ClientCertPEM)
	assertFileContent(t, files.KeyFile, material.ClientKeyPEM)
	if !bytes.Equal(material.ServerCAPEM, ca.CertPEM) {
		t.Error("ServerCAPEM differs from the CA file")
	}
	if _, err := forwarder.NewHTTPClient(material); err != nil {
		t.Errorf("NewHTTPClient with the loaded material: %v", err)
	}
}

func TestLoadMaterialFromPEMText(t *testing.T) {
	ca := pki.NewCA(t, "forwarder test CA")
	cert := ca.Issue(t, pki.ClientOptions("forwarder"))
	cfg, err := forwarder.LoadConfig(getenv(map[string]string{
		forwarder.EnvProcessorURL:  "https://127.0.0.1:8443",
		forwarder.EnvClientCertPEM: string(cert.CertPEM),
		forwarder.EnvClientKeyPEM:  string(cert.KeyPEM),
		forwarder.EnvServerCAPEM:   string(ca.CertPEM),
	}))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}

	material, err := forwarder.LoadMaterial(context.Background(), cfg, nil)

	if err != nil {
		t.Fatalf("LoadMaterial: %v", err)
	}
	if !bytes.Equal(material.ClientCertPEM, cert.CertPEM) || !bytes.Equal(material.ClientKeyPEM, cert.KeyPEM) || !bytes.Equal(material.ServerCAPEM, ca.CertPEM) {
		t.Error("material differs from the PEM variables")
	}
}

func TestLoadMaterialFromSecretsManager(t *testing.T) {
	fake := startFakeProcessor(t, replyWith(http.StatusOK, validPANResult))
	secrets := startSecretsManager(t, map[string]secretValue{
		certSecretARN: {text: string(fake.clientCert.CertPEM)},
		keySecretARN:  {text: string(fake.clientCert.KeyPEM)},
		// A secret stored as binary, as the console's "plaintext" tab
		// cannot hold it but the API can.
		caSecretARN: {binary: fake.ca.CertPEM},
	})
	cfg := secretsConfig(t, fake.URL(t).String())

	material, err := forwarder.LoadMaterial(context.Background(), cfg, forwarder.NewSecretsManagerReader(secrets.client(t)))

	if err != nil {
		t.Fatalf("LoadMaterial: %v", err)
	}
	if got := secrets.Reads(); len(got) != 3 {
		t.Errorf("read %d secrets (%v), want each of the 3 once", len(got), got)
	}
	// The material from the secrets completes the mTLS handshake.
	h := newHandler(t, cfg.ProcessorURL, material, forwarder.DefaultTimeout)
	out := h.invoke(t, loadEvent(t, "validate-pan.json"))
	if out["status"] != "valid" {
		t.Errorf("status = %q with material from Secrets Manager, want valid", out["status"])
	}
}

func TestLoadMaterialErrors(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		secrets map[string]secretValue
		noAWS   bool
		wantErr []string
	}{
		{
			name: "missing file",
			env: changed(fileEnv(), map[string]string{
				forwarder.EnvClientCertFile: "",
				forwarder.EnvClientCertPEM:  "-----BEGIN CERTIFICATE-----",
			}),
			wantErr: []string{"client private key", forwarder.EnvClientKeyFile, "no such file"},
		},
		{
			name:    "secret ARN without a client",
			env:     secretsEnv("https://127.0.0.1:8443"),
			noAWS:   true,
			wantErr: []string{"client certificate", forwarder.EnvClientCertSecretARN, "no Secrets Manager client"},
		},
		{
			name:    "secret not found",
			env:     secretsEnv("https://127.0.0.1:8443"),
			secrets: map[string]secretValue{certSecretARN: {text: "-----BEGIN CERTIFICATE-----"}},
			wantErr: []string{"client private key", forwarder.EnvClientKeySecretARN, keySecretARN, "ResourceNotFoundException"},
		},
		{
			name: "empty secret",
			env:  secretsEnv("https://127.0.0.1:8443"),
			secrets: map[string]secretValue{
				certSecretARN: {text: "-----BEGIN CERTIFICATE-----"},
				keySecretARN:  {},
			},
			wantErr: []string{"client private key", "the secret is empty"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := forwarder.LoadConfig(getenv(tt.env))
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			var reader forwarder.SecretReader
			if !tt.noAWS && cfg.UsesSecretsManager() {
				reader = forwarder.NewSecretsManagerReader(startSecretsManager(t, tt.secrets).client(t))
			}

			_, err = forwarder.LoadMaterial(context.Background(), cfg, reader)

			if err == nil {
				t.Fatal("LoadMaterial succeeded, want an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func secretsEnv(processorURL string) map[string]string {
	return map[string]string{
		forwarder.EnvProcessorURL:        processorURL,
		forwarder.EnvClientCertSecretARN: certSecretARN,
		forwarder.EnvClientKeySecretARN:  keySecretARN,
		forwarder.EnvServerCASecretARN:   caSecretARN,
	}
}

func secretsConfig(t *testing.T, processorURL string) forwarder.Config {
	t.Helper()
	cfg, err := forwarder.LoadConfig(getenv(secretsEnv(processorURL)))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	return cfg
}

func assertFileContent(t *testing.T, path string, got []byte) {
	t.Helper()
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("material differs from %s", path)
	}
}

// secretValue is a stored secret: text, binary, or neither (empty).
type secretValue struct {
	text   string
	binary []byte
}

// secretsManager serves GetSecretValue of the Secrets Manager JSON API on
// 127.0.0.1, so the real SDK client runs without AWS.
type secretsManager struct {
	server  *httptest.Server
	secrets map[string]secretValue

	mu    sync.Mutex
	reads []string
}

func startSecretsManager(t *testing.T, secrets map[string]secretValue) *secretsManager {
	t.Helper()
	s := &secretsManager{secrets: secrets}
	s.server = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.server.Close)
	return s
}

// client returns an SDK client of the loopback server with static test
// credentials, as the rules for tests with AWS clients require.
func (s *secretsManager) client(t *testing.T) *secretsmanager.Client {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return secretsmanager.New(secretsmanager.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDFORWARDERTEST", "forwarder-test-secret", ""),
		BaseEndpoint:     aws.String(s.server.URL),
		RetryMaxAttempts: 1,
	})
}

func (s *secretsManager) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if target := r.Header.Get("X-Amz-Target"); target != "secretsmanager.GetSecretValue" {
		writeAWSError(w, "UnknownOperationException", "unexpected operation "+target)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeAWSError(w, "MissingAuthenticationTokenException", "request is not signed")
		return
	}
	var input struct{ SecretId string }
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &input); err != nil {
		writeAWSError(w, "InvalidRequestException", "body is not JSON")
		return
	}

	s.mu.Lock()
	s.reads = append(s.reads, input.SecretId)
	s.mu.Unlock()

	value, ok := s.secrets[input.SecretId]
	if !ok {
		writeAWSError(w, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	out := map[string]any{"ARN": input.SecretId, "Name": "test", "VersionId": "v1"}
	if value.text != "" {
		out["SecretString"] = value.text
	}
	if value.binary != nil {
		out["SecretBinary"] = base64.StdEncoding.EncodeToString(value.binary)
	}
	_ = json.NewEncoder(w).Encode(out)
}

func writeAWSError(w http.ResponseWriter, errorType, message string) {
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": errorType, "Message": message})
}

// Reads returns the secret ids read so far.
func (s *secretsManager) Reads() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reads...)
}
