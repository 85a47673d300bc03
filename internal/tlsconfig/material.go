package tlsconfig

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// files are the paths of the three PEM files that make up the material.
type files struct {
	cert, key, clientCA string
}

// fileContents is one read of the three files.
type fileContents struct {
	cert, key, clientCA []byte
	digest              [sha256.Size]byte
}

// material is one consistent load of the three files. It is immutable once
// stored in Server.current.
type material struct {
	digest      [sha256.Size]byte
	certificate *tls.Certificate
	leaf        *x509.Certificate
	clientCAs   *x509.CertPool
	caCount     int
	// caNotAfter is the earliest NotAfter in the client CA bundle.
	caNotAfter time.Time
	// config is the per-handshake configuration that getConfigForClient
	// returns while this material is current.
	config *tls.Config
}

// read reads the three files and hashes their contents. Read errors name
// the file, because the os package puts the path in them.
func (f files) read() (fileContents, error) {
	var c fileContents
	var err error
	if c.cert, err = os.ReadFile(f.cert); err != nil {
		return fileContents{}, fmt.Errorf("read server certificate file: %w", err)
	}
	if c.key, err = os.ReadFile(f.key); err != nil {
		return fileContents{}, fmt.Errorf("read server key file: %w", err)
	}
	if c.clientCA, err = os.ReadFile(f.clientCA); err != nil {
		clear(c.key)
		return fileContents{}, fmt.Errorf("read client CA file: %w", err)
	}

	// Each file is length-prefixed so that moving bytes from one file to
	// the next changes the digest.
	h := sha256.New()
	for _, data := range [][]byte{c.cert, c.key, c.clientCA} {
		_ = binary.Write(h, binary.BigEndian, uint64(len(data))) // a hash.Hash never returns a write error
		h.Write(data)
	}
	h.Sum(c.digest[:0])
	return c, nil
}

// parse checks and parses the file contents into material. It zeroes the
// key file bytes when done because the parsed key is all it keeps.
func (s *Server) parse(c fileContents) (*material, error) {
	defer clear(c.key)

	certificate, err := parseServerCertificate(s.files, c.cert, c.key, time.Now())
	if err != nil {
		return nil, err
	}
	pool, count, notAfter, err := parseClientCAs(s.files.clientCA, c.clientCA)
	if err != nil {
		return nil, err
	}

	m := &material{
		digest:      c.digest,
		certificate: certificate,
		leaf:        certificate.Leaf,
		clientCAs:   pool,
		caCount:     count,
		caNotAfter:  notAfter,
	}
	m.config = s.newConfig(pool, func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return m.certificate, nil
	})
	return m, nil
}

// parseServerCertificate checks the certificate file and the key file one by
// one, so that each error names the file at fault, then pairs them. Errors
// carry no key bytes, because the tls and x509 parsers describe what failed
// rather than quote their input.
func parseServerCertificate(paths files, certPEM, keyPEM []byte, now time.Time) (*tls.Certificate, error) {
	blocks, err := decodePEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("server certificate file %q: %w", paths.cert, err)
	}
	for i, block := range blocks {
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("server certificate file %q: PEM block %d is %q, expected CERTIFICATE", paths.cert, i+1, block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("server certificate file %q: certificate %d: %w", paths.cert, i+1, err)
		}
	}
	if len(blocks) == 0 {
		return nil, fmt.Errorf("server certificate file %q: no PEM CERTIFICATE block found", paths.cert)
	}

	keyBlocks, err := decodePEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("server key file %q: %w", paths.key, err)
	}
	isKey := len(keyBlocks) == 1 && strings.HasSuffix(keyBlocks[0].Type, "PRIVATE KEY")
	for _, block := range keyBlocks {
		clear(block.Bytes)
	}
	if !isKey {
		return nil, fmt.Errorf("server key file %q: expected exactly one PEM private key block", paths.key)
	}

	certificate, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("server certificate file %q with key file %q: %w", paths.cert, paths.key, err)
	}
	leaf := certificate.Leaf
	if leaf == nil {
		// X509KeyPair sets Leaf unless GODEBUG=x509keypairleaf=0.
		if leaf, err = x509.ParseCertificate(certificate.Certificate[0]); err != nil {
			return nil, fmt.Errorf("server certificate file %q: %w", paths.cert, err)
		}
		certificate.Leaf = leaf
	}
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("server certificate file %q: certificate (serial %s) expired at %s: install a renewed certificate",
			paths.cert, serialText(leaf), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &certificate, nil
}

// parseClientCAs parses a bundle of CA certificates and returns the pool,
// the count and the earliest NotAfter. A certificate that is not a CA is
// rejected, because Go would otherwise trust it as an anchor on its own and
// accept exactly that certificate from a client.
func parseClientCAs(path string, data []byte) (*x509.CertPool, int, time.Time, error) {
	blocks, err := decodePEM(data)
	if err != nil {
		return nil, 0, time.Time{}, fmt.Errorf("client CA file %q: %w", path, err)
	}
	if len(blocks) == 0 {
		return nil, 0, time.Time{}, fmt.Errorf("client CA file %q: no PEM CERTIFICATE block found", path)
	}

	pool := x509.NewCertPool()
	var earliest time.Time
	for i, block := range blocks {
		if block.Type != "CERTIFICATE" {
			return nil, 0, time.Time{}, fmt.Errorf("client CA file %q: PEM block %d is %q, expected CERTIFICATE", path, i+1, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, 0, time.Time{}, fmt.Errorf("client CA file %q: certificate %d: %w", path, i+1, err)
		}
		if !cert.BasicConstraintsValid || !cert.IsCA {
			return nil, 0, time.Time{}, fmt.Errorf("client CA file %q: certificate %d (subject %q) is not a CA certificate: list only the CAs that issue client certificates",
				path, i+1, cert.Subject.String())
		}
		pool.AddCert(cert)
		if earliest.IsZero() || cert.NotAfter.Before(earliest) {
			earliest = cert.NotAfter
		}
	}
	return pool, len(blocks), earliest, nil
}

// errIncompletePEM reports a PEM block whose END line is missing or
// damaged, as in a file read while it was being written in place.
var errIncompletePEM = errors.New("incomplete or damaged PEM block: check that the file is complete")

// decodePEM returns every PEM block in data. Text around blocks is ignored,
// as pem.Decode does, but a BEGIN line that does not start a
// valid block is an error rather than the end of the file.
func decodePEM(data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	rest := data
	for {
		block, next := pem.Decode(rest)
		if block == nil {
			break
		}
		blocks = append(blocks, block)
		rest = next
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, errIncompletePEM
	}
	return blocks, nil
}

// serialText formats a certificate serial number in lowercase hexadecimal
// without separators.
func serialText(cert *x509.Certificate) string {
	return fmt.Sprintf("%x", cert.SerialNumber)
}
