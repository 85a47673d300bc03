package forwarder_test

import (
	"strings"
	"testing"

	"github.com/connect-secure-input/processor/internal/forwarder"
	"github.com/connect-secure-input/processor/internal/testkit/pki"
)

func TestNewHTTPClientRejects(t *testing.T) {
	ca := pki.NewCA(t, "forwarder test CA")
	cert := ca.Issue(t, pki.ClientOptions("forwarder"))
	other := ca.Issue(t, pki.ClientOptions("other"))
	expired := ca.Issue(t, pki.ExpiredOptions(pki.ClientOptions("forwarder")))
	tests := []struct {
		name     string
		material forwarder.Material
		wantErr  string
	}{
		{
			name:     "key of another certificate",
			material: forwarder.Material{ClientCertPEM: cert.CertPEM, ClientKeyPEM: other.KeyPEM, ServerCAPEM: ca.CertPEM},
			wantErr:  "load the client certificate and key",
		},
		{
			name:     "certificate that is no PEM",
			material: forwarder.Material{ClientCertPEM: []byte("MIIB..."), ClientKeyPEM: cert.KeyPEM, ServerCAPEM: ca.CertPEM},
			wantErr:  "load the client certificate and key",
		},
		{
			name:     "expired certificate",
			material: forwarder.Material{ClientCertPEM: expired.CertPEM, ClientKeyPEM: expired.KeyPEM, ServerCAPEM: ca.CertPEM},
			wantErr:  `client certificate "forwarder" expired`,
		},
		{
			name:     "server CA that is no PEM",
			material: forwarder.Material{ClientCertPEM: cert.CertPEM, ClientKeyPEM: cert.KeyPEM, ServerCAPEM: []byte("not a certificate")},
			wantErr:  "server CA has no PEM CERTIFICATE block",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := forwarder.NewHTTPClient(tt.material)

			if err == nil {
				t.Fatal("NewHTTPClient succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewHandlerRejects(t *testing.T) {
	fake := startFakeProcessor(t, replyWith(200, validPANResult))
	client, err := forwarder.NewHTTPClient(fake.Material())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    forwarder.Options
		wantErr string
	}{
		{name: "no URL", opts: forwarder.Options{HTTPClient: client}, wantErr: "ProcessorURL is nil"},
		{name: "no client", opts: forwarder.Options{ProcessorURL: fake.URL(t)}, wantErr: "HTTPClient is nil"},
		{name: "timeout over the bound", opts: forwarder.Options{ProcessorURL: fake.URL(t), HTTPClient: client, Timeout: forwarder.MaxTimeout + 1}, wantErr: "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := forwarder.New(tt.opts)

			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
