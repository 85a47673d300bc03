package decrypt

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"testing"

	"github.com/connect-secure-input/processor/internal/rsadtmf"
	"github.com/connect-secure-input/processor/internal/secret"
	"github.com/connect-secure-input/processor/internal/testkit/connectcrypt"
)

const testPAN = "4111111111111111"

// fixture is a Connect key pair that a Decrypter is configured with, plus
// one it is not, generated once per test binary (RSA generation is slow).
type fixture struct {
	configured   connectcrypt.KeyPair
	second       connectcrypt.KeyPair
	unconfigured connectcrypt.KeyPair
}

var (
	fixtureOnce sync.Once
	shared      fixture
	fixtureErr  error
)

func keys(t testing.TB) fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		for _, kp := range []*connectcrypt.KeyPair{&shared.configured, &shared.second, &shared.unconfigured} {
			if *kp, fixtureErr = connectcrypt.GenerateKeyPair(2048); fixtureErr != nil {
				return
			}
		}
	})
	if fixtureErr != nil {
		t.Fatalf("generate key pairs: %v", fixtureErr)
	}
	return shared
}

func loadKeyring(t testing.TB, pairs ...connectcrypt.KeyPair) *rsadtmf.Keyring {
	t.Helper()
	sources := make([]rsadtmf.KeySource, 0, len(pairs))
	for _, kp := range pairs {
		pemBytes, err := kp.PrivatePEM()
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, rsadtmf.KeySource{KeyID: kp.KeyID, PEM: secret.New(pemBytes)})
	}
	keyring, err := rsadtmf.Load(context.Background(), sources)
	if err != nil {
		t.Fatalf("load keyring: %v", err)
	}
	return keyring
}

func newConnectDecrypter(t testing.TB, cfg Config) (*Decrypter, fixture) {
	t.Helper()
	f := keys(t)
	d, err := New(cfg, loadKeyring(t, f.configured, f.second), nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d, f
}

func encryptDTMF(t testing.TB, digits string, pairs ...connectcrypt.KeyPair) string {
	t.Helper()
	pubs := make([]connectcrypt.PublicKey, len(pairs))
	for i, kp := range pairs {
		pubs[i] = kp.PublicKey()
	}
	text, err := connectcrypt.EncryptDTMF(context.Background(), []byte(digits), pubs...)
	if err != nil {
		t.Fatalf("EncryptDTMF: %v", err)
	}
	return text
}

func TestDecryptConnectMessage(t *testing.T) {
	d, f := newConnectDecrypter(t, Config{})
	text := encryptDTMF(t, testPAN, f.configured)

	res, err := d.Decrypt(context.Background(), "  "+text+"\n")
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	defer res.Plaintext.Wipe()
	if !bytes.Equal(res.Plaintext.Bytes(), []byte(testPAN)) {
		t.Error("plaintext differs from what was encrypted")
	}
	want := Metadata{Scheme: SchemeConnectRSA, KeyID: f.configured.KeyID, Suite: 0x0378, FormatVersion: 1, ContextKeys: []string{"aws-crypto-public-key"}}
	if res.Metadata.Scheme != want.Scheme || res.Metadata.KeyID != want.KeyID || res.Metadata.Suite != want.Suite ||
		res.Metadata.FormatVersion != want.FormatVersion || strings.Join(res.Metadata.ContextKeys, ",") != "aws-crypto-public-key" {
		t.Errorf("Metadata = %+v, want %+v", res.Metadata, want)
	}
}

func TestDecryptSecondActiveKey(t *testing.T) {
	d, f := newConnectDecrypter(t, Config{})
	for name, pairs := range map[string][]connectcrypt.KeyPair{
		"second key only":        {f.second},
		"unknown and second key": {f.unconfigured, f.second},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := d.Decrypt(context.Background(), encryptDTMF(t, "123", pairs...))
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			defer res.Plaintext.Wipe()
			if res.Metadata.KeyID != f.second.KeyID {
				t.Errorf("KeyID = %q, want %q", res.Metadata.KeyID, f.second.KeyID)
			}
		})
	}
}

func TestDecryptFailures(t *testing.T) {
	d, f := newConnectDecrypter(t, Config{})
	good := encryptDTMF(t, testPAN, f.configured)
	raw, err := base64.StdEncoding.DecodeString(good)
	if err != nil {
		t.Fatal(err)
	}
	flipped := func(offset int) string {
		b := bytes.Clone(raw)
		b[offset] ^= 0x01
		return base64.StdEncoding.EncodeToString(b)
	}
	header, err := ParseHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	noKeys, err := New(Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	strict, _ := newConnectDecrypter(t, Config{MaxEncryptedDataKeys: 1})

	tests := []struct {
		name      string
		decrypter *Decrypter
		text      string
		want      Code
		mentions  string
	}{
		{"empty", d, "", CodeMalformed, "empty"},
		{"whitespace only", d, " \n\t", CodeMalformed, "empty"},
		{"url-safe alphabet", d, strings.NewReplacer("+", "-", "/", "_").Replace(good) + "-_", CodeMalformed, "URL-safe"},
		{"inner newline", d, good[:40] + "\n" + good[40:], CodeMalformed, "whitespace"},
		{"unpadded", d, good + "A", CodeMalformed, "multiple of 4"},
		{"invalid character", d, "AYAD" + strings.Repeat("*", 8), CodeMalformed, "not valid standard base64"},
		{"not an ESDK message", d, base64.StdEncoding.EncodeToString([]byte("hello world, not a message")), CodeMalformed, "not a valid Encryption SDK message"},
		{"too large", d, base64.StdEncoding.EncodeToString(make([]byte, DefaultMaxCiphertextBytes+1)), CodeTooLarge, "at most"},
		{"unknown key", d, encryptDTMF(t, testPAN, f.unconfigured), CodeKeyUnknown, f.unconfigured.KeyID},
		{"connect disabled", noKeys, good, CodeKeyProviderUnsupported, "no Connect keys"},
		{"too many encrypted data keys", strict, encryptDTMF(t, testPAN, f.configured, f.second), CodeTooManyEncryptedDataKeys, "2 encrypted data keys"},
		{"tampered signature", d, flipped(len(raw) - 3), CodeAuthenticationFailed, "authentication"},
		{"tampered body", d, flipped(header.Length + 30), CodeAuthenticationFailed, "authentication"},
		{"tampered header tag", d, flipped(header.Length - 3), CodeAuthenticationFailed, "authentication"},
		{"tampered frame length field", d, flipped(header.Length + 20), CodeMalformed, "malformed"},
		{"truncated body", d, base64.StdEncoding.EncodeToString(raw[:len(raw)-40]), CodeMalformed, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.decrypter.Decrypt(context.Background(), tt.text)
			if err == nil {
				res.Plaintext.Wipe()
				t.Fatal("Decrypt succeeded, want an error")
			}
			if got := CodeOf(err); got != tt.want {
				t.Errorf("code = %s, want %s (%v)", got, tt.want, err)
			}
			if !strings.Contains(err.Error(), tt.mentions) {
				t.Errorf("message %q does not mention %q", err, tt.mentions)
			}
			if strings.Contains(err.Error(), testPAN) {
				t.Errorf("message %q contains the plaintext", err)
			}
		})
	}
}

func TestSuiteAllowList(t *testing.T) {
	d, f := newConnectDecrypter(t, Config{ConnectSuites: []Suite{0x0578}})
	_, err := d.Decrypt(context.Background(), encryptDTMF(t, testPAN, f.configured))
	if CodeOf(err) != CodeSuiteRejected {
		t.Fatalf("code = %s, want %s (%v)", CodeOf(err), CodeSuiteRejected, err)
	}
	if !strings.Contains(err.Error(), "0x0378") {
		t.Errorf("message %q does not name the suite", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"suite without key derivation", Config{ConnectSuites: []Suite{0x0078}}, "no key derivation"},
		{"unknown suite", Config{ConnectSuites: []Suite{0x1234}}, "not an ESDK suite"},
		{"too many encrypted data keys", Config{MaxEncryptedDataKeys: 17}, "outside 1 to 16"},
		{"size too small", Config{MaxCiphertextBytes: 10}, "below 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestParseHeaderOfConnectMessage(t *testing.T) {
	f := keys(t)
	raw, err := base64.StdEncoding.DecodeString(encryptDTMF(t, testPAN, f.configured, f.second))
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHeader(raw)
	if err != nil {
		t.Fatalf("ParseHeader: %v", err)
	}
	if h.FormatVersion != 1 || h.Suite != 0x0378 || len(h.MessageID) != 16 || h.ContentType != ContentFramed || h.FrameLength == 0 {
		t.Errorf("header = %+v", h)
	}
	if len(h.EncryptedDataKeys) != 2 || h.EncryptedDataKeys[0].ProviderID != "AmazonConnect" ||
		h.EncryptedDataKeys[0].ProviderInfo != f.configured.KeyID || h.EncryptedDataKeys[1].ProviderInfo != f.second.KeyID ||
		h.EncryptedDataKeys[0].CiphertextLength != 256 {
		t.Errorf("encrypted data keys = %+v", h.EncryptedDataKeys)
	}
	if _, ok := h.ContextValue("aws-crypto-public-key"); !ok {
		t.Error("the aws-crypto-public-key context entry is missing")
	}
	// Every strict prefix of the header is truncated, never a panic.
	for n := 0; n < h.Length; n++ {
		if _, err := ParseHeader(raw[:n]); err == nil {
			t.Fatalf("ParseHeader of the first %d of %d header bytes succeeded", n, h.Length)
		}
	}
}

func TestInspectDoesNotDecrypt(t *testing.T) {
	noKeys, err := New(Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := keys(t)
	out, err := noKeys.Inspect(encryptDTMF(t, testPAN, f.configured))
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if out.AlgorithmSuite.ID != "0x0378" || out.AlgorithmSuite.Committing || !out.AlgorithmSuite.Signed || out.Route != SchemeConnectRSA {
		t.Errorf("suite = %+v, route = %s", out.AlgorithmSuite, out.Route)
	}
	if len(out.EncryptedDataKeys) != 1 || out.EncryptedDataKeys[0].ProviderInfo != f.configured.KeyID {
		t.Errorf("encrypted data keys = %+v", out.EncryptedDataKeys)
	}
	if len(out.EncryptionContext) != 1 || !strings.Contains(out.EncryptionContext[0].Value, "characters)") {
		t.Errorf("the public key context value is not shortened: %+v", out.EncryptionContext)
	}
}
