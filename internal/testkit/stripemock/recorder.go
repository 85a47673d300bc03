package stripemock

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Recorder is a reverse proxy on 127.0.0.1 that records every request on its
// way to a target server, so a test can check the headers and form bodies
// that leave a Stripe client.
//
// NOTE: recorded bodies contain whatever the client sent, card numbers
// included. Assert on single fields; never print a whole request or form in
// a failure message.
type Recorder struct {
	// URL is the proxy's base URL, for the Stripe client's base URL.
	URL string

	mu       sync.Mutex
	requests []RecordedRequest
}

// RecordedRequest is one request that passed the Recorder.
type RecordedRequest struct {
	Method string
	// Path is the URL path, such as /v1/payment_intents.
	Path   string
	Header http.Header
	// Query is the parsed URL query.
	Query url.Values
	// Form is the parsed application/x-www-form-urlencoded body; it is empty
	// for other bodies.
	Form url.Values
}

// NewRecorder starts a Recorder that forwards to target, such as a Server's
// URL, and closes it with t.Cleanup.
func NewRecorder(t testing.TB, target string) *Recorder {
	t.Helper()
	targetURL, err := url.Parse(target)
	if err != nil {
		t.Fatalf("stripemock: parse target URL %q: %v", target, err)
	}

	transport := &http.Transport{}
	recorder := &Recorder{}
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(targetURL) },
		Transport: transport,
	}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		recorder.record(r)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		server.Close()
		transport.CloseIdleConnections()
	})
	recorder.URL = server.URL
	return recorder
}

// Requests returns the recorded requests in arrival order.
func (r *Recorder) Requests() []RecordedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]RecordedRequest(nil), r.requests...)
}

// Reset discards the recorded requests.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = nil
}

// record reads the body for the record and puts it back for the proxy.
func (r *Recorder) record(req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(body))

	recorded := RecordedRequest{
		Method: req.Method,
		Path:   req.URL.Path,
		Header: req.Header.Clone(),
		Query:  req.URL.Query(),
		Form:   url.Values{},
	}
	if strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if form, err := url.ParseQuery(string(body)); err == nil {
			recorded.Form = form
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, recorded)
}
