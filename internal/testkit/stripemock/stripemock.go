// Package stripemock runs stripe-mock, Stripe's mock API server, for tests
// of code that calls the Stripe API.
//
// Start installs the pinned stripe-mock with `go install` on first use,
// starts it with both listeners on 127.0.0.1, waits until it responds and
// stops it when the test ends. stripe-mock logs every request body, card
// numbers included, so its output goes to a file in the test's temporary
// directory and never to the test output.
package stripemock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// Module and Version pin the stripe-mock release the tests run against.
	Module  = "github.com/stripe/stripe-mock"
	Version = "v0.203.0"

	// BinaryEnv names an environment variable that may point at a
	// stripe-mock binary of Version, which Start then uses without
	// installing.
	BinaryEnv = "STRIPE_MOCK_BIN"

	// APIKey is a test-mode secret key. stripe-mock accepts any key that
	// looks like one and rejects the rest with HTTP 401.
	APIKey = "sk_test_stripemock"
)

// Timeouts of the harness. They bound a broken install or start, not the
// usual case: installing from the module cache and starting take a few
// seconds.
const (
	installTimeout = 5 * time.Minute
	startTimeout   = 30 * time.Second
	stopTimeout    = 10 * time.Second
	startAttempts  = 3
)

// Server is a running stripe-mock.
type Server struct {
	// URL is the base URL of its HTTP listener, such as
	// http://127.0.0.1:41234, for the Stripe client's base URL.
	URL string
	// APIKey is a key that stripe-mock accepts.
	APIKey string
	// LogPath is the file that receives stripe-mock's stdout and stderr.
	// NOTE: it contains request bodies with card numbers; never print it.
	LogPath string
	// PID is the process id, for tests that inspect the process.
	PID int
}

// Start installs stripe-mock if needed, starts it on loopback and registers
// its stop with t.Cleanup. It fails the test with the reason when the
// install or the start fails; it never skips.
func Start(t testing.TB) *Server {
	t.Helper()
	binary := Binary(t)

	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		server, err := start(t, binary, attempt)
		if err == nil {
			return server
		}
		// The free port may have been taken between choosing and binding it,
		// so a failed start is tried again on another port.
		lastErr = err
	}
	t.Fatalf("stripemock: start stripe-mock %s failed %d times: %v", Version, startAttempts, lastErr)
	return nil
}

var installs sync.Map // binary path -> *installResult

type installResult struct {
	once sync.Once
	err  error
}

// Binary returns the path of the stripe-mock binary of Version, installing it
// into $(go env GOPATH)/bin as stripe-mock-<Version> on first use. The
// versioned file name keeps an older or newer stripe-mock from being used.
func Binary(t testing.TB) string {
	t.Helper()
	if path := os.Getenv(BinaryEnv); path != "" {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("stripemock: %s=%q: %v", BinaryEnv, path, err)
		}
		return path
	}

	binDir, err := goBinDir()
	if err != nil {
		t.Fatalf("stripemock: find the Go bin directory: %v", err)
	}
	path := filepath.Join(binDir, "stripe-mock-"+Version)

	value, _ := installs.LoadOrStore(path, &installResult{})
	result := value.(*installResult)
	result.once.Do(func() {
		if _, statErr := os.Stat(path); statErr == nil {
			return
		}
		result.err = install(binDir, path)
	})
	if result.err != nil {
		t.Fatalf("stripemock: install %s@%s: %v", Module, Version, result.err)
	}
	return path
}

// install runs `go install` into a temporary directory next to path and
// renames the binary into place. The rename is atomic, so test binaries of
// several packages that install at the same time never run a half-written
// file.
func install(binDir, path string) error {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	tempDir, err := os.MkdirTemp(binDir, ".stripe-mock-install-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tempDir)

	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", Module+"@"+Version)
	// Outside any module, so the repository's go.mod cannot change what is
	// built.
	cmd.Dir = tempDir
	cmd.Env = append(os.Environ(), "GOBIN="+tempDir, "GOFLAGS=-buildvcs=false", "GOWORK=off")
	output, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(output))
	}
	return os.Rename(filepath.Join(tempDir, "stripe-mock"), path)
}

func goBinDir() (string, error) {
	output, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOPATH: %w", err)
	}
	gopath, _, _ := strings.Cut(strings.TrimSpace(string(output)), string(os.PathListSeparator))
	if gopath == "" {
		return "", errors.New("go env GOPATH is empty")
	}
	return filepath.Join(gopath, "bin"), nil
}

func start(t testing.TB, binary string, attempt int) (*Server, error) {
	t.Helper()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(t.TempDir(), fmt.Sprintf("stripe-mock-%d.log", attempt))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor

	httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// -https-addr keeps the HTTPS listener on loopback too: without it
	// stripe-mock v0.203.0 listens for HTTPS on [::]:12112, all interfaces.
	// Port 0 lets the kernel choose.
	cmd := exec.Command(binary, "-http-addr", httpAddr, "-https-addr", "127.0.0.1:0")
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	bindToParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	server := &Server{URL: "http://" + httpAddr, APIKey: APIKey, LogPath: logPath, PID: cmd.Process.Pid}
	if err := waitReady(server.URL, exited); err != nil {
		stop()
		return nil, fmt.Errorf("%w; stripe-mock output: %s", err, startupOutput(logPath))
	}
	t.Cleanup(stop)
	return server, nil
}

// waitReady polls the server until it responds to an authenticated request,
// the process exits, or startTimeout passes.
func waitReady(baseURL string, exited <-chan error) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(startTimeout)
	ticker := time.NewTicker(25 * time.Millisecond)
	defer ticker.Stop()
	for {
		req, err := http.NewRequest(http.MethodGet, baseURL+"/v1/payment_intents/pi_ready", nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth(APIKey, "")
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			return fmt.Errorf("readiness probe returned HTTP %d", resp.StatusCode)
		}

		select {
		case waitErr := <-exited:
			return fmt.Errorf("stripe-mock exited before it responded: %v", waitErr)
		case <-ticker.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stripe-mock did not respond within %v: %w", startTimeout, err)
		}
	}
}

// startupOutput returns the end of the log of a server that failed to start.
// It is safe to show because the only request it served was the readiness
// probe, which carries no card data.
func startupOutput(logPath string) string {
	output, err := os.ReadFile(logPath)
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	const maxBytes = 2048
	if len(output) > maxBytes {
		output = output[len(output)-maxBytes:]
	}
	return string(bytes.TrimSpace(output))
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port, nil
}
