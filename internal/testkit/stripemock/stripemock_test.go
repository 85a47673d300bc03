package stripemock_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/connect-secure-input/processor/internal/testkit/stripemock"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// client sends no keep-alive connections, so no transport goroutine outlives
// a test.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func get(t *testing.T, rawURL, apiKey string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	if apiKey != "" {
		req.SetBasicAuth(apiKey, "")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestStartServesStripeAPI(t *testing.T) {
	server := stripemock.Start(t)

	if !strings.HasPrefix(server.URL, "http://127.0.0.1:") {
		t.Errorf("URL = %q, want http://127.0.0.1:<port>", server.URL)
	}
	if status := get(t, server.URL+"/v1/payment_intents/pi_123", server.APIKey); status != http.StatusOK {
		t.Errorf("GET with the API key: HTTP %d, want 200", status)
	}
	if status := get(t, server.URL+"/v1/payment_intents/pi_123", ""); status != http.StatusUnauthorized {
		t.Errorf("GET without an API key: HTTP %d, want 401", status)
	}
}

func TestListenersOnLoopbackOnly(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("listener addresses are read from /proc, which %s does not have", runtime.GOOS)
	}
	server := stripemock.Start(t)

	listeners := listeningAddresses(t, server.PID)
	if len(listeners) != 2 {
		t.Errorf("stripe-mock listens on %d sockets %v, want 2 (HTTP and HTTPS)", len(listeners), listeners)
	}
	for _, address := range listeners {
		if address != "0100007F" {
			t.Errorf("stripe-mock listens on address %s (hex, as in /proc/net/tcp), want 0100007F (127.0.0.1)", address)
		}
	}
}

func TestStopsOnCleanup(t *testing.T) {
	var pid int
	t.Run("server", func(t *testing.T) {
		pid = stripemock.Start(t).PID
	})
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d after cleanup: kill(0) = %v, want ESRCH", pid, err)
	}
}

// helperEnv makes the test binary run TestHelperStartAndExit as a child
// process of TestServerDiesWithTestProcess.
const helperEnv = "STRIPEMOCK_TEST_HELPER"

func TestHelperStartAndExit(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("runs only as the child process of TestServerDiesWithTestProcess")
	}
	server := stripemock.Start(t)
	fmt.Printf("stripemock-pid=%d\n", server.PID)
	os.Exit(0) // skips t.Cleanup, as a crash or -timeout would
}

func TestServerDiesWithTestProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("the parent-death signal is Linux only, not %s", runtime.GOOS)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStartAndExit$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	output, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper process: %v", err)
	}
	_, pidText, found := strings.Cut(string(output), "stripemock-pid=")
	if !found {
		t.Fatal("helper process printed no stripe-mock pid")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(pidText, "\n", 2)[0]))
	if err != nil {
		t.Fatalf("parse the stripe-mock pid: %v", err)
	}

	deadline := time.Now().Add(10 * time.Second)
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for processRunning(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("stripe-mock %d still runs 10s after its test process exited", pid)
		}
		<-ticker.C
	}
}

// processRunning reports whether pid exists and is not a zombie waiting for
// its new parent to reap it.
func processRunning(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesized command name: "pid (comm) S ...".
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

func TestLogReceivesRequestBodies(t *testing.T) {
	server := stripemock.Start(t)
	const marker = "4000000000009995"

	form := url.Values{"type": {"card"}, "card[number]": {marker}, "card[exp_month]": {"12"}, "card[exp_year]": {"2030"}}
	req, err := http.NewRequest(http.MethodPost, server.URL+"/v1/payment_methods", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(server.APIKey, "")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/payment_methods: %v", err)
	}
	resp.Body.Close()

	// stripe-mock writes the card number to its log, which is why the log is
	// a file of its own. The check reads it without printing it.
	logged, err := os.ReadFile(server.LogPath)
	if err != nil {
		t.Fatalf("read the stripe-mock log: %v", err)
	}
	if !bytes.Contains(logged, []byte(marker)) {
		t.Error("stripe-mock log lacks the request body; if stripe-mock stopped logging bodies, this harness can relax")
	}
	if !strings.HasPrefix(server.LogPath, os.TempDir()) {
		t.Errorf("LogPath %q is not in the temporary directory", server.LogPath)
	}
}

func TestRecorderRecordsRequests(t *testing.T) {
	server := stripemock.Start(t)
	recorder := stripemock.NewRecorder(t, server.URL)

	form := url.Values{"amount": {"1050"}, "currency": {"usd"}, "metadata[contact_id]": {"contact-1"}}
	req, err := http.NewRequest(http.MethodPost, recorder.URL+"/v1/payment_intents?expand[]=latest_charge", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Idempotency-Key", "key-recorder")
	req.SetBasicAuth(server.APIKey, "")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST through the recorder: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST through the recorder: HTTP %d, want 200 from stripe-mock", resp.StatusCode)
	}

	requests := recorder.Requests()
	if len(requests) != 1 {
		t.Fatalf("recorded %d requests, want 1", len(requests))
	}
	got := requests[0]
	if got.Method != http.MethodPost || got.Path != "/v1/payment_intents" {
		t.Errorf("recorded %s %s, want POST /v1/payment_intents", got.Method, got.Path)
	}
	if key := got.Header.Get("Idempotency-Key"); key != "key-recorder" {
		t.Errorf("Idempotency-Key = %q, want key-recorder", key)
	}
	if value := got.Form.Get("metadata[contact_id]"); value != "contact-1" {
		t.Errorf("form metadata[contact_id] = %q, want contact-1", value)
	}
	if value := got.Query.Get("expand[]"); value != "latest_charge" {
		t.Errorf("query expand[] = %q, want latest_charge", value)
	}

	recorder.Reset()
	if n := len(recorder.Requests()); n != 0 {
		t.Errorf("after Reset, %d requests remain", n)
	}
}

func TestBinaryInstallFailureFailsTest(t *testing.T) {
	// A fresh GOPATH has no stripe-mock, and GOPROXY=off makes the install
	// fail without a network.
	gopath := t.TempDir()
	t.Setenv("GOPATH", gopath)
	t.Setenv("GOMODCACHE", filepath.Join(gopath, "pkg", "mod"))
	t.Setenv("GOPROXY", "off")
	t.Setenv(stripemock.BinaryEnv, "")

	recorder := &fatalRecorder{TB: t}
	runAsTest(func() { stripemock.Binary(recorder) })

	if !recorder.failed {
		t.Fatal("Binary did not fail the test when the install failed")
	}
	if !strings.Contains(recorder.message, "install github.com/stripe/stripe-mock@v0.203.0") {
		t.Errorf("failure message %q does not name the module and version", recorder.message)
	}
	if !strings.Contains(recorder.message, "GOPROXY=off") {
		t.Errorf("failure message %q does not carry the go command's reason", recorder.message)
	}
}

func TestBinaryFromEnvironment(t *testing.T) {
	t.Setenv(stripemock.BinaryEnv, filepath.Join(t.TempDir(), "missing-stripe-mock"))

	recorder := &fatalRecorder{TB: t}
	runAsTest(func() { stripemock.Binary(recorder) })

	if !recorder.failed {
		t.Fatal("Binary accepted a missing binary from the environment")
	}
	if !strings.Contains(recorder.message, stripemock.BinaryEnv) {
		t.Errorf("failure message %q does not name %s", recorder.message, stripemock.BinaryEnv)
	}
}

// fatalRecorder captures Fatalf so a test can check that the harness fails
// a test, and with which message.
type fatalRecorder struct {
	testing.TB
	failed  bool
	message string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.message = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// runAsTest runs fn in its own goroutine, as the testing package runs a
// test, so that Fatalf's runtime.Goexit ends fn only.
func runAsTest(fn func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fn()
	}()
	wg.Wait()
}

// listeningAddresses returns the hex local addresses of the TCP sockets in
// LISTEN state that process pid holds, read from /proc.
func listeningAddresses(t *testing.T, pid int) []string {
	t.Helper()
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		t.Fatalf("read %s: %v", fdDir, err)
	}
	inodes := map[string]bool{}
	for _, entry := range entries {
		link, err := os.Readlink(filepath.Join(fdDir, entry.Name()))
		if err != nil {
			continue
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}

	var addresses []string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		file, err := os.Open(table)
		if err != nil {
			continue // tcp6 is absent when IPv6 is off
		}
		scanner := bufio.NewScanner(file)
		for scanner.Scan() {
			fields := strings.Fields(scanner.Text())
			// Columns: sl local_address rem_address st ... inode (the 10th).
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue
			}
			address, _, _ := strings.Cut(fields[1], ":")
			addresses = append(addresses, address)
		}
		file.Close()
	}
	return addresses
}
