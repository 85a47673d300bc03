package simhttp_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/gateway/simulator"
	"github.com/connect-secure-input/processor/internal/gateway/simulator/simhttp"
	"github.com/connect-secure-input/processor/internal/secret"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testNow is the simulators' clock, so expiry rules do not depend on the
// day the tests run.
var testNow = time.Date(2026, time.June, 15, 12, 0, 0, 0, time.UTC)

// Test cards from the simulator's card table.
const (
	approvedPAN     = "4242424242424242"
	declinedPAN     = "4000000000009995" // insufficient_funds
	neverRespondPAN = "4000000000008005"
	slowPAN         = "4000000000008013"
)

func newSimulator(t *testing.T, cfg simulator.Config) *simulator.Simulator {
	t.Helper()
	cfg.Now = func() time.Time { return testNow }
	sim, err := simulator.New(cfg)
	if err != nil {
		t.Fatalf("simulator.New: %v", err)
	}
	return sim
}

// startServer serves a new simulator on loopback and returns the server
// and a client of it, both closed at the end of the test.
func startServer(t *testing.T, cfg simulator.Config) (*simhttp.Server, *simhttp.Client) {
	t.Helper()
	server, err := simhttp.Serve("127.0.0.1:0", newSimulator(t, cfg))
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	t.Cleanup(func() {
		if err := server.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	client, err := simhttp.NewClient(server.URL)
	if err != nil {
		t.Fatalf("NewClient(%q): %v", server.URL, err)
	}
	t.Cleanup(client.CloseIdleConnections)
	return server, client
}

func request(key, pan string, amount int64) gateway.Request {
	return gateway.Request{
		Amount:   amount,
		Currency: "USD",
		Card: gateway.Card{
			PAN:         secret.Copy([]byte(pan)),
			ExpiryMonth: 12,
			ExpiryYear:  2030,
			CVV:         secret.Copy([]byte("123")),
		},
		IdempotencyKey:    key,
		ContactID:         "6a1c4b5e-0d3f-4c1e-9a7b-2f8e5d6c7b8a",
		MerchantReference: "order-1001",
		MOTO:              true,
	}
}

func stats(t *testing.T, client *simhttp.Client) simhttp.Stats {
	t.Helper()
	got, err := client.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return got
}

// assertSameError fails unless got carries the same gateway error fields as
// want, the in-process simulator's error.
func assertSameError(t *testing.T, got, want error) {
	t.Helper()
	var gotErr, wantErr *gateway.Error
	if !errors.As(want, &wantErr) {
		t.Fatalf("in-process error = %v (%T), want *gateway.Error", want, want)
	}
	if !errors.As(got, &gotErr) {
		t.Fatalf("HTTP error = %v (%T), want *gateway.Error", got, got)
	}

	if gotErr.Gateway != wantErr.Gateway {
		t.Errorf("Gateway = %q, want %q", gotErr.Gateway, wantErr.Gateway)
	}
	if gotErr.Op != wantErr.Op {
		t.Errorf("Op = %q, want %q", gotErr.Op, wantErr.Op)
	}
	if gotErr.Code != wantErr.Code {
		t.Errorf("Code = %q, want %q", gotErr.Code, wantErr.Code)
	}
	if gotErr.Retryable != wantErr.Retryable {
		t.Errorf("Retryable = %v, want %v", gotErr.Retryable, wantErr.Retryable)
	}
	if gotErr.OutcomeUnknown != wantErr.OutcomeUnknown {
		t.Errorf("OutcomeUnknown = %v, want %v", gotErr.OutcomeUnknown, wantErr.OutcomeUnknown)
	}
	if gotErr.HTTPStatus != wantErr.HTTPStatus {
		t.Errorf("HTTPStatus = %d, want %d", gotErr.HTTPStatus, wantErr.HTTPStatus)
	}
	if gotErr.Detail != wantErr.Detail {
		t.Errorf("Detail = %q, want %q", gotErr.Detail, wantErr.Detail)
	}
	if errors.Is(got, gateway.ErrNotFound) != errors.Is(want, gateway.ErrNotFound) {
		t.Errorf("errors.Is(ErrNotFound) = %v, want %v", errors.Is(got, gateway.ErrNotFound), errors.Is(want, gateway.ErrNotFound))
	}
}

func assertGatewayError(t *testing.T, err error, code gateway.ErrorCode, retryable, outcomeUnknown bool) {
	t.Helper()
	var gwErr *gateway.Error
	if !errors.As(err, &gwErr) {
		t.Fatalf("error = %v (%T), want *gateway.Error", err, err)
	}
	if gwErr.Gateway != simulator.Name {
		t.Errorf("Gateway = %q, want %q", gwErr.Gateway, simulator.Name)
	}
	if gwErr.Code != code {
		t.Errorf("Code = %q, want %q (error: %v)", gwErr.Code, code, err)
	}
	if gwErr.Retryable != retryable {
		t.Errorf("Retryable = %v, want %v", gwErr.Retryable, retryable)
	}
	if gwErr.OutcomeUnknown != outcomeUnknown {
		t.Errorf("OutcomeUnknown = %v, want %v", gwErr.OutcomeUnknown, outcomeUnknown)
	}
}

func TestAuthorizeMatchesInProcess(t *testing.T) {
	tests := []struct {
		name   string
		pan    string
		amount int64
	}{
		{"approved card", approvedPAN, 1050},
		{"declined card", declinedPAN, 1050},
		{"Luhn failure", "4242424242424241", 1050},
		{"unavailable amount", approvedPAN, 9901},
		{"lost response amount", approvedPAN, 9902},
		{"PAN too short", "42424242", 1050},
		{"amount not positive", approvedPAN, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, client := startServer(t, simulator.Config{})
			inProcess := newSimulator(t, simulator.Config{})
			ctx := context.Background()

			want, wantErr := inProcess.Authorize(ctx, request("key-1", tt.pan, tt.amount))
			got, err := client.Authorize(ctx, request("key-1", tt.pan, tt.amount))
			if wantErr != nil {
				assertSameError(t, err, wantErr)
			} else if err != nil {
				t.Fatalf("Authorize over HTTP: %v, want the in-process result %+v", err, want)
			}
			if got != want {
				t.Errorf("result = %+v, want the in-process %+v", got, want)
			}
			if got, want := stats(t, client).Authorizations, inProcess.Authorizations(); got != want {
				t.Errorf("server authorizations = %d, want %d as in-process", got, want)
			}
		})
	}
}

func TestAuthorizeRepeatAndConflict(t *testing.T) {
	_, client := startServer(t, simulator.Config{})
	ctx := context.Background()

	first, err := client.Authorize(ctx, request("key-repeat", approvedPAN, 1050))
	if err != nil {
		t.Fatalf("first Authorize: %v", err)
	}
	repeat, err := client.Authorize(ctx, request("key-repeat", approvedPAN, 1050))
	if err != nil {
		t.Fatalf("repeat Authorize: %v", err)
	}
	if repeat != first {
		t.Errorf("repeat = %+v, want the first result %+v", repeat, first)
	}

	_, err = client.Authorize(ctx, request("key-repeat", approvedPAN, 2000))
	assertGatewayError(t, err, gateway.CodeIdempotencyConflict, false, false)
	if got := stats(t, client).Authorizations; got != 1 {
		t.Errorf("authorizations = %d, want 1", got)
	}
}

func TestAuthorizeNeverRespondingCard(t *testing.T) {
	_, client := startServer(t, simulator.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()

	_, err := client.Authorize(ctx, request("key-never", neverRespondPAN, 1050))
	assertGatewayError(t, err, gateway.CodeTimeout, true, true)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want it to wrap context.DeadlineExceeded", err)
	}

	// The simulated gateway authorized although no response came back.
	result, err := client.Lookup(context.Background(), "key-never")
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if result.Status != gateway.StatusApproved {
		t.Errorf("looked-up status = %q, want %q", result.Status, gateway.StatusApproved)
	}
	if got := stats(t, client).Authorizations; got != 1 {
		t.Errorf("authorizations = %d, want 1", got)
	}
}

func TestAuthorizeSlowCard(t *testing.T) {
	_, client := startServer(t, simulator.Config{SlowDelay: 50 * time.Millisecond})
	result, err := client.Authorize(context.Background(), request("key-slow", slowPAN, 1050))
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	if result.Status != gateway.StatusApproved {
		t.Errorf("status = %q, want %q", result.Status, gateway.StatusApproved)
	}
}

func TestVoidAndLookup(t *testing.T) {
	_, client := startServer(t, simulator.Config{})
	ctx := context.Background()
	approved, err := client.Authorize(ctx, request("key-void", approvedPAN, 1050))
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}

	voided, err := client.Void(ctx, gateway.VoidRequest{GatewayReference: approved.GatewayReference})
	if err != nil {
		t.Fatalf("Void by reference: %v", err)
	}
	if voided.Status != gateway.StatusVoided || voided.GatewayReference != approved.GatewayReference {
		t.Errorf("void result = %+v, want voided with reference %q", voided, approved.GatewayReference)
	}
	again, err := client.Void(ctx, gateway.VoidRequest{IdempotencyKey: "key-void"})
	if err != nil {
		t.Fatalf("Void by idempotency key: %v", err)
	}
	if again != voided {
		t.Errorf("second void = %+v, want %+v", again, voided)
	}
	looked, err := client.Lookup(ctx, "key-void")
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if looked != voided {
		t.Errorf("lookup = %+v, want %+v", looked, voided)
	}
	if got := stats(t, client); got != (simhttp.Stats{Authorizations: 1, Voids: 1}) {
		t.Errorf("stats = %+v, want 1 authorization and 1 void", got)
	}
}

func TestUnknownKeyNotFound(t *testing.T) {
	_, client := startServer(t, simulator.Config{})
	inProcess := newSimulator(t, simulator.Config{})
	ctx := context.Background()

	_, err := client.Lookup(ctx, "key-unknown")
	_, wantErr := inProcess.Lookup(ctx, "key-unknown")
	assertSameError(t, err, wantErr)

	_, err = client.Void(ctx, gateway.VoidRequest{IdempotencyKey: "key-unknown"})
	_, wantErr = inProcess.Void(ctx, gateway.VoidRequest{IdempotencyKey: "key-unknown"})
	assertSameError(t, err, wantErr)
	if !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("void error = %v, want it to wrap gateway.ErrNotFound", err)
	}
}

func TestContextEndedBeforeCall(t *testing.T) {
	_, client := startServer(t, simulator.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := client.Authorize(ctx, request("key-cancelled", approvedPAN, 1050))
	assertGatewayError(t, err, gateway.CodeTimeout, true, false)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want it to wrap context.Canceled", err)
	}
	if got := stats(t, client).Authorizations; got != 0 {
		t.Errorf("authorizations = %d, want 0", got)
	}
}

func TestServerUnreachable(t *testing.T) {
	server, err := simhttp.Serve("127.0.0.1:0", newSimulator(t, simulator.Config{}))
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	client, err := simhttp.NewClient(server.URL)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	if err := server.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	_, err = client.Authorize(context.Background(), request("key-down", approvedPAN, 1050))
	assertGatewayError(t, err, gateway.CodeUnavailable, true, false)
}

func TestCloseEndsWaitingCall(t *testing.T) {
	server, err := simhttp.Serve("127.0.0.1:0", newSimulator(t, simulator.Config{}))
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	client, err := simhttp.NewClient(server.URL)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	defer client.CloseIdleConnections()

	done := make(chan error, 1)
	go func() {
		_, err := client.Authorize(context.Background(), request("key-waiting", neverRespondPAN, 1050))
		done <- err
	}()
	// The call waits inside the simulator once it has recorded the
	// authorization.
	for server.Simulator().Authorizations() == 0 {
		select {
		case err := <-done:
			t.Fatalf("Authorize returned before Close: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := server.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	assertGatewayError(t, <-done, gateway.CodeTimeout, true, true)
}

func TestServerRejectsBadRequests(t *testing.T) {
	server, _ := startServer(t, simulator.Config{})
	url := server.URL
	tests := []struct {
		name       string
		path       string
		header     map[string]string
		body       []byte
		wantStatus int
	}{
		{"oversized body", simhttp.PathAuthorize, nil, bytes.Repeat([]byte(" "), simhttp.MaxBodyBytes+1), http.StatusRequestEntityTooLarge},
		{"body not JSON", simhttp.PathAuthorize, nil, []byte("amount=1050"), http.StatusBadRequest},
		{"timeout header not a number", simhttp.PathLookup, map[string]string{simhttp.TimeoutHeader: "soon"}, []byte(`{"idempotencyKey":"k"}`), http.StatusBadRequest},
		{"timeout header zero", simhttp.PathLookup, map[string]string{simhttp.TimeoutHeader: "0"}, []byte(`{"idempotencyKey":"k"}`), http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, url+tt.path, tt.header, tt.body)
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %s)", status, tt.wantStatus, body)
			}
			if !strings.Contains(body, `"code":"invalid_request"`) {
				t.Errorf("body = %s, want code invalid_request", body)
			}
		})
	}
}

func TestErrorResponsesOmitCardData(t *testing.T) {
	server, _ := startServer(t, simulator.Config{})
	url := server.URL
	const shortPAN = "41111111111" // too short for a PAN, so the simulator rejects it
	tests := []struct {
		name string
		body string
	}{
		{"PAN rejected by validation", `{"amount":1050,"currency":"USD","idempotencyKey":"k1","card":{"pan":"` +
			base64.StdEncoding.EncodeToString([]byte(shortPAN)) + `","expiryMonth":12,"expiryYear":2030}}`},
		{"PAN sent as a JSON number", `{"amount":1050,"currency":"USD","idempotencyKey":"k2","card":{"pan":` + shortPAN + `}}`},
		{"PAN sent as plain digits", `{"amount":1050,"currency":"USD","idempotencyKey":"k3","card":{"pan":"` + shortPAN + `"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, url+simhttp.PathAuthorize, nil, []byte(tt.body))
			if status != http.StatusBadRequest {
				t.Errorf("status = %d, want %d (body %s)", status, http.StatusBadRequest, body)
			}
			for _, leaked := range []string{shortPAN, base64.StdEncoding.EncodeToString([]byte(shortPAN))} {
				if strings.Contains(body, leaked) {
					t.Errorf("response body %s contains the card number", body)
				}
			}
		})
	}
}

func TestNewClientChecksURL(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		wantErr string
	}{
		{"IPv4 loopback", "http://127.0.0.1:8080", ""},
		{"IPv6 loopback", "http://[::1]:8080", ""},
		{"localhost with slash", "http://localhost:8080/", ""},
		{"https", "https://127.0.0.1:8080", "must be http://"},
		{"private address", "http://10.0.0.1:8080", "not on a loopback address"},
		{"host name", "http://simulator.example:8080", "not on a loopback address"},
		{"no port", "http://127.0.0.1", "has no port"},
		{"path", "http://127.0.0.1:8080/v1", "must be http://"},
		{"user information", "http://user:pw@127.0.0.1:8080", "must be http://"},
		{"query", "http://127.0.0.1:8080?x=1", "must be http://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, err := simhttp.NewClient(tt.url)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("NewClient(%q): %v", tt.url, err)
				}
				client.CloseIdleConnections()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewClient(%q) error = %v, want one containing %q", tt.url, err, tt.wantErr)
			}
		})
	}
}

func TestServeRejectsNonLoopbackAddress(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "[::]:0"} {
		t.Run(addr, func(t *testing.T) {
			server, err := simhttp.Serve(addr, newSimulator(t, simulator.Config{}))
			if err == nil {
				_ = server.Close()
				t.Fatalf("Serve(%q) succeeded, want a loopback address error", addr)
			}
			if !strings.Contains(err.Error(), "loopback") {
				t.Errorf("Serve(%q) error = %v, want a loopback address error", addr, err)
			}
		})
	}
}

func TestClientName(t *testing.T) {
	client, err := simhttp.NewClient("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if got := client.Name(); got != "simulator" {
		t.Errorf("Name = %q, want %q", got, "simulator")
	}
}

// post sends body to url as JSON with a plain client and returns the status
// and the body.
func post(t *testing.T, url string, header map[string]string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response of POST %s: %v", url, err)
	}
	return resp.StatusCode, string(raw)
}
