package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/gateway/simulator/simhttp"
	"github.com/connect-secure-input/processor/internal/secret"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRunWritesURLAndServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urlReader, urlWriter := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, urlWriter, io.Discard)
		_ = urlWriter.Close()
	}()

	line, err := bufio.NewReader(urlReader).ReadString('\n')
	if err != nil {
		t.Fatalf("read URL from standard output: %v", err)
	}
	url := strings.TrimSpace(line)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want http://127.0.0.1:<port>", url)
	}

	client, err := simhttp.NewClient(url)
	if err != nil {
		t.Fatalf("NewClient(%q): %v", url, err)
	}
	defer client.CloseIdleConnections()
	result, err := client.Authorize(ctx, gateway.Request{
		Amount:         1050,
		Currency:       "USD",
		Card:           gateway.Card{PAN: secret.Copy([]byte("4242424242424242")), ExpiryMonth: 12, ExpiryYear: 2040},
		IdempotencyKey: "key-tool",
	})
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	if result.Status != gateway.StatusApproved {
		t.Errorf("status = %q, want %q", result.Status, gateway.StatusApproved)
	}
	stats, err := client.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if stats.Authorizations != 1 {
		t.Errorf("authorizations = %d, want 1", stats.Authorizations)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
}

func TestRunWritesURLFile(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "simulator.url")
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-url", path}, io.Discard, io.Discard) }()

	deadline := time.Now().Add(10 * time.Second)
	var content []byte
	for {
		var err error
		content, err = os.ReadFile(path)
		if err == nil || time.Now().After(deadline) {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run ended before writing %s: %v", path, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if !strings.HasPrefix(string(content), "http://127.0.0.1:") || !strings.HasSuffix(string(content), "\n") {
		t.Errorf("URL file = %q, want one line http://127.0.0.1:<port>", content)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"public address", []string{"-addr", "0.0.0.0:0"}, "loopback"},
		{"negative latency", []string{"-latency", "-1s"}, "negative"},
		{"positional argument", []string{"extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run(%q) error = %v, want one containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}
