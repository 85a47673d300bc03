// Package pki creates throw-away X.509 certificate authorities and
// certificates for tests and the local demo: a CA, server certificates for
// loopback, client certificates with URI, DNS and CN identities, expired
// certificates, and PEM files on disk.
//
// DEVELOPMENT AND TEST ONLY. Keys are ECDSA P-256 generated in memory (fast,
// not chosen for any deployment), private keys are written unencrypted, and
// nothing here revokes, audits or protects a CA key. Never point a deployed
// service at material made by this package.
//
// Functions that return an error (GenerateCA, CA.IssueCert, Cert.WriteFiles,
// WriteBundle) work without a testing.T, for the demo. NewCA, CA.Issue and
// Cert.Write are thin helpers on top that stop the test on failure.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"
)

// Validity defaults, used when the options leave NotAfter zero. They are
// sized for a test run or a demo session, not for a deployment.
const (
	DefaultCAValidity   = 365 * 24 * time.Hour
	DefaultCertValidity = 30 * 24 * time.Hour

	// Backdate is how far before now a default NotBefore lies, so that a
	// verifier whose clock runs slightly behind still accepts a fresh
	// certificate.
	Backdate = 5 * time.Minute
)

// Usage selects the extended key usages of an issued certificate. Values
// combine with |.
type Usage int

// Extended key usages. Go's TLS stack checks them: a server certificate
// needs UsageServer and a client certificate needs UsageClient.
const (
	UsageServer Usage = 1 << iota
	UsageClient
)

// CAOptions describes a self-signed CA certificate.
type CAOptions struct {
	// CommonName is the subject CN. Required.
	CommonName string
	// NotBefore and NotAfter bound the validity. Zero values mean now minus
	// Backdate and NotBefore plus DefaultCAValidity.
	NotBefore, NotAfter time.Time
}

// Options describes a certificate issued by a CA.
type Options struct {
	// CommonName is the subject CN. It may be empty when the certificate has
	// SANs.
	CommonName string
	// DNSNames, IPAddresses and URIs are the subject alternative names. URIs
	// are absolute URIs such as "spiffe://example.org/forwarder".
	DNSNames    []string
	IPAddresses []net.IP
	URIs        []string
	// Usage is UsageServer, UsageClient or both. Required.
	Usage Usage
	// NotBefore and NotAfter bound the validity. Zero values mean now minus
	// Backdate and NotBefore plus DefaultCertValidity. A NotAfter in the past
	// makes an expired certificate.
	NotBefore, NotAfter time.Time
}

// ServerOptions returns Options for a server certificate valid for
// 127.0.0.1, ::1 and localhost, with subject CN "localhost".
func ServerOptions() Options {
	return Options{
		CommonName:  "localhost",
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		Usage:       UsageServer,
	}
}

// ClientOptions returns Options for a client certificate with subject CN
// commonName and no SANs. Callers add DNSNames and URIs as the case needs.
func ClientOptions(commonName string) Options {
	return Options{CommonName: commonName, Usage: UsageClient}
}

// ExpiredOptions returns opts with a validity that ended an hour ago.
func ExpiredOptions(opts Options) Options {
	now := time.Now()
	opts.NotBefore = now.Add(-48 * time.Hour)
	opts.NotAfter = now.Add(-time.Hour)
	return opts
}

// CA is a certificate authority whose key stays in memory.
type CA struct {
	Certificate *x509.Certificate
	PrivateKey  *ecdsa.PrivateKey
	// CertPEM is the CA certificate as one PEM CERTIFICATE block.
	CertPEM []byte
}

// Cert is an issued certificate with its private key.
type Cert struct {
	Certificate *x509.Certificate
	PrivateKey  *ecdsa.PrivateKey
	// CertPEM is the certificate alone as one PEM CERTIFICATE block. The CA
	// certificate is not appended because the CAs here issue leaves directly.
	CertPEM []byte
	// KeyPEM is the private key as unencrypted PKCS#8 ("PRIVATE KEY").
	KeyPEM []byte
}

// GenerateCA creates a self-signed CA with a new P-256 key. The CA signs
// leaf certificates only (path length zero).
func GenerateCA(opts CAOptions) (*CA, error) {
	if opts.CommonName == "" {
		return nil, errors.New("create CA: CAOptions.CommonName is empty")
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create CA %q: generate key: %w", opts.CommonName, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("create CA %q: %w", opts.CommonName, err)
	}

	notBefore, notAfter := validity(opts.NotBefore, opts.NotAfter, DefaultCAValidity)
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.CommonName, Organization: []string{"processor test PKI"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}

	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA %q: sign certificate: %w", opts.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("create CA %q: parse certificate: %w", opts.CommonName, err)
	}
	return &CA{Certificate: cert, PrivateKey: key, CertPEM: encodeCertificate(der)}, nil
}

// NewCA is GenerateCA with default validity for tests: it stops the test on
// failure.
func NewCA(t testing.TB, commonName string) *CA {
	t.Helper()
	ca, err := GenerateCA(CAOptions{CommonName: commonName})
	if err != nil {
		t.Fatalf("pki: %v", err)
	}
	return ca
}

// IssueCert creates a certificate for opts with a new P-256 key, signed by
// the CA. The validity is not clamped to the CA's, so an expired or
// outlasting certificate can be made on purpose.
func (ca *CA) IssueCert(opts Options) (*Cert, error) {
	template, err := leafTemplate(opts)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("issue certificate %s: generate key: %w", describe(opts), err)
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.Certificate, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("issue certificate %s: sign: %w", describe(opts), err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("issue certificate %s: parse: %w", describe(opts), err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("issue certificate %s: encode key: %w", describe(opts), err)
	}
	return &Cert{
		Certificate: cert,
		PrivateKey:  key,
		CertPEM:     encodeCertificate(der),
		KeyPEM:      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// Issue is IssueCert for tests: it stops the test on failure.
func (ca *CA) Issue(t testing.TB, opts Options) *Cert {
	t.Helper()
	cert, err := ca.IssueCert(opts)
	if err != nil {
		t.Fatalf("pki: %v", err)
	}
	return cert
}

// CertPool returns a pool that contains only this CA, for a client's
// RootCAs or a server's ClientCAs.
func (ca *CA) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate)
	return pool
}

// TLSCertificate returns the certificate and key in the form tls.Config
// takes, with Leaf set.
func (c *Cert) TLSCertificate() tls.Certificate {
	return tls.Certificate{
		Certificate: [][]byte{c.Certificate.Raw},
		PrivateKey:  c.PrivateKey,
		Leaf:        c.Certificate,
	}
}

// Bundle concatenates the CA certificates into one PEM bundle, the format
// of a client CA file.
func Bundle(cas ...*CA) []byte {
	var out []byte
	for _, ca := range cas {
		out = append(out, ca.CertPEM...)
	}
	return out
}

func leafTemplate(opts Options) (*x509.Certificate, error) {
	if opts.Usage&(UsageServer|UsageClient) == 0 {
		return nil, fmt.Errorf("issue certificate %s: Options.Usage is empty: set UsageServer, UsageClient or both", describe(opts))
	}
	uris := make([]*url.URL, 0, len(opts.URIs))
	for _, raw := range opts.URIs {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" {
			return nil, fmt.Errorf("issue certificate %s: invalid URI SAN %q: use an absolute URI such as spiffe://example.org/name", describe(opts), raw)
		}
		uris = append(uris, u)
	}
	var extKeyUsage []x509.ExtKeyUsage
	if opts.Usage&UsageServer != 0 {
		extKeyUsage = append(extKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if opts.Usage&UsageClient != 0 {
		extKeyUsage = append(extKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("issue certificate %s: %w", describe(opts), err)
	}
	notBefore, notAfter := validity(opts.NotBefore, opts.NotAfter, DefaultCertValidity)
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: opts.CommonName},
		DNSNames:     opts.DNSNames,
		IPAddresses:  opts.IPAddresses,
		URIs:         uris,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  extKeyUsage,
	}, nil
}

func validity(notBefore, notAfter time.Time, defaultValidity time.Duration) (time.Time, time.Time) {
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-Backdate)
	}
	if notAfter.IsZero() {
		notAfter = notBefore.Add(defaultValidity)
	}
	return notBefore, notAfter
}

// randomSerial returns a random 128-bit serial number. RFC 5280 section
// 4.1.2.2 allows up to 20 octets, and random serials keep them unpredictable.
func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return serial, nil
}

func encodeCertificate(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// describe names a certificate in error messages by its first identity.
func describe(opts Options) string {
	switch {
	case opts.CommonName != "":
		return fmt.Sprintf("CN=%q", opts.CommonName)
	case len(opts.URIs) > 0:
		return fmt.Sprintf("URI=%q", opts.URIs[0])
	case len(opts.DNSNames) > 0:
		return fmt.Sprintf("DNS=%q", opts.DNSNames[0])
	default:
		return "(no name)"
	}
}
