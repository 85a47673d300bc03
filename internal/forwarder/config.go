package forwarder

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Environment variables. The CloudFormation template sets the URL, the
// timeout and the three secret ARNs; the _FILE and _PEM variants are for
// local runs and tests.
const (
	EnvProcessorURL = "FORWARDER_PROCESSOR_URL"
	EnvTimeout      = "FORWARDER_TIMEOUT"

	EnvClientCertSecretARN = "FORWARDER_CLIENT_CERT_SECRET_ARN"
	EnvClientCertFile      = "FORWARDER_CLIENT_CERT_FILE"
	EnvClientCertPEM       = "FORWARDER_CLIENT_CERT_PEM"

	EnvClientKeySecretARN = "FORWARDER_CLIENT_KEY_SECRET_ARN"
	EnvClientKeyFile      = "FORWARDER_CLIENT_KEY_FILE"
	EnvClientKeyPEM       = "FORWARDER_CLIENT_KEY_PEM"

	EnvServerCASecretARN = "FORWARDER_SERVER_CA_SECRET_ARN"
	EnvServerCAFile      = "FORWARDER_SERVER_CA_FILE"
	EnvServerCAPEM       = "FORWARDER_SERVER_CA_PEM"
)

// Bounds of FORWARDER_TIMEOUT. Amazon Connect waits at most 8 seconds for a
// Lambda, and the processor responds to an authorization within its
// 6-second budget (with pending when the gateway is slower). So 7 seconds
// lets that response arrive and still leaves time to return it.
const (
	DefaultTimeout = 7 * time.Second
	MinTimeout     = 100 * time.Millisecond
	MaxTimeout     = 7500 * time.Millisecond
)

// Config is the forwarder's configuration from the environment.
type Config struct {
	// ProcessorURL is the processor's https base URL.
	ProcessorURL *url.URL
	// Timeout bounds one call to the processor.
	Timeout time.Duration
	// ClientCert, ClientKey and ServerCA are the sources of each PEM.
	ClientCert, ClientKey, ServerCA Source
}

// Source is the origin of one piece of PEM material: exactly one of a
// Secrets Manager secret, a file, or the PEM text itself.
type Source struct {
	// Name is the material, as in messages: "client certificate".
	Name string
	// SecretARN is a Secrets Manager secret whose SecretString (or
	// SecretBinary) is the PEM.
	SecretARN string
	// File is a path to the PEM.
	File string
	// PEM is the PEM text.
	PEM []byte

	// variables names the three variables, for messages.
	variables [3]string
}

// UsesSecretsManager reports whether any material comes from Secrets
// Manager, so that the caller builds an AWS client only when it must.
func (c Config) UsesSecretsManager() bool {
	return c.ClientCert.SecretARN != "" || c.ClientKey.SecretARN != "" || c.ServerCA.SecretARN != ""
}

// LoadConfig reads the configuration with getenv (os.Getenv outside tests)
// and returns every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	var errs []error
	cfg := Config{Timeout: DefaultTimeout}

	processorURL, err := parseProcessorURL(getenv(EnvProcessorURL))
	if err != nil {
		errs = append(errs, err)
	}
	cfg.ProcessorURL = processorURL

	if raw := getenv(EnvTimeout); raw != "" {
		timeout, err := parseTimeout(raw)
		if err != nil {
			errs = append(errs, err)
		}
		cfg.Timeout = timeout
	}

	cfg.ClientCert, err = readSource(getenv, "client certificate", EnvClientCertSecretARN, EnvClientCertFile, EnvClientCertPEM)
	errs = append(errs, err)
	cfg.ClientKey, err = readSource(getenv, "client private key", EnvClientKeySecretARN, EnvClientKeyFile, EnvClientKeyPEM)
	errs = append(errs, err)
	cfg.ServerCA, err = readSource(getenv, "server CA certificate", EnvServerCASecretARN, EnvServerCAFile, EnvServerCAPEM)
	errs = append(errs, err)

	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("invalid forwarder configuration: %w", err)
	}
	return cfg, nil
}

func parseProcessorURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%s is missing: set the processor's base URL, such as https://processor.example.internal:8443", EnvProcessorURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s is not a URL: %w", EnvProcessorURL, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%s %q must be an https URL with a host, because the processor accepts only mutual TLS", EnvProcessorURL, raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s %q must not carry user information, a query or a fragment", EnvProcessorURL, raw)
	}
	return u, nil
}

func parseTimeout(raw string) (time.Duration, error) {
	timeout, err := time.ParseDuration(raw)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a duration such as 7s or 6500ms", EnvTimeout, raw)
	}
	if timeout < MinTimeout || timeout > MaxTimeout {
		return 0, fmt.Errorf("%s %s is out of range: use %s to %s, under the 8 s that Amazon Connect waits for a Lambda", EnvTimeout, timeout, MinTimeout, MaxTimeout)
	}
	return timeout, nil
}

// readSource reads the three variables of one piece of material, of which
// exactly one must be set.
func readSource(getenv func(string) string, name, arnVar, fileVar, pemVar string) (Source, error) {
	src := Source{
		Name:      name,
		SecretARN: getenv(arnVar),
		File:      getenv(fileVar),
		variables: [3]string{arnVar, fileVar, pemVar},
	}
	if pem := getenv(pemVar); pem != "" {
		src.PEM = []byte(pem)
	}

	set := 0
	for _, present := range []bool{src.SecretARN != "", src.File != "", len(src.PEM) > 0} {
		if present {
			set++
		}
	}
	switch set {
	case 0:
		return Source{}, fmt.Errorf("the %s is not configured: set %s, %s or %s", name, arnVar, fileVar, pemVar)
	case 1:
		return src, nil
	default:
		return Source{}, fmt.Errorf("the %s is configured more than once: set only one of %s, %s and %s", name, arnVar, fileVar, pemVar)
	}
}

// origin names the variable the material came from, for messages.
func (s Source) origin() string {
	switch {
	case s.SecretARN != "":
		return s.variables[0]
	case s.File != "":
		return s.variables[1]
	default:
		return s.variables[2]
	}
}
