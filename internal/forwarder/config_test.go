package forwarder_test

import (
	"strings"
	"testing"
	"time"

	"github.com/connect-secure-input/processor/internal/forwarder"
)

// fileEnv is a complete configuration from files, for local runs.
func fileEnv() map[string]string {
	return map[string]string{
		forwarder.EnvProcessorURL:   "https://processor.example.internal:8443",
		forwarder.EnvClientCertFile: "/run/secrets/client.crt",
		forwarder.EnvClientKeyFile:  "/run/secrets/client.key",
		forwarder.EnvServerCAFile:   "/run/secrets/server-ca.pem",
	}
}

// changed returns env with the changes applied: a value sets a variable,
// an empty value deletes it.
func changed(env, changes map[string]string) map[string]string {
	out := make(map[string]string, len(env))
	for k, v := range env {
		out[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

func TestLoadConfig(t *testing.T) {
	cfg, err := forwarder.LoadConfig(getenv(fileEnv()))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if got := cfg.ProcessorURL.String(); got != "https://processor.example.internal:8443" {
		t.Errorf("ProcessorURL = %s", got)
	}
	if cfg.Timeout != forwarder.DefaultTimeout {
		t.Errorf("Timeout = %s, want the default %s", cfg.Timeout, forwarder.DefaultTimeout)
	}
	if cfg.ClientCert.File != "/run/secrets/client.crt" || cfg.ClientKey.File != "/run/secrets/client.key" || cfg.ServerCA.File != "/run/secrets/server-ca.pem" {
		t.Errorf("files = %q, %q, %q", cfg.ClientCert.File, cfg.ClientKey.File, cfg.ServerCA.File)
	}
	if cfg.UsesSecretsManager() {
		t.Error("UsesSecretsManager = true for a configuration from files")
	}
}

func TestLoadConfigFromCloudFormation(t *testing.T) {
	// The variables the CloudFormation template sets.
	env := map[string]string{
		forwarder.EnvProcessorURL:        "https://processor.payments.internal:8443",
		forwarder.EnvTimeout:             "6s",
		forwarder.EnvClientCertSecretARN: "arn:aws:secretsmanager:us-east-1:111122223333:secret:forwarder-cert-AbCdEf",
		forwarder.EnvClientKeySecretARN:  "arn:aws:secretsmanager:us-east-1:111122223333:secret:forwarder-key-AbCdEf",
		forwarder.EnvServerCASecretARN:   "arn:aws:secretsmanager:us-east-1:111122223333:secret:processor-ca-AbCdEf",
	}

	cfg, err := forwarder.LoadConfig(getenv(env))

	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if cfg.Timeout != 6*time.Second {
		t.Errorf("Timeout = %s, want 6s", cfg.Timeout)
	}
	if !cfg.UsesSecretsManager() {
		t.Error("UsesSecretsManager = false for secret ARNs")
	}
	if cfg.ClientKey.SecretARN != env[forwarder.EnvClientKeySecretARN] {
		t.Errorf("ClientKey.SecretARN = %q", cfg.ClientKey.SecretARN)
	}
}

func TestLoadConfigRejects(t *testing.T) {
	tests := []struct {
		name    string
		changes map[string]string
		wantErr string
	}{
		{name: "missing URL", changes: map[string]string{forwarder.EnvProcessorURL: ""}, wantErr: "FORWARDER_PROCESSOR_URL is missing"},
		{name: "plain HTTP URL", changes: map[string]string{forwarder.EnvProcessorURL: "http://processor:8443"}, wantErr: "must be an https URL"},
		{name: "URL without host", changes: map[string]string{forwarder.EnvProcessorURL: "https:///v1"}, wantErr: "must be an https URL with a host"},
		{name: "URL with a query", changes: map[string]string{forwarder.EnvProcessorURL: "https://processor:8443/?debug=1"}, wantErr: "must not carry"},
		{name: "timeout not a duration", changes: map[string]string{forwarder.EnvTimeout: "7"}, wantErr: "is not a duration"},
		{name: "timeout at Connect's limit", changes: map[string]string{forwarder.EnvTimeout: "8s"}, wantErr: "out of range"},
		{name: "timeout too short", changes: map[string]string{forwarder.EnvTimeout: "50ms"}, wantErr: "out of range"},
		{name: "no client certificate", changes: map[string]string{forwarder.EnvClientCertFile: ""}, wantErr: "client certificate is not configured"},
		{
			name:    "client key twice",
			changes: map[string]string{forwarder.EnvClientKeyPEM: "-----BEGIN PRIVATE KEY-----"},
			wantErr: "client private key is configured more than once",
		},
		{
			name:    "server CA twice",
			changes: map[string]string{forwarder.EnvServerCASecretARN: "arn:aws:secretsmanager:us-east-1:111122223333:secret:ca"},
			wantErr: "server CA certificate is configured more than once",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := forwarder.LoadConfig(getenv(changed(fileEnv(), tt.changes)))

			if err == nil {
				t.Fatal("LoadConfig succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadConfigReportsEveryProblem(t *testing.T) {
	_, err := forwarder.LoadConfig(getenv(map[string]string{forwarder.EnvTimeout: "9s"}))

	if err == nil {
		t.Fatal("LoadConfig succeeded, want an error")
	}
	for _, want := range []string{
		"FORWARDER_PROCESSOR_URL is missing",
		"FORWARDER_TIMEOUT 9s is out of range",
		"client certificate is not configured",
		"client private key is not configured",
		"server CA certificate is not configured",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func getenv(env map[string]string) func(string) string {
	return func(name string) string { return env[name] }
}
