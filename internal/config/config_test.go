package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(t *testing.T, vars map[string]string) (func(string) string, []string) {
	t.Helper()
	var environ []string
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	return func(name string) string { return vars[name] }, environ
}

func tlsFiles(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	vars := map[string]string{}
	for name, file := range map[string]string{
		"PROCESSOR_TLS_CERT_FILE": "server.pem", "PROCESSOR_TLS_KEY_FILE": "server-key.pem", "PROCESSOR_CLIENT_CA_FILE": "ca.pem",
	} {
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, []byte("placeholder"), 0o600); err != nil {
			t.Fatal(err)
		}
		vars[name] = path
	}
	// One decryption path is required; a KMS ARN needs no key file.
	vars["PROCESSOR_KMS_KEY_ARNS"] = "arn:aws:kms:eu-west-2:111122223333:key/740ca468-bb9d-4253-b325-8ca7addb96fa"
	return vars
}

func TestLoadDefaults(t *testing.T) {
	getenv, environ := env(t, tlsFiles(t))
	c, err := Load(getenv, environ)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.ListenAddr != ":8443" || c.OpsAddr != ":9090" || c.RequestBudget != 6*time.Second || c.SADTTL != time.Minute ||
		c.Gateway != "simulator" || c.Store != "memory" || c.RecordRetention != 24*time.Hour || c.MaxBodyBytes != 65536 ||
		c.MaxEncryptedKeys != 3 || c.KMSPurpose != "connect-secure-input" || len(c.ConnectSuites) != 2 || c.DrainTimeout != 25*time.Second {
		t.Errorf("defaults = %+v", c)
	}
	if c.TaskID == "" {
		t.Error("TaskID is empty")
	}
}

func TestLoadConnectKeys(t *testing.T) {
	vars := tlsFiles(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "k.pem")
	if err := os.WriteFile(path, []byte("PEM FROM FILE"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars["PROCESSOR_CONNECT_KEYS"] = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa=" + path
	vars["PROCESSOR_CONNECT_KEY_2_ID"] = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"
	vars["PROCESSOR_CONNECT_KEY_2_PEM"] = "PEM FROM ENV"
	getenv, environ := env(t, vars)
	c, err := Load(getenv, environ)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(c.ConnectKeys) != 2 || c.ConnectKeys[0].Origin != path || c.ConnectKeys[1].Origin != "PROCESSOR_CONNECT_KEY_2_PEM" ||
		string(c.ConnectKeys[1].PEM.Bytes()) != "PEM FROM ENV" {
		t.Errorf("ConnectKeys = %+v", c.ConnectKeys)
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		want string
	}{
		{"bad duration", map[string]string{"PROCESSOR_REQUEST_BUDGET": "soon"}, "PROCESSOR_REQUEST_BUDGET"},
		{"budget over Connect limit", map[string]string{"PROCESSOR_REQUEST_BUDGET": "9s"}, "PROCESSOR_REQUEST_BUDGET"},
		{"unknown gateway", map[string]string{"PROCESSOR_GATEWAY": "paypal"}, "PROCESSOR_GATEWAY"},
		{"stripe without key", map[string]string{"PROCESSOR_GATEWAY": "stripe"}, "PROCESSOR_STRIPE_API_KEY is required"},
		{"postgres without url", map[string]string{"PROCESSOR_STORE": "postgres"}, "PROCESSOR_DATABASE_URL is required"},
		{"missing pem", map[string]string{"PROCESSOR_CONNECT_KEY_1_ID": "x"}, "PROCESSOR_CONNECT_KEY_1_PEM is missing"},
		{"missing key file", map[string]string{"PROCESSOR_CONNECT_KEYS": "id=/nonexistent/key.pem"}, "PROCESSOR_CONNECT_KEYS"},
		{"legacy suite", map[string]string{"PROCESSOR_CONNECT_SUITES": "0x0078"}, "no key derivation"},
		{"ttl shorter than budget", map[string]string{"PROCESSOR_SAD_TTL": "5s"}, "PROCESSOR_SAD_TTL must be longer"},
		{"short fingerprint key", map[string]string{"PROCESSOR_FINGERPRINT_KEY": "abcd"}, "PROCESSOR_FINGERPRINT_KEY"},
		{"bad port", map[string]string{"PROCESSOR_OPS_ADDR": "localhost"}, "PROCESSOR_OPS_ADDR"},
		{"no decryption keys", map[string]string{"PROCESSOR_KMS_KEY_ARNS": ""}, "no decryption keys"},
		{"too many body bytes", map[string]string{"PROCESSOR_MAX_BODY_BYTES": "99999999"}, "PROCESSOR_MAX_BODY_BYTES"},
		{"simulator url not loopback", map[string]string{"PROCESSOR_SIMULATOR_URL": "http://10.0.0.5:8080"}, "PROCESSOR_SIMULATOR_URL"},
		{"simulator url https", map[string]string{"PROCESSOR_SIMULATOR_URL": "https://127.0.0.1:8080"}, "PROCESSOR_SIMULATOR_URL"},
		{"simulator url with stripe", map[string]string{"PROCESSOR_SIMULATOR_URL": "http://127.0.0.1:8080", "PROCESSOR_GATEWAY": "stripe", "PROCESSOR_STRIPE_API_KEY": "sk_test_x"}, "PROCESSOR_SIMULATOR_URL is set, but PROCESSOR_GATEWAY is \"stripe\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := tlsFiles(t)
			for k, v := range tt.set {
				vars[k] = v
			}
			getenv, environ := env(t, vars)
			_, err := Load(getenv, environ)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestLoadSimulatorURL(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		want string
	}{
		{"unset means in-process", map[string]string{}, ""},
		{"loopback server", map[string]string{"PROCESSOR_SIMULATOR_URL": "http://127.0.0.1:41234"}, "http://127.0.0.1:41234"},
		{"explicit simulator gateway", map[string]string{"PROCESSOR_GATEWAY": "simulator", "PROCESSOR_SIMULATOR_URL": "http://[::1]:41234"}, "http://[::1]:41234"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := tlsFiles(t)
			for k, v := range tt.set {
				vars[k] = v
			}
			getenv, environ := env(t, vars)
			c, err := Load(getenv, environ)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.SimulatorURL != tt.want {
				t.Errorf("SimulatorURL = %q, want %q", c.SimulatorURL, tt.want)
			}
		})
	}
}

func TestLoadRequiresTLSFiles(t *testing.T) {
	getenv, environ := env(t, map[string]string{})
	_, err := Load(getenv, environ)
	for _, name := range []string{"PROCESSOR_TLS_CERT_FILE", "PROCESSOR_TLS_KEY_FILE", "PROCESSOR_CLIENT_CA_FILE"} {
		if err == nil || !strings.Contains(err.Error(), name+" is required") {
			t.Errorf("Load error = %v, want one naming %s", err, name)
		}
	}
}

func TestSummaryHidesSecrets(t *testing.T) {
	vars := tlsFiles(t)
	vars["PROCESSOR_STRIPE_API_KEY"] = "sk_test_secret_value"
	vars["PROCESSOR_GATEWAY"] = "stripe"
	getenv, environ := env(t, vars)
	c, err := Load(getenv, environ)
	if err != nil {
		t.Fatal(err)
	}
	summary := c.Summary(getenv)
	if summary["PROCESSOR_STRIPE_API_KEY"] != "set" || summary["PROCESSOR_DATABASE_URL"] != "unset" {
		t.Errorf("secrets in summary: stripe=%q database=%q", summary["PROCESSOR_STRIPE_API_KEY"], summary["PROCESSOR_DATABASE_URL"])
	}
	for k, v := range summary {
		if strings.Contains(v, "sk_test_secret_value") {
			t.Errorf("summary %s shows the secret", k)
		}
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	help := Help()
	for _, v := range variables {
		if !strings.Contains(help, v.name) {
			t.Errorf("--help does not list %s", v.name)
		}
	}
}
