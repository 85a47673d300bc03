package main

import (
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/connect-secure-input/processor/internal/forwarder"
	"github.com/connect-secure-input/processor/internal/testkit/pki"
)

// clearEnvironment empties every FORWARDER_* variable for the test, so the
// machine's environment cannot change its outcome.
func clearEnvironment(t *testing.T) {
	t.Helper()
	for _, name := range []string{
		forwarder.EnvProcessorURL, forwarder.EnvTimeout,
		forwarder.EnvClientCertSecretARN, forwarder.EnvClientCertFile, forwarder.EnvClientCertPEM,
		forwarder.EnvClientKeySecretARN, forwarder.EnvClientKeyFile, forwarder.EnvClientKeyPEM,
		forwarder.EnvServerCASecretARN, forwarder.EnvServerCAFile, forwarder.EnvServerCAPEM,
	} {
		t.Setenv(name, "")
	}
}

func TestSetUpFromFiles(t *testing.T) {
	clearEnvironment(t)
	ca := pki.NewCA(t, "forwarder test CA")
	dir := t.TempDir()
	files := ca.Issue(t, pki.ClientOptions("forwarder")).Write(t, dir, "client")
	caFile := filepath.Join(dir, "server-ca.pem")
	if err := pki.WriteBundle(caFile, ca); err != nil {
		t.Fatal(err)
	}
	t.Setenv(forwarder.EnvProcessorURL, "https://127.0.0.1:8443")
	t.Setenv(forwarder.EnvTimeout, "6500ms")
	t.Setenv(forwarder.EnvClientCertFile, files.CertFile)
	t.Setenv(forwarder.EnvClientKeyFile, files.KeyFile)
	t.Setenv(forwarder.EnvServerCAFile, caFile)

	handler, err := setUp(zap.NewNop())

	if err != nil {
		t.Fatalf("setUp: %v", err)
	}
	if handler == nil {
		t.Fatal("setUp returned no handler")
	}
}

func TestSetUpRejects(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{
			name:    "no configuration",
			env:     map[string]string{},
			wantErr: "FORWARDER_PROCESSOR_URL is missing",
		},
		{
			name: "missing certificate file",
			env: map[string]string{
				forwarder.EnvProcessorURL:   "https://127.0.0.1:8443",
				forwarder.EnvClientCertFile: "/nonexistent/client.crt",
				forwarder.EnvClientKeyFile:  "/nonexistent/client.key",
				forwarder.EnvServerCAFile:   "/nonexistent/ca.pem",
			},
			wantErr: "read the client certificate from FORWARDER_CLIENT_CERT_FILE",
		},
		{
			name: "certificate that is no PEM",
			env: map[string]string{
				forwarder.EnvProcessorURL:  "https://127.0.0.1:8443",
				forwarder.EnvClientCertPEM: "not a certificate",
				forwarder.EnvClientKeyPEM:  "not a key",
				forwarder.EnvServerCAPEM:   "not a CA",
			},
			wantErr: "load the client certificate and key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnvironment(t)
			for name, value := range tt.env {
				t.Setenv(name, value)
			}

			_, err := setUp(zap.NewNop())

			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("setUp error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
