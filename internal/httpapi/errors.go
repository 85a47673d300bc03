package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/connect-secure-input/processor/internal/authorize"
	"github.com/connect-secure-input/processor/internal/card"
	"github.com/connect-secure-input/processor/internal/decrypt"
	"github.com/connect-secure-input/processor/internal/redact"
	"github.com/connect-secure-input/processor/internal/store"
	"github.com/connect-secure-input/processor/internal/ttl"
)

// Error codes of the API that do not come from the decrypt or card packages.
const (
	CodeInvalidRequest       = "invalid_request"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeBodyTooLarge         = "body_too_large"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeIdempotencyConflict  = "idempotency_conflict"
	CodeOverloaded           = "overloaded"
	CodeStoreUnavailable     = "store_unavailable"
	CodeGatewayUnavailable   = "gateway_unavailable"
	CodeVaultFull            = "vault_full"
	CodeInternal             = "internal"
)

// retryAfterSeconds is the Retry-After value of every retryable 503: short,
// because Connect's whole budget is a few seconds.
const retryAfterSeconds = 1

// apiError is the one client-facing error value: HTTP status, stable code,
// a safe message, and the internal cause that never leaves the process.
type apiError struct {
	Status    int
	Code      string
	Message   string
	Retryable bool
	cause     error
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }
func (e *apiError) Unwrap() error { return e.cause }

func newAPIError(status int, code, message string) *apiError {
	return &apiError{Status: status, Code: code, Message: message}
}

// errorEnvelope is the JSON body of every error response.
type errorEnvelope struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
	Retryable bool   `json:"retryable,omitempty"`
}

// toAPIError maps an internal error to its client-facing form.
func toAPIError(err error) *apiError {
	var apiErr *apiError
	var decErr *decrypt.Error
	var invalid *card.Invalid
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.As(err, &decErr):
		status := http.StatusUnprocessableEntity
		switch decErr.Code {
		case decrypt.CodeKMSUnavailable:
			status = http.StatusServiceUnavailable
		case decrypt.CodeKMSAccessDenied:
			status = http.StatusBadGateway
		}
		return &apiError{Status: status, Code: string(decErr.Code), Message: decErr.Message, Retryable: decErr.Retryable(), cause: err}
	case errors.As(err, &invalid):
		return &apiError{Status: http.StatusUnprocessableEntity, Code: invalid.Code, Message: invalid.Message, cause: err}
	case errors.Is(err, authorize.ErrConflict):
		return &apiError{Status: http.StatusConflict, Code: CodeIdempotencyConflict,
			Message: "the idempotency key was already used with a different amount, currency, card or reference; use a new key for a new payment", cause: err}
	case errors.Is(err, authorize.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no authorization has this idempotency key", cause: err}
	case errors.Is(err, store.ErrUnavailable):
		return &apiError{Status: http.StatusServiceUnavailable, Code: CodeStoreUnavailable, Retryable: true,
			Message: "the authorization store is unavailable; nothing was charged, retry with the same idempotency key", cause: err}
	case errors.Is(err, ttl.ErrFull), errors.Is(err, store.ErrFull):
		return &apiError{Status: http.StatusServiceUnavailable, Code: CodeVaultFull, Retryable: true,
			Message: "the service holds its maximum of in-flight card data; retry shortly", cause: err}
	}
	return &apiError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", cause: err}
}

// writeError writes the envelope and logs the cause at a level that follows
// the status class. The cause is logged, never sent.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	apiErr := toAPIError(err)
	requestID := redact.RequestIDFrom(r.Context())
	if apiErr.Status >= 500 && apiErr.Code != CodeOverloaded {
		a.log.Error("request failed", zap.String("request_id", requestID), zap.String("code", apiErr.Code), zap.Error(apiErr.cause))
	} else if apiErr.cause != nil {
		a.log.Debug("request rejected", zap.String("request_id", requestID), zap.String("code", apiErr.Code), zap.Error(apiErr.cause))
	}
	if apiErr.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	writeJSON(w, apiErr.Status, errorEnvelope{Error: errorBody{
		Code: apiErr.Code, Message: apiErr.Message, RequestID: requestID, Retryable: apiErr.Retryable,
	}})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	encoded, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		encoded = []byte(`{"error":{"code":"internal","message":"internal error","requestId":""}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(encoded, '\n'))
}
