// Package config reads the processor's configuration from environment
// variables, which is what ECS task definitions set, and validates all of it
// before anything listens. Every variable is declared once in the table
// below, which also produces `processor --help`.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/connect-secure-input/processor/internal/decrypt"
	"github.com/connect-secure-input/processor/internal/gateway/simulator/simhttp"
	"github.com/connect-secure-input/processor/internal/rsadtmf"
	"github.com/connect-secure-input/processor/internal/secret"
)

// Config is the validated configuration.
type Config struct {
	ListenAddr string
	OpsAddr    string

	TLSCertFile        string
	TLSKeyFile         string
	ClientCAFile       string
	AllowedClients     []string
	TLSReloadInterval  time.Duration
	ConnectKeys        []rsadtmf.KeySource
	ConnectSuites      []decrypt.Suite
	KMSKeyARNs         []string
	KMSPurpose         string
	KMSIntents         []string
	KMSTimeout         time.Duration
	MaxCiphertextBytes int
	MaxEncryptedKeys   int
	MaxBodyBytes       int
	MaxConcurrent      int
	MaxAmount          int64
	ExpiryMaxYears     int

	Gateway            string
	SimulatorLatency   time.Duration
	SimulatorSlowDelay time.Duration
	SimulatorURL       string
	StripeAPIKey       secret.Value
	StripeURL          string
	CaptureMode        string

	RequestBudget   time.Duration
	SADTTL          time.Duration
	VaultMaxEntries int

	Store           string
	DatabaseURL     secret.Value
	RecordRetention time.Duration
	LeaseMargin     time.Duration
	RecoveryEvery   time.Duration
	FingerprintKey  secret.Value
	TaskID          string

	DrainTimeout time.Duration
	LogLevel     string
	LogFormat    string
}

// variable is one environment variable: its name, default, unit and what it
// sets, and how it is parsed into Config.
type variable struct {
	name     string
	def      string
	help     string
	secret   bool
	required bool
	parse    func(c *Config, value string) error
}

// Variables lists every setting. The order is the order of --help.
var variables = []variable{
	{name: "PROCESSOR_LISTEN_ADDR", def: ":8443", help: "address of the mTLS API listener", parse: func(c *Config, v string) error { c.ListenAddr = v; return addr(v) }},
	{name: "PROCESSOR_OPS_ADDR", def: ":9090", help: "address of the plain-HTTP ops listener (/metrics, /healthz, /readyz)", parse: func(c *Config, v string) error { c.OpsAddr = v; return addr(v) }},
	{name: "PROCESSOR_TLS_CERT_FILE", required: true, help: "PEM file of the server certificate chain", parse: func(c *Config, v string) error { c.TLSCertFile = v; return readable(v) }},
	{name: "PROCESSOR_TLS_KEY_FILE", required: true, help: "PEM file of the server private key", parse: func(c *Config, v string) error { c.TLSKeyFile = v; return readable(v) }},
	{name: "PROCESSOR_CLIENT_CA_FILE", required: true, help: "PEM bundle of the CAs that issue client (forwarder) certificates", parse: func(c *Config, v string) error { c.ClientCAFile = v; return readable(v) }},
	{name: "PROCESSOR_ALLOWED_CLIENTS", help: "comma-separated client identities allowed to call the API (see README); empty allows any certificate from the client CA", parse: func(c *Config, v string) error { c.AllowedClients = list(v); return nil }},
	{name: "PROCESSOR_TLS_RELOAD_INTERVAL", def: "30s", help: "how often certificate, key and client CA files are checked for changes (duration)", parse: durationIn(func(c *Config) *time.Duration { return &c.TLSReloadInterval }, time.Second, time.Hour)},
	{name: "PROCESSOR_CONNECT_KEYS", help: "comma-separated <Key ID>=<path to private key PEM> for Amazon Connect DTMF decryption; at least one Connect key or one KMS key ARN is required", parse: parseConnectKeyFiles},
	{name: "PROCESSOR_CONNECT_KEY_<n>_ID / _PEM", help: "a Connect Key ID and its private key PEM text, n = 1..4 (as ECS injects secrets)"},
	{name: "PROCESSOR_CONNECT_SUITES", def: "0x0378,0x0578", help: "algorithm suites accepted on the DTMF path", parse: parseSuites},
	{name: "PROCESSOR_KMS_KEY_ARNS", help: "comma-separated KMS key ARNs for Lex tokens; empty disables the KMS path", parse: func(c *Config, v string) error { c.KMSKeyARNs = list(v); return nil }},
	{name: "PROCESSOR_KMS_PURPOSE", def: "connect-secure-input", help: "required value of the encryption-context key \"purpose\"", parse: func(c *Config, v string) error { c.KMSPurpose = v; return nonEmpty(v) }},
	{name: "PROCESSOR_KMS_INTENTS", def: "CollectPayment", help: "comma-separated allowed values of the encryption-context key \"intent\"", parse: func(c *Config, v string) error { c.KMSIntents = list(v); return nonEmpty(v) }},
	{name: "PROCESSOR_KMS_TIMEOUT", def: "2s", help: "timeout of one KMS call attempt (duration)", parse: durationIn(func(c *Config) *time.Duration { return &c.KMSTimeout }, 100*time.Millisecond, 5*time.Second)},
	{name: "PROCESSOR_MAX_CIPHERTEXT_BYTES", def: "16384", help: "maximum decoded ciphertext size (bytes)", parse: intIn(func(c *Config) *int { return &c.MaxCiphertextBytes }, 256, 1<<20)},
	{name: "PROCESSOR_MAX_ENCRYPTED_DATA_KEYS", def: "3", help: "maximum encrypted data keys per message", parse: intIn(func(c *Config) *int { return &c.MaxEncryptedKeys }, 1, decrypt.MaxEncryptedDataKeysLimit)},
	{name: "PROCESSOR_MAX_BODY_BYTES", def: "65536", help: "maximum request body size (bytes)", parse: intIn(func(c *Config) *int { return &c.MaxBodyBytes }, 1024, 1<<20)},
	{name: "PROCESSOR_MAX_CONCURRENT", def: "128", help: "requests served at once before responding 503 overloaded", parse: intIn(func(c *Config) *int { return &c.MaxConcurrent }, 1, 10000)},
	{name: "PROCESSOR_MAX_AMOUNT", def: "1000000000", help: "maximum authorization amount (minor units)", parse: func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return errors.New("must be a positive integer")
		}
		c.MaxAmount = n
		return nil
	}},
	{name: "PROCESSOR_EXPIRY_MAX_YEARS", def: "20", help: "how many years ahead an expiry date may be", parse: intIn(func(c *Config) *int { return &c.ExpiryMaxYears }, 1, 50)},
	{name: "PROCESSOR_GATEWAY", def: "simulator", help: "card gateway: simulator or stripe", parse: oneOf(func(c *Config) *string { return &c.Gateway }, "simulator", "stripe")},
	{name: "PROCESSOR_SIMULATOR_LATENCY", def: "20ms", help: "simulator: delay of every response (duration)", parse: durationIn(func(c *Config) *time.Duration { return &c.SimulatorLatency }, 0, 10*time.Second)},
	{name: "PROCESSOR_SIMULATOR_SLOW_DELAY", def: "7s", help: "simulator: delay of the slow test card (duration)", parse: durationIn(func(c *Config) *time.Duration { return &c.SimulatorSlowDelay }, 0, time.Minute)},
	{name: "PROCESSOR_SIMULATOR_URL", help: "simulator: URL of a shared gateway-simulator server, http on a loopback address (TEST ONLY: card data travels in its request bodies); empty runs the simulator in the process, where PROCESSOR_SIMULATOR_LATENCY and _SLOW_DELAY apply", parse: func(c *Config, v string) error { c.SimulatorURL = v; return simhttp.CheckURL(v) }},
	{name: "PROCESSOR_STRIPE_API_KEY", secret: true, help: "Stripe secret API key (required with PROCESSOR_GATEWAY=stripe)", parse: func(c *Config, v string) error { c.StripeAPIKey = secret.Copy([]byte(v)); return nil }},
	{name: "PROCESSOR_STRIPE_URL", def: "https://api.stripe.com", help: "Stripe API base URL", parse: func(c *Config, v string) error { c.StripeURL = v; return httpURL(v) }},
	{name: "PROCESSOR_CAPTURE", def: "manual", help: "capture mode: manual (authorize only) or automatic", parse: oneOf(func(c *Config) *string { return &c.CaptureMode }, "manual", "automatic")},
	{name: "PROCESSOR_REQUEST_BUDGET", def: "6s", help: "time an authorization request may take before it returns pending (duration, under Connect's 8s)", parse: durationIn(func(c *Config) *time.Duration { return &c.RequestBudget }, 100*time.Millisecond, 7500*time.Millisecond)},
	{name: "PROCESSOR_SAD_TTL", def: "60s", help: "lifetime of card data in the vault; background authorizations end and unknown outcomes are voided at it (duration)", parse: durationIn(func(c *Config) *time.Duration { return &c.SADTTL }, time.Second, 10*time.Minute)},
	{name: "PROCESSOR_VAULT_MAX_ENTRIES", def: "10000", help: "maximum authorizations holding card data at once", parse: intIn(func(c *Config) *int { return &c.VaultMaxEntries }, 1, 1_000_000)},
	{name: "PROCESSOR_STORE", def: "memory", help: "authorization store: memory (one task) or postgres (two or more tasks)", parse: oneOf(func(c *Config) *string { return &c.Store }, "memory", "postgres")},
	{name: "PROCESSOR_DATABASE_URL", secret: true, help: "PostgreSQL URL (required with PROCESSOR_STORE=postgres)", parse: func(c *Config, v string) error { c.DatabaseURL = secret.Copy([]byte(v)); return nil }},
	{name: "PROCESSOR_RECORD_RETENTION", help: "age after which authorization records are deleted (duration; default 24h for memory, 9600h = 400 days for postgres)", parse: durationIn(func(c *Config) *time.Duration { return &c.RecordRetention }, time.Hour, 20*365*24*time.Hour)},
	{name: "PROCESSOR_LEASE_MARGIN", def: "30s", help: "time added to PROCESSOR_SAD_TTL to form a task's lease on an authorization; after it another task may recover the authorization (duration)", parse: durationIn(func(c *Config) *time.Duration { return &c.LeaseMargin }, time.Second, 10*time.Minute)},
	{name: "PROCESSOR_RECOVERY_INTERVAL", def: "15s", help: "how often each task looks for authorizations left in flight by a stopped task (duration)", parse: durationIn(func(c *Config) *time.Duration { return &c.RecoveryEvery }, 100*time.Millisecond, 10*time.Minute)},
	{name: "PROCESSOR_FINGERPRINT_KEY", secret: true, help: "hex key (32+ bytes) for card fingerprints and idempotency checks; tasks sharing a store must share it; default random per process", parse: func(c *Config, v string) error {
		key, err := hex.DecodeString(v)
		if err != nil || len(key) < 32 {
			return errors.New("must be at least 64 hex characters (32 bytes)")
		}
		c.FingerprintKey = secret.New(key)
		return nil
	}},
	{name: "PROCESSOR_TASK_ID", help: "id of this task in authorization leases; default the host name plus a random suffix", parse: func(c *Config, v string) error { c.TaskID = v; return nil }},
	{name: "PROCESSOR_DRAIN_TIMEOUT", def: "25s", help: "time in-flight requests get after SIGTERM (duration, under ECS's 30s stop timeout)", parse: durationIn(func(c *Config) *time.Duration { return &c.DrainTimeout }, time.Second, 2*time.Minute)},
	{name: "PROCESSOR_LOG_LEVEL", def: "info", help: "log level: debug, info, warn or error", parse: oneOf(func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error")},
	{name: "PROCESSOR_LOG_FORMAT", def: "json", help: "log format: json or console", parse: oneOf(func(c *Config) *string { return &c.LogFormat }, "json", "console")},
}

// Load reads every variable with getenv and the PROCESSOR_CONNECT_KEY_<n>_*
// pairs from environ, and returns all problems at once, each naming its
// variable and never its value.
func Load(getenv func(string) string, environ []string) (Config, error) {
	var c Config
	var errs []error
	for _, v := range variables {
		if v.parse == nil {
			continue
		}
		value := strings.TrimSpace(getenv(v.name))
		if value == "" {
			if v.required {
				errs = append(errs, fmt.Errorf("%s is required: %s", v.name, v.help))
				continue
			}
			if v.def == "" {
				continue
			}
			value = v.def
		}
		if err := v.parse(&c, value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.name, err))
		}
	}
	envKeys, err := connectKeysFromEnv(environ)
	errs = append(errs, err)
	c.ConnectKeys = append(c.ConnectKeys, envKeys...)
	errs = append(errs, c.crossCheck(getenv)...)
	if err := errors.Join(errs...); err != nil {
		for _, k := range c.ConnectKeys {
			k.PEM.Wipe()
		}
		return Config{}, err
	}
	if c.RecordRetention == 0 {
		c.RecordRetention = 24 * time.Hour
		if c.Store == "postgres" {
			c.RecordRetention = 400 * 24 * time.Hour
		}
	}
	if c.TaskID == "" {
		host, _ := os.Hostname()
		var suffix [4]byte
		_, _ = rand.Read(suffix[:])
		c.TaskID = fmt.Sprintf("%s-%x", host, suffix)
	}
	return c, nil
}

func (c *Config) crossCheck(getenv func(string) string) []error {
	var errs []error
	if c.Gateway == "stripe" && c.StripeAPIKey.Len() == 0 {
		errs = append(errs, errors.New("PROCESSOR_STRIPE_API_KEY is required with PROCESSOR_GATEWAY=stripe"))
	}
	if c.SimulatorURL != "" && c.Gateway != "simulator" {
		errs = append(errs, fmt.Errorf("PROCESSOR_SIMULATOR_URL is set, but PROCESSOR_GATEWAY is %q: unset the URL or use PROCESSOR_GATEWAY=simulator", c.Gateway))
	}
	if c.Store == "postgres" && c.DatabaseURL.Len() == 0 {
		errs = append(errs, errors.New("PROCESSOR_DATABASE_URL is required with PROCESSOR_STORE=postgres"))
	}
	if len(c.ConnectKeys) == 0 && len(c.KMSKeyARNs) == 0 {
		errs = append(errs, errors.New("no decryption keys: set PROCESSOR_CONNECT_KEYS, PROCESSOR_CONNECT_KEY_<n>_ID/_PEM or PROCESSOR_KMS_KEY_ARNS (at least one is required)"))
	}
	if len(c.ConnectKeys) > rsadtmf.MaxKeys {
		errs = append(errs, fmt.Errorf("PROCESSOR_CONNECT_KEYS and PROCESSOR_CONNECT_KEY_<n>_*: %d keys configured, at most %d are accepted", len(c.ConnectKeys), rsadtmf.MaxKeys))
	}
	if c.RequestBudget >= c.SADTTL && c.SADTTL > 0 {
		errs = append(errs, errors.New("PROCESSOR_SAD_TTL must be longer than PROCESSOR_REQUEST_BUDGET, so a background authorization can finish"))
	}
	return errs
}

// Summary returns the configuration for the start-up log: every variable
// with its effective value, secrets shown only as set or unset.
func (c *Config) Summary(getenv func(string) string) map[string]string {
	out := make(map[string]string, len(variables))
	for _, v := range variables {
		if v.parse == nil {
			continue
		}
		value := getenv(v.name)
		switch {
		case v.secret && value != "":
			value = "set"
		case v.secret:
			value = "unset"
		case value == "" && v.def == "":
			value = "(unset)"
		case value == "":
			value = v.def
		}
		out[v.name] = value
	}
	ids := make([]string, 0, len(c.ConnectKeys))
	for _, k := range c.ConnectKeys {
		ids = append(ids, k.KeyID)
	}
	out["connect_key_ids"] = strings.Join(ids, ",")
	return out
}

// Help returns the text of `processor --help`.
func Help() string {
	var b strings.Builder
	b.WriteString("Environment variables (defaults in brackets):\n\n")
	for _, v := range variables {
		def := ""
		switch {
		case v.required:
			def = " [required]"
		case v.def != "":
			def = " [" + v.def + "]"
		}
		fmt.Fprintf(&b, "  %s%s\n      %s\n", v.name, def, v.help)
	}
	b.WriteString("\nAWS settings come from the SDK's own variables (AWS_REGION, AWS_ENDPOINT_URL_KMS, credentials chain).\n")
	return b.String()
}

var connectKeyVar = regexp.MustCompile(`^PROCESSOR_CONNECT_KEY_([0-9]+)_(ID|PEM)$`)

// connectKeysFromEnv reads PROCESSOR_CONNECT_KEY_<n>_ID and _PEM pairs.
func connectKeysFromEnv(environ []string) ([]rsadtmf.KeySource, error) {
	ids := map[string]string{}
	pems := map[string]string{}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		m := connectKeyVar.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		if m[2] == "ID" {
			ids[m[1]] = strings.TrimSpace(value)
		} else {
			pems[m[1]] = value
		}
	}
	var errs []error
	indexes := make([]string, 0, len(ids)+len(pems))
	for n := range ids {
		indexes = append(indexes, n)
	}
	for n := range pems {
		if _, ok := ids[n]; !ok {
			indexes = append(indexes, n)
		}
	}
	sort.Slice(indexes, func(i, j int) bool { a, _ := strconv.Atoi(indexes[i]); b, _ := strconv.Atoi(indexes[j]); return a < b })
	var keys []rsadtmf.KeySource
	for _, n := range indexes {
		id, pem := ids[n], pems[n]
		switch {
		case id == "":
			errs = append(errs, fmt.Errorf("PROCESSOR_CONNECT_KEY_%s_PEM is set but PROCESSOR_CONNECT_KEY_%s_ID is missing", n, n))
		case pem == "":
			errs = append(errs, fmt.Errorf("PROCESSOR_CONNECT_KEY_%s_ID is set but PROCESSOR_CONNECT_KEY_%s_PEM is missing", n, n))
		default:
			keys = append(keys, rsadtmf.KeySource{KeyID: id, PEM: secret.Copy([]byte(pem)), Origin: "PROCESSOR_CONNECT_KEY_" + n + "_PEM"})
		}
	}
	return keys, errors.Join(errs...)
}

func parseConnectKeyFiles(c *Config, v string) error {
	var errs []error
	for _, entry := range list(v) {
		id, path, ok := strings.Cut(entry, "=")
		if !ok || id == "" || path == "" {
			errs = append(errs, fmt.Errorf("entry %q is not <Key ID>=<path>", entry))
			continue
		}
		pem, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("Key ID %s: read %s: %w", id, path, errors.Unwrap(err)))
			continue
		}
		c.ConnectKeys = append(c.ConnectKeys, rsadtmf.KeySource{KeyID: strings.TrimSpace(id), PEM: secret.New(pem), Origin: path})
	}
	return errors.Join(errs...)
}

func parseSuites(c *Config, v string) error {
	for _, text := range list(v) {
		s, err := decrypt.ParseSuite(text)
		if err != nil {
			return err
		}
		if !s.HasKeyDerivation() {
			return fmt.Errorf("algorithm suite %s has no key derivation and cannot be allowed", s)
		}
		c.ConnectSuites = append(c.ConnectSuites, s)
	}
	return nil
}

func list(v string) []string {
	var out []string
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func nonEmpty(v string) error {
	if len(list(v)) == 0 {
		return errors.New("must not be empty")
	}
	return nil
}

func addr(v string) error {
	i := strings.LastIndex(v, ":")
	if i < 0 {
		return fmt.Errorf("%q is not host:port", v)
	}
	port, err := strconv.Atoi(v[i+1:])
	if err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("%q has no valid port", v)
	}
	return nil
}

func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", path, errors.Unwrap(err))
	}
	return f.Close()
}

func httpURL(v string) error {
	if !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
		return fmt.Errorf("%q is not an http(s) URL", v)
	}
	return nil
}

func durationIn(field func(*Config) *time.Duration, lo, hi time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 500ms, 6s or 2m", v)
		}
		if d < lo || d > hi {
			return fmt.Errorf("%s is outside %s to %s", d, lo, hi)
		}
		*field(c) = d
		return nil
	}
}

func intIn(field func(*Config) *int, lo, hi int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d is outside %d to %d", n, lo, hi)
		}
		*field(c) = n
		return nil
	}
}

func oneOf(field func(*Config) *string, allowed ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		for _, a := range allowed {
			if v == a {
				*field(c) = v
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}
