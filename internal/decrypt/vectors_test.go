package decrypt

import (
	"bytes"
	"context"
	"testing"

	"github.com/connect-secure-input/processor/internal/kmsesdk"
	"github.com/connect-secure-input/processor/internal/rsadtmf"
	"github.com/connect-secure-input/processor/internal/secret"
	"github.com/connect-secure-input/processor/internal/testkit/localkms"
	"github.com/connect-secure-input/processor/internal/testkit/vectors"
)

// vectorDecrypter builds a Decrypter configured as the manifest's vectors
// assume, with the KMS path aimed at a local-kms started for the test.
func vectorDecrypter(t *testing.T, m vectors.Manifest) *Decrypter {
	t.Helper()
	srv := localkms.Start(t)
	srv.SetEnv(t)

	var sources []rsadtmf.KeySource
	for _, k := range m.ConfiguredConnectKeys() {
		sources = append(sources, rsadtmf.KeySource{KeyID: k.KeyID, PEM: secret.New(k.PrivatePEM(t))})
	}
	connect, err := rsadtmf.Load(context.Background(), sources)
	if err != nil {
		t.Fatalf("load Connect keys: %v", err)
	}
	kms, err := kmsesdk.New(context.Background(), kmsesdk.Config{
		KeyARNs: m.KMS.ConfiguredKeyARNs, Purpose: m.Service.KMSPurpose, Intents: m.Service.KMSIntents,
	})
	if err != nil {
		t.Fatalf("build KMS keyring: %v", err)
	}
	suites := make([]Suite, 0, len(m.Service.DTMFSuites))
	for _, text := range m.Service.DTMFSuites {
		s, err := ParseSuite(text)
		if err != nil {
			t.Fatal(err)
		}
		suites = append(suites, s)
	}
	d, err := New(Config{
		MaxCiphertextBytes: m.Service.MaxCiphertextBytes, MaxEncryptedDataKeys: m.Service.MaxEncryptedDataKeys, ConnectSuites: suites,
	}, connect, kms)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

// TestInteroperabilityVectors decrypts every vector that the official
// JavaScript ESDK made: positive ones to their plaintext, negative ones to
// their expected code.
func TestInteroperabilityVectors(t *testing.T) {
	m := vectors.Load(t)
	d := vectorDecrypter(t, m)
	for _, v := range m.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			res, err := d.Decrypt(context.Background(), string(v.Input(t)))
			if v.Positive() {
				if err != nil {
					t.Fatalf("Decrypt: %v", err)
				}
				defer res.Plaintext.Wipe()
				if !bytes.Equal(res.Plaintext.Bytes(), v.Plaintext()) {
					t.Errorf("plaintext differs from the vector's")
				}
				wantKey := v.KeyID
				if v.Scheme == "kms" {
					wantKey = v.KeyARN
				}
				if wantKey != "" && res.Metadata.KeyID != wantKey {
					t.Errorf("KeyID = %q, want %q", res.Metadata.KeyID, wantKey)
				}
				return
			}
			if err == nil {
				res.Plaintext.Wipe()
				t.Fatalf("Decrypt succeeded, want %s", v.Error)
			}
			if got := CodeOf(err); string(got) != v.Error {
				t.Errorf("code = %s, want %s (%v; note: %s)", got, v.Error, err, v.Note)
			}
			if plain := v.Plaintext(); len(plain) > 0 && bytes.Contains([]byte(err.Error()), plain) {
				t.Errorf("error message contains the plaintext")
			}
		})
	}
}

// TestKMSUnavailable stops local-kms and expects the retryable code.
func TestKMSUnavailable(t *testing.T) {
	m := vectors.Load(t)
	srv := localkms.Start(t)
	srv.SetEnv(t)
	kms, err := kmsesdk.New(context.Background(), kmsesdk.Config{KeyARNs: m.KMS.ConfiguredKeyARNs})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{}, nil, kms)
	if err != nil {
		t.Fatal(err)
	}
	var text []byte
	for _, v := range m.Positive() {
		if v.Scheme == "kms" {
			text = v.Input(t)
			break
		}
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = d.Decrypt(context.Background(), string(text))
	if CodeOf(err) != CodeKMSUnavailable {
		t.Fatalf("code = %s, want %s (%v)", CodeOf(err), CodeKMSUnavailable, err)
	}
	var de *Error
	if !asError(err, &de) || !de.Retryable() {
		t.Error("kms_unavailable is not marked retryable")
	}
}
