package pki_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/connect-secure-input/processor/internal/testkit/pki"
)

func TestServerCertificateVerifiesForLoopback(t *testing.T) {
	ca := pki.NewCA(t, "server CA")
	cert := ca.Issue(t, pki.ServerOptions())

	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		t.Run(host, func(t *testing.T) {
			_, err := cert.Certificate.Verify(x509.VerifyOptions{
				DNSName:   host,
				Roots:     ca.CertPool(),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if err != nil {
				t.Fatalf("Verify(%s): %v", host, err)
			}
		})
	}
}

func TestClientCertificateIdentities(t *testing.T) {
	ca := pki.NewCA(t, "client CA")
	opts := pki.ClientOptions("forwarder")
	opts.DNSNames = []string{"forwarder.example"}
	opts.URIs = []string{"spiffe://example.org/forwarder"}
	cert := ca.Issue(t, opts)

	if got := cert.Certificate.Subject.CommonName; got != "forwarder" {
		t.Errorf("CN = %q, want forwarder", got)
	}
	if len(cert.Certificate.DNSNames) != 1 || cert.Certificate.DNSNames[0] != "forwarder.example" {
		t.Errorf("DNS SANs = %v, want [forwarder.example]", cert.Certificate.DNSNames)
	}
	if len(cert.Certificate.URIs) != 1 || cert.Certificate.URIs[0].String() != "spiffe://example.org/forwarder" {
		t.Errorf("URI SANs = %v, want [spiffe://example.org/forwarder]", cert.Certificate.URIs)
	}
	_, err := cert.Certificate.Verify(x509.VerifyOptions{
		Roots:     ca.CertPool(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		t.Fatalf("Verify as client certificate: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	ca := pki.NewCA(t, "client CA")
	other := pki.NewCA(t, "other CA")

	tests := []struct {
		name   string
		issuer *pki.CA
		opts   pki.Options
		check  func(error) bool
	}{
		{
			name:   "expired certificate",
			issuer: ca,
			opts:   pki.ExpiredOptions(pki.ClientOptions("old")),
			check: func(err error) bool {
				var invalid x509.CertificateInvalidError
				return errors.As(err, &invalid) && invalid.Reason == x509.Expired
			},
		},
		{
			name:   "certificate from another CA",
			issuer: other,
			opts:   pki.ClientOptions("stranger"),
			check: func(err error) bool {
				var unknown x509.UnknownAuthorityError
				return errors.As(err, &unknown)
			},
		},
		{
			name:   "server certificate used as client",
			issuer: ca,
			opts:   pki.ServerOptions(),
			check: func(err error) bool {
				var invalid x509.CertificateInvalidError
				return errors.As(err, &invalid) && invalid.Reason == x509.IncompatibleUsage
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := tt.issuer.Issue(t, tt.opts)
			_, err := cert.Certificate.Verify(x509.VerifyOptions{
				Roots:     ca.CertPool(),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			})
			if err == nil {
				t.Fatal("Verify succeeded, want an error")
			}
			if !tt.check(err) {
				t.Fatalf("Verify error = %v (%T), not the expected kind", err, err)
			}
		})
	}
}

func TestGenerateCAValidity(t *testing.T) {
	notAfter := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	ca, err := pki.GenerateCA(pki.CAOptions{CommonName: "short CA", NotAfter: notAfter})
	if err != nil {
		t.Fatalf("GenerateCA: %v", err)
	}
	if !ca.Certificate.NotAfter.Equal(notAfter) {
		t.Errorf("NotAfter = %v, want %v", ca.Certificate.NotAfter, notAfter)
	}
	if !ca.Certificate.IsCA || !ca.Certificate.MaxPathLenZero {
		t.Errorf("IsCA = %v, MaxPathLenZero = %v, want both true", ca.Certificate.IsCA, ca.Certificate.MaxPathLenZero)
	}
}

func TestInvalidOptions(t *testing.T) {
	ca := pki.NewCA(t, "CA")

	tests := []struct {
		name    string
		run     func() error
		wantErr string
	}{
		{
			name: "CA without common name",
			run: func() error {
				_, err := pki.GenerateCA(pki.CAOptions{})
				return err
			},
			wantErr: "CommonName is empty",
		},
		{
			name: "certificate without usage",
			run: func() error {
				_, err := ca.IssueCert(pki.Options{CommonName: "x"})
				return err
			},
			wantErr: "Options.Usage is empty",
		},
		{
			name: "relative URI SAN",
			run: func() error {
				_, err := ca.IssueCert(pki.Options{CommonName: "x", URIs: []string{"forwarder"}, Usage: pki.UsageClient})
				return err
			},
			wantErr: `invalid URI SAN "forwarder"`,
		},
		{
			name: "empty bundle",
			run: func() error {
				return pki.WriteBundle(filepath.Join(t.TempDir(), "ca.pem"))
			},
			wantErr: "no CA given",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if err == nil {
				t.Fatalf("got no error, want one containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestWriteFiles(t *testing.T) {
	ca := pki.NewCA(t, "CA")
	dir := t.TempDir()
	first := ca.Issue(t, pki.ServerOptions())
	second := ca.Issue(t, pki.ServerOptions())

	first.Write(t, dir, "server")
	files := second.Write(t, dir, "server")

	checkFile(t, files.CertFile, second.CertPEM, pki.CertFileMode)
	checkFile(t, files.KeyFile, second.KeyPEM, pki.KeyFileMode)
	if _, err := tls.LoadX509KeyPair(files.CertFile, files.KeyFile); err != nil {
		t.Fatalf("LoadX509KeyPair: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("directory has %d entries, want 2 (no temporary files left)", len(entries))
	}
}

func TestWriteBundle(t *testing.T) {
	first := pki.NewCA(t, "first CA")
	second := pki.NewCA(t, "second CA")
	path := filepath.Join(t.TempDir(), "client-ca.pem")

	if err := pki.WriteBundle(path, first, second); err != nil {
		t.Fatalf("WriteBundle: %v", err)
	}

	checkFile(t, path, append(bytes.Clone(first.CertPEM), second.CertPEM...), pki.CertFileMode)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatal("AppendCertsFromPEM found no certificate in the bundle")
	}
}

func checkFile(t *testing.T, path string, want []byte, wantMode os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != wantMode {
		t.Errorf("%s mode = %o, want %o", filepath.Base(path), got, wantMode)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s content differs from the PEM in memory", filepath.Base(path))
	}
}
