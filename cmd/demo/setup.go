package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/connect-secure-input/processor/internal/testkit/connectcrypt"
	"github.com/connect-secure-input/processor/internal/testkit/pki"
)

// Demo timing: a short budget and card-data TTL so that the pending and
// void steps finish in seconds rather than the production 6 s and 60 s.
const (
	demoBudget   = "2s"
	demoSADTTL   = "6s"
	readyTimeout = 30 * time.Second
	stopTimeout  = 30 * time.Second
	clientURI    = "spiffe://demo.local/forwarder"
)

// kmsInfo is the file that tools/local-kms-serve writes once it listens.
type kmsInfo struct {
	Endpoint        string `json:"endpoint"`
	Region          string `json:"region"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	Keys            struct {
		Payment string `json:"payment"`
	} `json:"keys"`
}

// environment is everything the demo started, and how to reach it.
type environment struct {
	dir        string
	client     *http.Client
	apiURL     string
	opsURL     string
	connectKey connectcrypt.PublicKey
	kms        kmsInfo
	kmsClient  *kms.Client

	processor     *exec.Cmd
	processorDone chan error
	processorLog  string
	kmsServer     *exec.Cmd

	// captured holds every response body and the metrics text, for the
	// leak scan at the end.
	captured bytes.Buffer
	canaries []string
}

func setUp(ctx context.Context, p *printer) (*environment, error) {
	p.section("Setting up")
	dir, err := os.MkdirTemp("", "processor-demo-")
	if err != nil {
		return nil, err
	}
	env := &environment{dir: dir, processorLog: filepath.Join(dir, "processor.log")}

	start := time.Now()
	tlsEnv, err := env.makePKI()
	if err != nil {
		return env, fmt.Errorf("make the development PKI: %w", err)
	}
	p.step("development PKI: CA, server certificate (127.0.0.1), forwarder client certificate", time.Since(start))

	start = time.Now()
	keyPair, err := connectcrypt.GenerateKeyPair(2048)
	if err != nil {
		return env, err
	}
	keyPath, _, err := keyPair.WriteFiles(dir)
	if err != nil {
		return env, err
	}
	env.connectKey = keyPair.PublicKey()
	p.step("Amazon Connect RSA-2048 key pair, Key ID "+keyPair.KeyID, time.Since(start))

	start = time.Now()
	if err := env.build(ctx); err != nil {
		return env, err
	}
	p.step("built the processor and local-kms binaries", time.Since(start))

	start = time.Now()
	if err := env.startKMS(ctx); err != nil {
		return env, fmt.Errorf("start local-kms: %w", err)
	}
	p.step("local-kms on "+env.kms.Endpoint+", seeded with the payments key", time.Since(start))

	start = time.Now()
	if err := env.startProcessor(ctx, tlsEnv, keyPair.KeyID+"="+keyPath); err != nil {
		return env, fmt.Errorf("start the processor: %w", err)
	}
	p.step("processor ready: API (mTLS) "+env.apiURL+", ops "+env.opsURL, time.Since(start))
	p.detail("gateway: simulator; store: memory; request budget %s; card-data TTL %s; logs: debug level", demoBudget, demoSADTTL)
	return env, nil
}

// makePKI writes the CA, server and client certificates and builds the
// forwarder's mTLS client. It returns the processor's TLS variables.
func (env *environment) makePKI() ([]string, error) {
	ca, err := pki.GenerateCA(pki.CAOptions{CommonName: "processor demo development CA"})
	if err != nil {
		return nil, err
	}
	server, err := ca.IssueCert(pki.ServerOptions())
	if err != nil {
		return nil, err
	}
	clientOpts := pki.ClientOptions("forwarder")
	clientOpts.URIs = []string{clientURI}
	client, err := ca.IssueCert(clientOpts)
	if err != nil {
		return nil, err
	}
	serverFiles, err := server.WriteFiles(env.dir, "server")
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(env.dir, "client-ca.pem")
	if err := pki.WriteBundle(caFile, ca); err != nil {
		return nil, err
	}
	env.client = &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			RootCAs:      ca.CertPool(),
			Certificates: []tls.Certificate{client.TLSCertificate()},
		}},
	}
	return []string{
		"PROCESSOR_TLS_CERT_FILE=" + serverFiles.CertFile,
		"PROCESSOR_TLS_KEY_FILE=" + serverFiles.KeyFile,
		"PROCESSOR_CLIENT_CA_FILE=" + caFile,
		"PROCESSOR_ALLOWED_CLIENTS=uri:" + clientURI,
	}, nil
}

func (env *environment) build(ctx context.Context) error {
	for _, pkg := range []string{"./cmd/processor", "./tools/local-kms-serve"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", env.dir, pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	}
	return nil
}

func (env *environment) startKMS(ctx context.Context) error {
	infoPath := filepath.Join(env.dir, "local-kms.json")
	logFile, err := os.Create(filepath.Join(env.dir, "local-kms.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	env.kmsServer = exec.Command(filepath.Join(env.dir, "local-kms-serve"), "-addr", "127.0.0.1:0", "-info", infoPath)
	env.kmsServer.Stdout, env.kmsServer.Stderr = logFile, logFile
	if err := env.kmsServer.Start(); err != nil {
		return err
	}
	if err := waitFor(ctx, readyTimeout, func() bool {
		data, err := os.ReadFile(infoPath)
		return err == nil && json.Unmarshal(data, &env.kms) == nil && env.kms.Endpoint != ""
	}); err != nil {
		return fmt.Errorf("local-kms wrote no endpoint: %w", err)
	}
	env.kmsClient = kms.New(kms.Options{
		Region:       env.kms.Region,
		BaseEndpoint: aws.String(env.kms.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(env.kms.AccessKeyID, env.kms.SecretAccessKey, ""),
	})
	return nil
}

func (env *environment) startProcessor(ctx context.Context, tlsEnv []string, connectKeys string) error {
	apiAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	opsAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	env.apiURL, env.opsURL = "https://"+apiAddr, "http://"+opsAddr
	logFile, err := os.Create(env.processorLog)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(env.dir, "processor"))
	cmd.Env = append(tlsEnv,
		"PATH="+os.Getenv("PATH"),
		"PROCESSOR_LISTEN_ADDR="+apiAddr,
		"PROCESSOR_OPS_ADDR="+opsAddr,
		"PROCESSOR_CONNECT_KEYS="+connectKeys,
		"PROCESSOR_KMS_KEY_ARNS="+env.kms.Keys.Payment,
		"PROCESSOR_REQUEST_BUDGET="+demoBudget,
		"PROCESSOR_SAD_TTL="+demoSADTTL,
		"PROCESSOR_LOG_LEVEL=debug",
		// The container image runs with the FIPS 140-3 module on; so does the demo.
		"GODEBUG=fips140=on",
		"AWS_ENDPOINT_URL_KMS="+env.kms.Endpoint,
		"AWS_REGION="+env.kms.Region,
		"AWS_ACCESS_KEY_ID="+env.kms.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+env.kms.SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(env.dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(env.dir, "no-aws-credentials"),
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	env.processor = cmd
	env.processorDone = make(chan error, 1)
	go func() {
		env.processorDone <- cmd.Wait()
		logFile.Close()
	}()

	ops := &http.Client{Timeout: time.Second}
	return waitFor(ctx, readyTimeout, func() bool {
		select {
		case err := <-env.processorDone:
			env.processorDone <- err
			return true
		default:
		}
		resp, err := ops.Get(env.opsURL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, env.processorExited)
}

// processorExited turns an early exit into an error that shows the log tail.
func (env *environment) processorExited() error {
	select {
	case err := <-env.processorDone:
		env.processorDone <- err
		data, _ := os.ReadFile(env.processorLog)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		return fmt.Errorf("the processor exited (%v); last log lines:\n%s", err, strings.Join(lines[max(0, len(lines)-5):], "\n"))
	default:
		return nil
	}
}

// stopProcessor sends SIGTERM and waits for a clean exit within stopTimeout.
func (env *environment) stopProcessor(p *printer) error {
	if env.processor == nil || env.processor.Process == nil {
		return nil
	}
	p.section("Stopping")
	start := time.Now()
	_ = env.processor.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-env.processorDone:
		env.processor = nil
		if err != nil {
			return fmt.Errorf("the processor did not exit cleanly after SIGTERM: %w", err)
		}
		p.step("processor drained and exited 0 after SIGTERM (vault wiped)", time.Since(start))
	case <-time.After(stopTimeout):
		_ = env.processor.Process.Kill()
		return errors.New("the processor did not exit within 30 s of SIGTERM")
	}
	return nil
}

func (env *environment) cleanUp() {
	if env.processor != nil && env.processor.Process != nil {
		_ = env.processor.Process.Kill()
		<-env.processorDone
	}
	if env.kmsServer != nil && env.kmsServer.Process != nil {
		_ = env.kmsServer.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = env.kmsServer.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = env.kmsServer.Process.Kill()
		}
	}
	if os.Getenv("DEMO_KEEP_FILES") != "" {
		fmt.Printf("\nDEMO_KEEP_FILES is set: the run's files (logs, throw-away keys) stay in %s\n", env.dir)
		return
	}
	_ = os.RemoveAll(env.dir)
}

// freeLoopbackAddr returns a free port on 127.0.0.1 chosen by the kernel.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitFor polls cond until it holds, ctx ends or timeout passes. Each check
// may return early with an error.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool, checks ...func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		for _, check := range checks {
			if err := check(); err != nil {
				return err
			}
		}
		if cond() {
			for _, check := range checks {
				if err := check(); err != nil {
					return err
				}
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
