package simhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/gateway/simulator"
	"github.com/connect-secure-input/processor/internal/secret"
)

// Limits of the client.
const (
	// dialTimeout bounds connecting to the server; a loopback connect that
	// takes longer means the server is gone.
	dialTimeout = 2 * time.Second
	// maxIdleConns is the connections kept open for reuse, enough for the
	// background authorizations, voids and lookups of one processor.
	maxIdleConns = 32
)

// Client is a gateway.Authorizer that calls a simulator server. Its Name is
// "simulator", and its results and errors match the in-process simulator's:
// the same codes, Retryable and OutcomeUnknown flags, and
// gateway.ErrNotFound.
//
// A call lasts as long as ctx allows and no longer: the client sends the
// request with ctx and the server stops waiting at the same deadline, so
// the never-responding card returns an outcome-unknown timeout when ctx
// ends, as in-process. Without a deadline in ctx a call waits up to the
// server's MaxCallDuration.
type Client struct {
	baseURL   string
	transport *http.Transport
	http      *http.Client
}

var _ gateway.Authorizer = (*Client)(nil)

// NewClient returns a client of the server at baseURL, which must pass
// CheckURL.
func NewClient(baseURL string) (*Client, error) {
	if err := CheckURL(baseURL); err != nil {
		return nil, fmt.Errorf("simhttp: %w", err)
	}
	if baseURL[len(baseURL)-1] == '/' {
		baseURL = baseURL[:len(baseURL)-1]
	}
	transport := &http.Transport{
		// No proxy: the card data must go straight to the loopback server.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: dialTimeout}).DialContext,
		MaxIdleConns:        maxIdleConns,
		MaxIdleConnsPerHost: maxIdleConns,
		IdleConnTimeout:     idleTimeout,
		DisableCompression:  true,
	}
	return &Client{baseURL: baseURL, transport: transport, http: &http.Client{Transport: transport}}, nil
}

// Name returns "simulator".
func (c *Client) Name() string { return simulator.Name }

// Authorize sends req to the server's simulator. It validates req first,
// as the in-process simulator does, so an invalid card never leaves the
// process.
func (c *Client) Authorize(ctx context.Context, req gateway.Request) (gateway.Result, error) {
	if err := req.Validate(); err != nil {
		return gateway.Result{}, withName(err)
	}
	// The card bytes are encoded straight from the caller's values, with no
	// copy of them as a string; call zeroes the encoded body.
	body, err := json.Marshal(authorizeRequest{
		Amount:   req.Amount,
		Currency: req.Currency,
		Card: wireCard{
			PAN:         req.Card.PAN.Bytes(),
			ExpiryMonth: req.Card.ExpiryMonth,
			ExpiryYear:  req.Card.ExpiryYear,
			CVV:         req.Card.CVV.Bytes(),
		},
		IdempotencyKey:    req.IdempotencyKey,
		ContactID:         req.ContactID,
		MerchantReference: req.MerchantReference,
		MOTO:              req.MOTO,
		CaptureMode:       string(req.CaptureMode),
	})
	if err != nil {
		return gateway.Result{}, &gateway.Error{Gateway: simulator.Name, Op: gateway.OpAuthorize, Code: gateway.CodeInvalidRequest, Detail: "authorize request could not be encoded"}
	}
	return c.call(ctx, gateway.OpAuthorize, PathAuthorize, body)
}

// Void sends req to the server's simulator, which voids the authorization.
func (c *Client) Void(ctx context.Context, req gateway.VoidRequest) (gateway.Result, error) {
	if err := req.Validate(); err != nil {
		return gateway.Result{}, withName(err)
	}
	body, err := json.Marshal(voidRequest{GatewayReference: req.GatewayReference, IdempotencyKey: req.IdempotencyKey})
	if err != nil {
		return gateway.Result{}, fmt.Errorf("simhttp: encode void request: %w", err)
	}
	return c.call(ctx, gateway.OpVoid, PathVoid, body)
}

// Lookup returns the server's simulator result for idempotencyKey.
func (c *Client) Lookup(ctx context.Context, idempotencyKey string) (gateway.Result, error) {
	if err := gateway.ValidateIdempotencyKey(gateway.OpLookup, idempotencyKey); err != nil {
		return gateway.Result{}, withName(err)
	}
	body, err := json.Marshal(lookupRequest{IdempotencyKey: idempotencyKey})
	if err != nil {
		return gateway.Result{}, fmt.Errorf("simhttp: encode lookup request: %w", err)
	}
	return c.call(ctx, gateway.OpLookup, PathLookup, body)
}

// Stats returns the server's authorization and void counts.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+PathStats, nil)
	if err != nil {
		return Stats{}, fmt.Errorf("simhttp: stats request: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Stats{}, fmt.Errorf("simhttp: stats from %s: %w", c.baseURL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes))
	if err != nil {
		return Stats{}, fmt.Errorf("simhttp: read stats from %s: %w", c.baseURL, err)
	}
	var stats Stats
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &stats) != nil {
		return Stats{}, fmt.Errorf("simhttp: stats from %s: unexpected HTTP %d response", c.baseURL, resp.StatusCode)
	}
	return stats, nil
}

// CloseIdleConnections closes the client's idle keep-alive connections, so
// a test can check that no goroutine is left behind.
func (c *Client) CloseIdleConnections() { c.transport.CloseIdleConnections() }

// call posts body to path and decodes the result or the error. It owns
// body and zeroes it once the transport has finished with it.
func (c *Client) call(ctx context.Context, op gateway.Op, path string, body []byte) (gateway.Result, error) {
	if err := ctx.Err(); err != nil {
		secret.Zero(body)
		return gateway.Result{}, notSent(op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+path, newWipingBody(body))
	if err != nil {
		secret.Zero(body)
		return gateway.Result{}, notSent(op, err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")
	if deadline, ok := ctx.Deadline(); ok {
		ms := max(time.Until(deadline).Milliseconds(), 1)
		req.Header.Set(TimeoutHeader, strconv.FormatInt(ms, 10))
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return gateway.Result{}, transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return gateway.Result{}, transportError(ctx, op, err)
	}
	if len(raw) > MaxBodyBytes {
		return gateway.Result{}, unexpectedResponse(op, resp.StatusCode, fmt.Sprintf("response body is larger than %d bytes", MaxBodyBytes))
	}

	if resp.StatusCode == http.StatusOK {
		var out wireResult
		if err := json.Unmarshal(raw, &out); err != nil || out.Status == "" {
			return gateway.Result{}, unexpectedResponse(op, resp.StatusCode, "response body is not a JSON result")
		}
		return out.result(), nil
	}
	var wireErr wireError
	if err := json.Unmarshal(raw, &wireErr); err != nil || wireErr.Code == "" {
		return gateway.Result{}, unexpectedResponse(op, resp.StatusCode, "error response body is not a JSON gateway error")
	}
	if wireErr.Op == "" {
		wireErr.Op = string(op)
	}
	return gateway.Result{}, wireErr.gatewayError()
}

// transportError classifies a failed HTTP exchange. A refused connection
// never reached the simulator, so nothing is recorded; any other failure,
// and a context that ended, may have reached it.
func transportError(ctx context.Context, op gateway.Op, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return noResponse(op, ctxErr)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return &gateway.Error{
			Gateway:   simulator.Name,
			Op:        op,
			Code:      gateway.CodeUnavailable,
			Retryable: true,
			Detail:    "simulator server not reachable: start gateway-simulator and check PROCESSOR_SIMULATOR_URL",
			Err:       err,
		}
	}
	return &gateway.Error{
		Gateway:        simulator.Name,
		Op:             op,
		Code:           gateway.CodeTimeout,
		Retryable:      true,
		OutcomeUnknown: true,
		Detail:         "connection to the simulator server failed before its response",
		Err:            err,
	}
}

// unexpectedResponse is the error for a response that is neither a result
// nor a gateway error, such as a 404 from a wrong URL. The call may have
// reached the simulator, so the outcome counts as unknown.
func unexpectedResponse(op gateway.Op, status int, detail string) error {
	return &gateway.Error{
		Gateway:        simulator.Name,
		Op:             op,
		Code:           gateway.CodeGatewayError,
		Retryable:      true,
		OutcomeUnknown: true,
		HTTPStatus:     status,
		Detail:         "unexpected response from the simulator server: " + detail,
	}
}

// notSent is the error for a call that ended before it was sent, as the
// in-process simulator returns it.
func notSent(op gateway.Op, cause error) error {
	return &gateway.Error{
		Gateway:   simulator.Name,
		Op:        op,
		Code:      gateway.CodeTimeout,
		Retryable: true,
		Detail:    "context ended before the request was sent",
		Err:       cause,
	}
}

// noResponse is the error for a context that ended while the server held
// the request, as the in-process simulator returns it.
func noResponse(op gateway.Op, cause error) error {
	return &gateway.Error{
		Gateway:        simulator.Name,
		Op:             op,
		Code:           gateway.CodeTimeout,
		Retryable:      true,
		OutcomeUnknown: true,
		Detail:         "context ended before the gateway responded",
		Err:            cause,
	}
}

// withName sets the simulator's name on a validation error.
func withName(err error) error {
	var gwErr *gateway.Error
	if !errors.As(err, &gwErr) {
		return err
	}
	named := *gwErr
	named.Gateway = simulator.Name
	return &named
}

// wipingBody is a request body that zeroes its buffer when the transport
// closes it, which the transport does once it has finished writing or has
// given up. The lock keeps a late Read from racing with the zeroing.
type wipingBody struct {
	mu     sync.Mutex
	buf    []byte
	reader *bytes.Reader
	closed bool
}

func newWipingBody(buf []byte) *wipingBody {
	return &wipingBody{buf: buf, reader: bytes.NewReader(buf)}
}

func (b *wipingBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, io.ErrClosedPipe
	}
	return b.reader.Read(p)
}

func (b *wipingBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		secret.Zero(b.buf)
	}
	return nil
}
