package main

import (
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

	"github.com/connect-secure-input/processor/internal/testkit/pki"
)

const (
	// clientURI is the identity of the load generator's client certificate,
	// the only one on the processor's allow-list.
	clientURI = "spiffe://bench.local/forwarder"
	// readyTimeout bounds the wait for /readyz after exec.
	readyTimeout = 30 * time.Second
	// readyPoll is the interval between /readyz checks while the processor
	// starts. It bounds the error of the measured start-up time.
	readyPoll = 2 * time.Millisecond
	// stopTimeout bounds the drain after SIGTERM before the process is killed.
	stopTimeout = 40 * time.Second
)

// connectKey is one entry of testdata/keys/connect-test-only-keys.json.
type connectKey struct {
	KeyID      string `json:"key_id"`
	Bits       int    `json:"bits"`
	PrivateKey string `json:"private_key"`
	PublicKey  string `json:"public_key"`
	Configured bool   `json:"configured"`
}

// setup is everything a processor start needs: its binary, certificates,
// keys and environment, and the client's TLS configuration.
type setup struct {
	dir       string
	binary    string
	env       []string
	clientTLS *tls.Config
	keys      []connectKey
	keysDir   string
}

// buildProcessor builds cmd/processor into dir the way the container image
// does: static, trimmed paths, and with fips set, Go's FIPS 140-3 module
// compiled in with fips140=on as the default.
func buildProcessor(ctx context.Context, root, dir string, fips bool) (string, error) {
	binary := filepath.Join(dir, "processor")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", binary, "./cmd/processor")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if fips {
		cmd.Env = append(cmd.Env, "GOFIPS140=v1.0.0")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/processor failed: %w\n%s", err, out)
	}
	return binary, nil
}

// newSetup makes a throw-away CA, a server certificate for 127.0.0.1 and a
// client certificate, and configures the processor with the committed
// test-only Connect keys, no KMS keys and the simulator gateway.
func newSetup(root, dir, binary string, simulatorLatency time.Duration) (*setup, error) {
	s := &setup{dir: dir, binary: binary, keysDir: filepath.Join(root, "testdata", "keys")}
	data, err := os.ReadFile(filepath.Join(s.keysDir, "connect-test-only-keys.json"))
	if err != nil {
		return nil, err
	}
	var index struct {
		Keys []connectKey `json:"keys"`
	}
	if err := json.Unmarshal(data, &index); err != nil {
		return nil, fmt.Errorf("invalid key index in %s: %w", s.keysDir, err)
	}
	var keyList []string
	for _, k := range index.Keys {
		if k.Configured {
			s.keys = append(s.keys, k)
			keyList = append(keyList, k.KeyID+"="+filepath.Join(s.keysDir, k.PrivateKey))
		}
	}

	ca, err := pki.GenerateCA(pki.CAOptions{CommonName: "processor load-test CA"})
	if err != nil {
		return nil, err
	}
	server, err := ca.IssueCert(pki.ServerOptions())
	if err != nil {
		return nil, err
	}
	clientOpts := pki.ClientOptions("load-generator")
	clientOpts.URIs = []string{clientURI}
	client, err := ca.IssueCert(clientOpts)
	if err != nil {
		return nil, err
	}
	serverFiles, err := server.WriteFiles(dir, "server")
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, "client-ca.pem")
	if err := pki.WriteBundle(caFile, ca); err != nil {
		return nil, err
	}
	s.clientTLS = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      ca.CertPool(),
		Certificates: []tls.Certificate{client.TLSCertificate()},
	}
	s.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"PROCESSOR_TLS_CERT_FILE=" + serverFiles.CertFile,
		"PROCESSOR_TLS_KEY_FILE=" + serverFiles.KeyFile,
		"PROCESSOR_CLIENT_CA_FILE=" + caFile,
		"PROCESSOR_ALLOWED_CLIENTS=uri:" + clientURI,
		"PROCESSOR_CONNECT_KEYS=" + strings.Join(keyList, ","),
		"PROCESSOR_GATEWAY=simulator",
		"PROCESSOR_SIMULATOR_LATENCY=" + simulatorLatency.String(),
		"PROCESSOR_STORE=memory",
		"PROCESSOR_TASK_ID=bench-load",
		// The KMS path stays off, so no AWS client is built; these keep any
		// SDK code that runs anyway away from real credentials and IMDS.
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "no-aws-credentials"),
	}
	return s, nil
}

// processor is one running processor process.
type processor struct {
	cmd     *exec.Cmd
	pid     int
	apiURL  string
	opsURL  string
	logPath string
	done    chan error
	// readyAfter is the time from exec to the first /readyz 200.
	readyAfter time.Duration
}

// start execs the processor with extra environment variables, waits for
// /readyz to answer 200 and records how long that took.
func (s *setup) start(ctx context.Context, name string, extraEnv ...string) (*processor, error) {
	apiAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	opsAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	p := &processor{
		apiURL:  "https://" + apiAddr,
		opsURL:  "http://" + opsAddr,
		logPath: filepath.Join(s.dir, name+".log"),
		done:    make(chan error, 1),
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(s.binary)
	p.cmd.Env = append(append(append([]string{}, s.env...),
		"PROCESSOR_LISTEN_ADDR="+apiAddr,
		"PROCESSOR_OPS_ADDR="+opsAddr,
	), extraEnv...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile

	// A fresh transport per start, so no connection from a previous process
	// is reused; the /readyz poll itself reuses one connection.
	ops := &http.Client{Timeout: time.Second, Transport: &http.Transport{}}
	defer ops.CloseIdleConnections()
	began := time.Now()
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", s.binary, err)
	}
	p.pid = p.cmd.Process.Pid
	go func() {
		p.done <- p.cmd.Wait()
		logFile.Close()
	}()

	deadline := began.Add(readyTimeout)
	for {
		if ready(ops, p.opsURL) {
			p.readyAfter = time.Since(began)
			return p, nil
		}
		select {
		case err := <-p.done:
			p.done <- err
			return nil, fmt.Errorf("processor exited before it was ready (%v); log %s:\n%s", err, p.logPath, tail(p.logPath, 10))
		case <-ctx.Done():
			_ = p.stop()
			return nil, ctx.Err()
		case <-time.After(readyPoll):
		}
		if time.Now().After(deadline) {
			_ = p.stop()
			return nil, fmt.Errorf("processor not ready within %s; log %s:\n%s", readyTimeout, p.logPath, tail(p.logPath, 10))
		}
	}
}

func ready(client *http.Client, opsURL string) bool {
	resp, err := client.Get(opsURL + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop sends SIGTERM, waits for the drain and kills the process after
// stopTimeout. It returns the exit error of an unclean exit.
func (p *processor) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("processor %d did not exit within %s of SIGTERM and was killed", p.pid, stopTimeout)
	}
}

// freeLoopbackAddr asks the kernel for a free port on 127.0.0.1.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// tail returns the last n lines of a log file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
