package stripegw

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v82"

	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/secret"
	"github.com/connect-secure-input/processor/internal/testkit/stripemock"
)

const stdioPAN = "4000000000000127"

// captureStdio runs fn with os.Stdout and os.Stderr sent to a pipe and
// returns what was written. The tests that use it do not run in parallel,
// because the streams are process-wide.
func captureStdio(t *testing.T, fn func()) []byte {
	t.Helper()
	reader, writer, err := os.Pipe()
	if err != nil {
		t.Fatalf("os.Pipe: %v", err)
	}
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = writer, writer

	// Buffered, so the reader goroutine ends even if fn stops the test.
	captured := make(chan []byte, 1)
	go func() {
		var buf bytes.Buffer
		_, _ = io.Copy(&buf, reader)
		reader.Close()
		captured <- buf.Bytes()
	}()
	func() {
		defer func() {
			os.Stdout, os.Stderr = stdout, stderr
			writer.Close()
		}()
		fn()
	}()
	output := <-captured
	return output
}

// runCalls makes a successful authorization, one rejected for its API key,
// and a lookup, against stripe-mock.
func runCalls(t *testing.T, baseURL string, libraryLogger stripe.LeveledLoggerInterface) {
	t.Helper()
	for _, apiKey := range []string{stripemock.APIKey, "not-a-stripe-key"} {
		adapter, err := New(Config{APIKey: apiKey, BaseURL: baseURL, libraryLogger: libraryLogger})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		req := gateway.Request{
			Amount:         1050,
			Currency:       "USD",
			Card:           gateway.Card{PAN: secret.Copy([]byte(stdioPAN)), ExpiryMonth: 12, ExpiryYear: 2030, CVV: secret.Copy([]byte("734"))},
			IdempotencyKey: "key-stdio",
			MOTO:           true,
		}
		_, _ = adapter.Authorize(context.Background(), req)
		_, _ = adapter.Lookup(context.Background(), "key-stdio-unknown")
		adapter.CloseIdleConnections()
	}
}

func TestStripeLibraryPrintsNothing(t *testing.T) {
	server := stripemock.Start(t)

	output := captureStdio(t, func() { runCalls(t, server.URL, nil) })
	if len(output) != 0 {
		// The output may hold card data, so only its size is reported.
		t.Errorf("stripe-go printed %d bytes to stdout or stderr, want none", len(output))
	}
}

// TestStripeLibraryDebugLoggerPrints shows that the capture above works and
// why the adapter discards stripe-go's logger: at debug level stripe-go
// prints every response body, and at error level Stripe's error objects.
func TestStripeLibraryDebugLoggerPrints(t *testing.T) {
	server := stripemock.Start(t)

	output := captureStdio(t, func() {
		runCalls(t, server.URL, &stripe.LeveledLogger{Level: stripe.LevelDebug})
	})
	if !strings.Contains(string(output), "Response: {") {
		t.Error("stripe-go's debug logger printed no response body; the capture may be broken")
	}
	if !strings.Contains(string(output), "Request error from Stripe (status 401)") {
		t.Error("stripe-go's logger printed no Stripe error object")
	}
}
