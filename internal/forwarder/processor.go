package forwarder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

// API paths of the processor.
const (
	validationsPath    = "/v1/validations"
	authorizationsPath = "/v1/authorizations"
)

// maxResponseBytes bounds the processor's response body that the forwarder
// reads. Real bodies are under 2 KiB; a larger one is no API response.
const maxResponseBytes = 64 << 10

// idempotencyKeyHeader makes a POST replayable for net/http: its transport
// resends a request whose reused keep-alive connection turns out closed
// (common after Lambda thaws an environment) only for GET-like methods or
// when this header is present. Both POSTs are safe to resend: a validation
// stores nothing, and an authorization carries its idempotency key in the
// body, which the processor enforces.
const idempotencyKeyHeader = "Idempotency-Key"

// errorCodePattern is the form of the processor's error codes. A code that
// breaks it is treated as an invalid response, so that only snake_case
// reaches a contact attribute.
var errorCodePattern = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// errInvalidResponse marks a processor response that is not what the API
// contract allows: an undeclared status, a body that is no JSON, or a field
// missing or out of range.
var errInvalidResponse = errors.New("invalid processor response")

// APIError is an error response of the processor: the API error envelope and
// the HTTP status.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the stable error code, such as gateway_unavailable.
	Code string
	// RequestID is the processor's request id.
	RequestID string
	// Retryable is true when the same request may succeed after RetryAfter:
	// the envelope's flag, and every 503.
	Retryable bool
	// RetryAfter is the Retry-After header, zero when absent.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("processor returned %d %s (request id %s)", e.StatusCode, e.Code, e.RequestID)
}

// The request and response bodies of api/openapi.yaml that the forwarder
// uses. Responses are decoded leniently: the contract allows new optional
// fields within version 1.

type validationRequest struct {
	Field      string `json:"field"`
	Ciphertext string `json:"ciphertext"`
	Brand      string `json:"brand,omitempty"`
	ContactID  string `json:"contactId,omitempty"`
}

type validationResult struct {
	Valid  *bool        `json:"valid"`
	Field  string       `json:"field"`
	Reason string       `json:"reason"`
	Card   *cardSummary `json:"card"`
	Expiry *expiry      `json:"expiry"`
	CVV    *cvvSummary  `json:"cvv"`
}

type cardSummary struct {
	Brand  string `json:"brand"`
	BIN    string `json:"bin"`
	Last4  string `json:"last4"`
	Length int    `json:"length"`
}

type expiry struct {
	Month int `json:"month"`
	Year  int `json:"year"`
}

type cvvSummary struct {
	Length int `json:"length"`
}

type authorizationRequest struct {
	IdempotencyKey string        `json:"idempotencyKey"`
	ContactID      string        `json:"contactId"`
	Amount         amountBody    `json:"amount"`
	Card           encryptedCard `json:"card"`
	Reference      string        `json:"reference,omitempty"`
}

type amountBody struct {
	Value    int64  `json:"value"`
	Currency string `json:"currency"`
}

type encryptedCard struct {
	PAN    string `json:"pan"`
	Expiry string `json:"expiry"`
	CVV    string `json:"cvv,omitempty"`
}

type authorization struct {
	ID                string         `json:"id"`
	IdempotencyKey    string         `json:"idempotencyKey"`
	Status            string         `json:"status"`
	DeclineCode       string         `json:"declineCode"`
	AuthorizationCode string         `json:"authorizationCode"`
	GatewayReference  string         `json:"gatewayReference"`
	FailureReason     string         `json:"failureReason"`
	Card              authorizedCard `json:"card"`
}

type authorizedCard struct {
	Brand string `json:"brand"`
	Last4 string `json:"last4"`
}

type errorEnvelope struct {
	Error *struct {
		Code      string `json:"code"`
		RequestID string `json:"requestId"`
		Retryable bool   `json:"retryable"`
	} `json:"error"`
}

// processorClient calls the processor's API over one shared http.Client.
type processorClient struct {
	baseURL *url.URL
	http    *http.Client
}

// validate posts a validation. A 200 returns the result. Any other
// response returns an *APIError or errInvalidResponse, and a failed call
// returns the transport error.
func (c *processorClient) validate(ctx context.Context, requestID string, req validationRequest) (validationResult, error) {
	// A validation has no idempotency key of its own; the header only
	// makes the POST replayable for net/http.
	replayKey := req.ContactID + ":" + OperationValidate + ":" + req.Field
	status, body, err := c.do(ctx, http.MethodPost, validationsPath, requestID, replayKey, req)
	if err != nil {
		return validationResult{}, err
	}
	if status != http.StatusOK {
		return validationResult{}, fmt.Errorf("%w: status %d to a validation", errInvalidResponse, status)
	}
	var result validationResult
	if err := json.Unmarshal(body, &result); err != nil {
		return validationResult{}, fmt.Errorf("%w: decode validation result: %v", errInvalidResponse, err)
	}
	if result.Valid == nil || result.Field != req.Field {
		return validationResult{}, fmt.Errorf("%w: validation result lacks valid or names another field", errInvalidResponse)
	}
	return result, nil
}

// authorize posts an authorization. It returns the authorization and
// whether it is a replay of an earlier request with the same key (200
// rather than 201).
func (c *processorClient) authorize(ctx context.Context, requestID string, req authorizationRequest) (authorization, bool, error) {
	status, body, err := c.do(ctx, http.MethodPost, authorizationsPath, requestID, req.IdempotencyKey, req)
	if err != nil {
		return authorization{}, false, err
	}
	if status != http.StatusOK && status != http.StatusCreated {
		return authorization{}, false, fmt.Errorf("%w: status %d to an authorization", errInvalidResponse, status)
	}
	auth, err := decodeAuthorization(body, req.IdempotencyKey)
	return auth, status == http.StatusOK, err
}

// lookup gets the authorization stored under idempotencyKey.
func (c *processorClient) lookup(ctx context.Context, requestID, idempotencyKey string) (authorization, error) {
	// An idempotency key has only [A-Za-z0-9._:-], which a path segment
	// takes unescaped, and it is never a dot segment because it contains
	// ":authorize:".
	path := authorizationsPath + "/" + idempotencyKey
	status, body, err := c.do(ctx, http.MethodGet, path, requestID, "", nil)
	if err != nil {
		return authorization{}, err
	}
	if status != http.StatusOK {
		return authorization{}, fmt.Errorf("%w: status %d to a lookup", errInvalidResponse, status)
	}
	return decodeAuthorization(body, idempotencyKey)
}

func decodeAuthorization(body []byte, idempotencyKey string) (authorization, error) {
	var auth authorization
	if err := json.Unmarshal(body, &auth); err != nil {
		return authorization{}, fmt.Errorf("%w: decode authorization: %v", errInvalidResponse, err)
	}
	if auth.IdempotencyKey != idempotencyKey {
		return authorization{}, fmt.Errorf("%w: authorization has another idempotency key", errInvalidResponse)
	}
	switch auth.Status {
	case StatusApproved, StatusDeclined, StatusPending, StatusFailed:
		return auth, nil
	}
	return authorization{}, fmt.Errorf("%w: authorization has an unknown status", errInvalidResponse)
}

// do sends one request and returns the status and body of a 2xx response.
// A 4xx or 5xx becomes an *APIError when its body is the error envelope,
// and errInvalidResponse otherwise. The body is never put in an error,
// because a request body holds ciphertext.
func (c *processorClient) do(ctx context.Context, method, path, requestID, replayKey string, body any) (int, []byte, error) {
	var reader io.Reader
	if body != nil {
		encoded, err := json.Marshal(body)
		if err != nil {
			return 0, nil, fmt.Errorf("encode %s %s request: %w", method, path, err)
		}
		reader = bytes.NewReader(encoded)
	}

	target := c.baseURL.JoinPath(path)
	req, err := http.NewRequestWithContext(ctx, method, target.String(), reader)
	if err != nil {
		return 0, nil, fmt.Errorf("build %s %s request: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Request-Id", requestID)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if replayKey != "" {
		req.Header.Set(idempotencyKeyHeader, replayKey)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return 0, nil, fmt.Errorf("read %s %s response: %w", method, path, err)
	}
	if len(respBody) > maxResponseBytes {
		return 0, nil, fmt.Errorf("%w: %s %s response body is over %d bytes", errInvalidResponse, method, path, maxResponseBytes)
	}

	if resp.StatusCode >= http.StatusBadRequest {
		return 0, nil, apiError(resp, respBody)
	}
	return resp.StatusCode, respBody, nil
}

// apiError decodes the error envelope of resp.
func apiError(resp *http.Response, body []byte) error {
	var envelope errorEnvelope
	if err := json.Unmarshal(body, &envelope); err != nil || envelope.Error == nil {
		return fmt.Errorf("%w: status %d without the error envelope", errInvalidResponse, resp.StatusCode)
	}
	if !errorCodePattern.MatchString(envelope.Error.Code) {
		return fmt.Errorf("%w: status %d with an error code that is not snake_case", errInvalidResponse, resp.StatusCode)
	}
	return &APIError{
		StatusCode: resp.StatusCode,
		Code:       envelope.Error.Code,
		RequestID:  envelope.Error.RequestID,
		Retryable:  envelope.Error.Retryable || resp.StatusCode == http.StatusServiceUnavailable,
		RetryAfter: retryAfter(resp.Header.Get("Retry-After")),
	}
}

// retryAfter reads a Retry-After header in seconds, the only form the API
// sends; an HTTP date or garbage reads as zero.
func retryAfter(value string) time.Duration {
	seconds, err := strconv.Atoi(value)
	if err != nil || seconds < 1 {
		return 0
	}
	return time.Duration(seconds) * time.Second
}
