// Package simhttp shares one simulator gateway between processes: a server
// that serves a *simulator.Simulator as JSON over HTTP on a loopback
// address, and a Client that implements gateway.Authorizer over it. Two
// processor processes pointed at one server (PROCESSOR_SIMULATOR_URL) see
// the same authorizations, and an authorization outlives the process that
// made it, as at a real gateway.
//
// TEST ONLY. The card number and CVV travel in the JSON request body, as
// base64 of their ASCII digits, over plain HTTP on loopback, as they do to
// stripe-mock. The server keeps its logging off and never prints a body,
// and both sides zero the body buffers they own after a call. Copies made
// inside encoding/json and net/http are out of their reach.
//
// Routes, all with JSON bodies:
//
//	POST /v1/authorize  authorizeRequest → wireResult
//	POST /v1/void       voidRequest → wireResult
//	POST /v1/lookup     lookupRequest → wireResult
//	GET  /stats         Stats
//
// A failed call returns a non-2xx status and a wireError that carries
// the *gateway.Error fields, so the client returns the same code, Retryable
// and OutcomeUnknown flags and gateway.ErrNotFound as the in-process
// simulator.
package simhttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/gateway/simulator"
)

// Paths of the server.
const (
	PathAuthorize = "/v1/authorize"
	PathVoid      = "/v1/void"
	PathLookup    = "/v1/lookup"
	PathStats     = "/stats"
)

// TimeoutHeader carries the client's remaining context time in whole
// milliseconds, so the server ends a call (the never-responding card above
// all) when the client stops waiting, even before it notices the closed
// connection.
const TimeoutHeader = "Simulator-Timeout-Ms"

// Limits of the server.
const (
	// MaxBodyBytes bounds a request and a response body. A valid authorize
	// request is under 2 KiB: gateway.Request limits the idempotency key to
	// 200 bytes and each metadata value to 500.
	MaxBodyBytes = 16 << 10
	// MaxCallDuration bounds one call on the server. It is the longest
	// PROCESSOR_SAD_TTL, the longest context a processor gives a gateway
	// call.
	MaxCallDuration = 10 * time.Minute
)

// Stats are the simulator's counters, as Simulator.Authorizations and
// Simulator.Voids count them.
type Stats struct {
	Authorizations int `json:"authorizations"`
	Voids          int `json:"voids"`
}

// authorizeRequest is gateway.Request on the wire.
type authorizeRequest struct {
	Amount            int64    `json:"amount"`
	Currency          string   `json:"currency"`
	Card              wireCard `json:"card"`
	IdempotencyKey    string   `json:"idempotencyKey"`
	ContactID         string   `json:"contactId,omitempty"`
	MerchantReference string   `json:"merchantReference,omitempty"`
	MOTO              bool     `json:"moto,omitempty"`
	CaptureMode       string   `json:"captureMode,omitempty"`
}

// wireCard is gateway.Card on the wire. The byte slices encode as base64,
// so neither side turns the digits into a Go string.
type wireCard struct {
	PAN         []byte `json:"pan"`
	ExpiryMonth int    `json:"expiryMonth"`
	ExpiryYear  int    `json:"expiryYear"`
	CVV         []byte `json:"cvv,omitempty"`
}

// voidRequest is gateway.VoidRequest on the wire.
type voidRequest struct {
	GatewayReference string `json:"gatewayReference,omitempty"`
	IdempotencyKey   string `json:"idempotencyKey,omitempty"`
}

// lookupRequest names the idempotency key of a lookup.
type lookupRequest struct {
	IdempotencyKey string `json:"idempotencyKey"`
}

// wireResult is gateway.Result on the wire.
type wireResult struct {
	Status             string `json:"status"`
	DeclineCode        string `json:"declineCode,omitempty"`
	GatewayDeclineCode string `json:"gatewayDeclineCode,omitempty"`
	AuthorizationCode  string `json:"authorizationCode,omitempty"`
	GatewayReference   string `json:"gatewayReference,omitempty"`
	Amount             int64  `json:"amount,omitempty"`
	Currency           string `json:"currency,omitempty"`
}

func toWireResult(r gateway.Result) wireResult {
	return wireResult{
		Status:             string(r.Status),
		DeclineCode:        string(r.DeclineCode),
		GatewayDeclineCode: r.GatewayDeclineCode,
		AuthorizationCode:  r.AuthorizationCode,
		GatewayReference:   r.GatewayReference,
		Amount:             r.Amount,
		Currency:           r.Currency,
	}
}

func (w wireResult) result() gateway.Result {
	return gateway.Result{
		Status:             gateway.Status(w.Status),
		DeclineCode:        gateway.DeclineCode(w.DeclineCode),
		GatewayDeclineCode: w.GatewayDeclineCode,
		AuthorizationCode:  w.AuthorizationCode,
		GatewayReference:   w.GatewayReference,
		Amount:             w.Amount,
		Currency:           w.Currency,
	}
}

// Causes of a wireError: the errors.Is targets that a *gateway.Error of the
// simulator can wrap.
const (
	causeNotFound         = "not_found"
	causeDeadlineExceeded = "deadline_exceeded"
	causeCanceled         = "canceled"
)

// wireError is a *gateway.Error on the wire. GatewayHTTPStatus is the
// simulated gateway's HTTP status (such as 503 for the unavailable amount),
// which can differ from the status of the simhttp response.
type wireError struct {
	Code              string `json:"code"`
	Op                string `json:"op"`
	Detail            string `json:"detail,omitempty"`
	Retryable         bool   `json:"retryable"`
	OutcomeUnknown    bool   `json:"outcomeUnknown"`
	GatewayHTTPStatus int    `json:"gatewayHttpStatus,omitempty"`
	Cause             string `json:"cause,omitempty"`
}

func toWireError(gwErr *gateway.Error) wireError {
	out := wireError{
		Code:              string(gwErr.Code),
		Op:                string(gwErr.Op),
		Detail:            gwErr.Detail,
		Retryable:         gwErr.Retryable,
		OutcomeUnknown:    gwErr.OutcomeUnknown,
		GatewayHTTPStatus: gwErr.HTTPStatus,
	}
	switch {
	case errors.Is(gwErr, gateway.ErrNotFound):
		out.Cause = causeNotFound
	case errors.Is(gwErr, context.DeadlineExceeded):
		out.Cause = causeDeadlineExceeded
	case errors.Is(gwErr, context.Canceled):
		out.Cause = causeCanceled
	}
	return out
}

func (w wireError) gatewayError() *gateway.Error {
	out := &gateway.Error{
		Gateway:        simulator.Name,
		Op:             gateway.Op(w.Op),
		Code:           gateway.ErrorCode(w.Code),
		Retryable:      w.Retryable,
		OutcomeUnknown: w.OutcomeUnknown,
		Detail:         w.Detail,
		HTTPStatus:     w.GatewayHTTPStatus,
	}
	switch w.Cause {
	case causeNotFound:
		out.Err = gateway.ErrNotFound
	case causeDeadlineExceeded:
		out.Err = context.DeadlineExceeded
	case causeCanceled:
		out.Err = context.Canceled
	}
	return out
}

// CheckURL returns an error unless raw is an http URL of a loopback host
// (127.0.0.0/8, ::1 or localhost) with a port and no path, query or user
// information: the card data in the request bodies must not leave the
// machine.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("simulator URL %q is not a URL: %w", raw, err)
	}
	if u.Scheme != "http" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("simulator URL %q must be http://127.0.0.1:<port> with no user, path or query", raw)
	}
	if u.Port() == "" {
		return fmt.Errorf("simulator URL %q has no port: use the URL that gateway-simulator writes", raw)
	}
	if !loopbackHost(u.Hostname()) {
		return fmt.Errorf("simulator URL %q is not on a loopback address: the simulator server is for tests on one machine", raw)
	}
	return nil
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
