// Package forwarder is the thin Amazon Connect Lambda in front of the
// processor: it reads a contact-flow event, calls the processor's API over
// mutual TLS, and returns the flat map of strings that Connect requires.
//
// The forwarder handles only ciphertext and passes it through unchanged. It
// never logs parameters, contact attributes or ciphertext: its log lines
// carry the contact id, the request id and the outcome.
//
// Errors reach the flow as status=error with a stable reason and a
// retryable flag, so the flow can branch to a retry prompt or an agent. Only
// an event that no block configuration can make valid (no ContactId, no
// known operation) makes Handle return an error, which sends the flow down
// the block's Error branch.
package forwarder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"go.uber.org/zap"
)

// responseReserve is the part of the Lambda deadline kept for returning the
// response after the processor call, so that a slow processor yields a
// status=error timeout response rather than a killed invocation.
const responseReserve = 250 * time.Millisecond

// requestIDPattern is the processor's request id alphabet. A Lambda request
// id (a UUID) matches it; the processor would replace anything else.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// Options configures New.
type Options struct {
	// ProcessorURL is the processor's https base URL. Required.
	ProcessorURL *url.URL
	// HTTPClient is the mTLS client from NewHTTPClient. Required.
	HTTPClient *http.Client
	// Timeout bounds one call to the processor; zero means DefaultTimeout.
	Timeout time.Duration
	// Logger receives one line per invocation. Nil logs nothing.
	Logger *zap.Logger
}

// Handler serves contact-flow invocations. It is safe for concurrent use.
type Handler struct {
	api     *processorClient
	timeout time.Duration
	logger  *zap.Logger
}

// New returns a Handler.
func New(opts Options) (*Handler, error) {
	if opts.ProcessorURL == nil {
		return nil, errors.New("forwarder: Options.ProcessorURL is nil")
	}
	if opts.HTTPClient == nil {
		return nil, errors.New("forwarder: Options.HTTPClient is nil: build it with NewHTTPClient")
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if timeout < MinTimeout || timeout > MaxTimeout {
		return nil, fmt.Errorf("forwarder: timeout %s is out of range %s to %s", timeout, MinTimeout, MaxTimeout)
	}
	logger := opts.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Handler{
		api:     &processorClient{baseURL: opts.ProcessorURL, http: opts.HTTPClient},
		timeout: timeout,
		logger:  logger,
	}, nil
}

// Handle serves one invocation, the function that lambda.Start runs. It
// returns the flat attribute map for every outcome the flow can branch on,
// and an error wrapping ErrInvalidEvent only for an event it cannot serve.
func (h *Handler) Handle(ctx context.Context, event events.ConnectEvent) (map[string]string, error) {
	start := time.Now()
	requestID := invocationRequestID(ctx)

	req, err := readRequest(event)
	if errors.Is(err, ErrInvalidEvent) {
		// The contact id is empty when it is the invalid part.
		h.logger.Error("rejected an invalid Connect event",
			zap.String("contactId", req.Contact.ID),
			zap.String("requestId", requestID),
			zap.Error(err))
		return nil, err
	}

	var out *output
	var cause error
	if err != nil {
		out, cause = errorOutput(err), err
	} else {
		out, cause = h.call(ctx, requestID, req)
	}
	out.values[KeyRequestID] = requestID
	if err := checkOutput(out.values); err != nil {
		// Return a safe error output rather than a map Connect may reject.
		out, cause = errorOutput(err), err
		out.values[KeyRequestID] = requestID
	}

	h.logResult(req, requestID, out, cause, time.Since(start))
	return out.values, nil
}

// readRequest parses event. An error is either ErrInvalidEvent (wrapped)
// or a *ParameterError.
func readRequest(event events.ConnectEvent) (request, error) {
	c, err := readContact(event)
	if err != nil {
		return request{}, err
	}
	params := event.Details.Parameters
	operation, err := readOperation(params)
	if err != nil {
		return request{Contact: c}, err
	}

	req := request{Operation: operation, Contact: c}
	switch operation {
	case OperationValidate:
		req.Validation, err = readValidation(params, c)
	case OperationAuthorize:
		req.Authorization, err = readAuthorization(params, c)
	case OperationStatus:
		var attempt int
		attempt, err = readAttempt(params)
		req.Authorization.IdempotencyKey = IdempotencyKey(c.KeyBase, attempt)
	}
	return req, err
}

// call runs the operation against the processor within the deadline. The
// error is the cause of a status=error output, for the log.
func (h *Handler) call(ctx context.Context, requestID string, req request) (*output, error) {
	ctx, cancel := context.WithTimeout(ctx, h.callTimeout(ctx))
	defer cancel()

	switch req.Operation {
	case OperationValidate:
		result, err := h.api.validate(ctx, requestID, req.Validation)
		if err != nil {
			return errorOutput(err), err
		}
		return validationOutput(result), nil

	case OperationAuthorize:
		key := req.Authorization.IdempotencyKey
		auth, replayed, err := h.api.authorize(ctx, requestID, req.Authorization)
		if err != nil {
			return withKey(errorOutput(err), key), err
		}
		out := authorizationOutput(auth)
		out.values[KeyReplayed] = strconv.FormatBool(replayed)
		return out, nil

	default: // OperationStatus
		key := req.Authorization.IdempotencyKey
		auth, err := h.api.lookup(ctx, requestID, key)
		if err != nil {
			return withKey(errorOutput(err), key), err
		}
		return authorizationOutput(auth), nil
	}
}

// withKey adds the idempotency key to the error output of an authorization
// or a lookup, so an agent can quote it.
func withKey(out *output, key string) *output {
	out.values[KeyIdempotencyKey] = key
	return out
}

// callTimeout returns the configured timeout, shortened when the Lambda
// deadline comes first.
func (h *Handler) callTimeout(ctx context.Context) time.Duration {
	timeout := h.timeout
	if deadline, ok := ctx.Deadline(); ok {
		if remaining := time.Until(deadline) - responseReserve; remaining < timeout {
			timeout = max(remaining, 0)
		}
	}
	return timeout
}

// logResult writes the one line of an invocation: the ids and the outcome,
// never a parameter value or an attribute of the contact. cause is the
// error behind a status=error output, and no error of this package quotes a
// request or response body.
func (h *Handler) logResult(req request, requestID string, out *output, cause error, elapsed time.Duration) {
	fields := []zap.Field{
		zap.String("contactId", req.Contact.ID),
		zap.String("requestId", requestID),
		zap.String("operation", req.Operation),
		zap.String("status", out.values[KeyStatus]),
		zap.Duration("duration", elapsed),
	}
	if len(out.dropped) > 0 {
		// The processor sent a value that Connect might reject, so the
		// output left it out.
		fields = append(fields, zap.Strings("droppedAttributes", out.dropped))
	}
	if out.values[KeyStatus] != StatusError {
		level := zap.InfoLevel
		if len(out.dropped) > 0 {
			level = zap.WarnLevel
		}
		h.logger.Log(level, "forwarded a contact-flow request", fields...)
		return
	}
	fields = append(fields,
		zap.String("reason", out.values[KeyReason]),
		zap.String("retryable", out.values[KeyRetryable]),
		zap.Error(cause))
	h.logger.Warn("contact-flow request failed", fields...)
}

// invocationRequestID returns the Lambda request id of ctx, sent to the
// processor as X-Request-Id so one id traces the call through both logs.
// Outside Lambda it makes a random one.
func invocationRequestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && requestIDPattern.MatchString(lc.AwsRequestID) {
		return lc.AwsRequestID
	}
	var b [16]byte
	// crypto/rand.Read documents that it never returns an error (Go 1.24+).
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
