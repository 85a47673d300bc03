package apicontract

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// Transport is an http.RoundTripper that checks every request and response
// passing through it against the contract and reports each violation with
// t.Errorf, so a handler test gets contract checks by using its client.
//
// A request that breaks the contract is allowed, because tests send invalid
// requests on purpose, but the service must not accept it: a status below
// 400 in answer to it is a violation. Every response is checked in full,
// including the error responses to invalid requests.
type Transport struct {
	t    testing.TB
	base http.RoundTripper
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport that sends requests through base, or
// through http.DefaultTransport when base is nil.
func NewTransport(t testing.TB, base http.RoundTripper) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	return &Transport{t: t, base: base}
}

// WrapClient returns a copy of client whose transport is wrapped in a
// Transport, keeping the client's own transport (with its TLS settings) as
// the base. client itself is not changed.
func WrapClient(t testing.TB, client *http.Client) *http.Client {
	wrapped := *client
	wrapped.Transport = NewTransport(t, client.Transport)
	return &wrapped
}

// RoundTrip sends req through the base transport and checks both sides of
// the exchange. The request and response bodies are read in full and
// replaced with readers over the same bytes. Transport errors (a refused
// connection, a TLS handshake failure) are returned unchecked, because no
// HTTP response exists to hold to the contract.
func (tr *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	requestBody, err := readRequestBody(req)
	if err != nil {
		return nil, err
	}
	outgoing := req.Clone(req.Context())
	setRequestBody(outgoing, requestBody)

	requestErr := CheckRequest(req, requestBody)

	resp, err := tr.base.RoundTrip(outgoing)
	if err != nil {
		return nil, err
	}
	responseBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read response body of %s %s: %w", req.Method, req.URL.Path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(responseBody))

	if requestErr != nil && resp.StatusCode < http.StatusBadRequest {
		tr.t.Errorf("request %s %s violates %s (%v), but the service accepted it with status %d",
			req.Method, req.URL.Path, SpecPath, requestErr, resp.StatusCode)
	}
	if err := CheckResponse(req, resp, responseBody); err != nil {
		tr.t.Errorf("response %d to %s %s violates %s: %v", resp.StatusCode, req.Method, req.URL.Path, SpecPath, err)
	}
	return resp, nil
}

// readRequestBody reads and closes req.Body, as a RoundTripper may.
func readRequestBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("read request body of %s %s: %w", req.Method, req.URL.Path, err)
	}
	return body, nil
}

func setRequestBody(req *http.Request, body []byte) {
	if body == nil {
		req.Body = http.NoBody
		req.GetBody = nil
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(body)), nil
	}
	req.ContentLength = int64(len(body))
}
