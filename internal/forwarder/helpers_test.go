package forwarder_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/connect-secure-input/processor/internal/forwarder"
	"github.com/connect-secure-input/processor/internal/testkit/apicontract"
	"github.com/connect-secure-input/processor/internal/testkit/localkms"
	"github.com/connect-secure-input/processor/internal/testkit/pki"
	"github.com/connect-secure-input/processor/internal/testkit/vectors"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, localkms.GoleakOptions()...)
}

// Contact ids of the committed sample events.
const (
	sampleContactID     = "5fb9a6a4-9d1e-4c4a-9d8e-2a7f3c1b0e61"
	transferredContact  = "9b2e4c71-3d5a-4f8e-a1c6-7e0d2b9f4a38"
	sampleKey           = sampleContactID + ":authorize:1"
	testLambdaRequestID = "3f9c2a51-6d7e-4b8a-9c0d-1e2f3a4b5c6d"
)

// loadEvent reads testdata/connect-events/<name> as Connect delivers it to
// the runtime: JSON decoded into events.ConnectEvent.
func loadEvent(t testing.TB, name string) events.ConnectEvent {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(vectors.Root(t), "testdata", "connect-events", name))
	if err != nil {
		t.Fatalf("read sample event: %v", err)
	}
	var event events.ConnectEvent
	if err := json.Unmarshal(raw, &event); err != nil {
		t.Fatalf("decode sample event %s: %v", name, err)
	}
	return event
}

// withParams returns a copy of event whose parameters are changed: a value
// sets a parameter, an empty value deletes it.
func withParams(event events.ConnectEvent, changes map[string]string) events.ConnectEvent {
	params := make(map[string]string, len(event.Details.Parameters))
	for k, v := range event.Details.Parameters {
		params[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(params, k)
			continue
		}
		params[k] = v
	}
	event.Details.Parameters = params
	return event
}

// lambdaContext returns a context as the Lambda runtime builds it, with
// the request id and an 8-second deadline like the function's timeout.
func lambdaContext(t testing.TB) context.Context {
	t.Helper()
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: testLambdaRequestID})
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// contextWithDeadline returns a Lambda context whose deadline is d away.
func contextWithDeadline(t testing.TB, d time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: testLambdaRequestID})
	return context.WithTimeout(ctx, d)
}

// reply is one response of the fake processor.
type reply struct {
	status  int
	body    string
	headers map[string]string
	// offContract marks a reply that breaks api/openapi.yaml on purpose, so
	// it is not checked against the contract.
	offContract bool
	// hang holds the request until the client gives up.
	hang bool
}

// receivedRequest is a request the fake processor received.
type receivedRequest struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// fakeProcessor is an mTLS server on 127.0.0.1 that sends replies valid
// under api/openapi.yaml and checks every request and reply against the
// contract. The end-to-end tests use the real processor instead.
type fakeProcessor struct {
	t          testing.TB
	server     *httptest.Server
	ca         *pki.CA
	clientCert *pki.Cert
	respond    func(receivedRequest) reply

	mu       sync.Mutex
	requests []receivedRequest
	newConns atomic.Int32
}

// startFakeProcessor starts a fake processor that replies to each request
// with respond. It requires a client certificate from its own CA, as the real
// processor does. Each of adjustTLS may change the server's TLS
// configuration before the server starts.
func startFakeProcessor(t testing.TB, respond func(receivedRequest) reply, adjustTLS ...func(*tls.Config)) *fakeProcessor {
	t.Helper()
	ca := pki.NewCA(t, "forwarder test CA")
	f := &fakeProcessor{
		t:          t,
		ca:         ca,
		clientCert: ca.Issue(t, pki.ClientOptions("forwarder")),
		respond:    respond,
	}
	f.server = httptest.NewUnstartedServer(http.HandlerFunc(f.serveHTTP))
	f.server.EnableHTTP2 = true
	f.server.TLS = serverTLSConfig(t, ca, ca)
	for _, adjust := range adjustTLS {
		adjust(f.server.TLS)
	}
	// Tests make handshakes fail on purpose, so the server's handshake
	// errors are discarded.
	f.server.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.server.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			f.newConns.Add(1)
		}
	}
	f.server.StartTLS()
	t.Cleanup(f.server.Close)
	return f
}

// serverTLSConfig returns a server configuration with a loopback
// certificate from serverCA that requires a client certificate from
// clientCA.
func serverTLSConfig(t testing.TB, serverCA, clientCA *pki.CA) *tls.Config {
	t.Helper()
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{serverCA.Issue(t, pki.ServerOptions()).TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCA.CertPool(),
	}
}

func (f *fakeProcessor) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("fake processor: read request body: %v", err)
		return
	}
	apicontract.ValidateRequest(f.t, r, body)
	received := receivedRequest{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	f.mu.Lock()
	f.requests = append(f.requests, received)
	f.mu.Unlock()

	rep := f.respond(received)
	if rep.hang {
		<-r.Context().Done()
		return
	}

	// Write the reply to a recorder first, so it can be checked against
	// the contract exactly as it goes out.
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", "application/json")
	rec.Header().Set("X-Request-Id", requestIDOf(r))
	for name, value := range rep.headers {
		rec.Header().Set(name, value)
	}
	rec.WriteHeader(rep.status)
	_, _ = rec.WriteString(rep.body)
	result := rec.Result()
	if !rep.offContract {
		apicontract.ValidateResponse(f.t, r, result, rec.Body.Bytes())
	}

	for name, values := range result.Header {
		w.Header()[name] = values
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(rec.Body.Bytes())
}

// requestIDOf returns the caller's request id, or a fixed one, as the
// processor does.
func requestIDOf(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" {
		return id
	}
	return "generated-request-id"
}

// Requests returns the requests received so far.
func (f *fakeProcessor) Requests() []receivedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]receivedRequest(nil), f.requests...)
}

// Material returns the client material that the fake processor accepts.
func (f *fakeProcessor) Material() forwarder.Material {
	return forwarder.Material{
		ClientCertPEM: f.clientCert.CertPEM,
		ClientKeyPEM:  f.clientCert.KeyPEM,
		ServerCAPEM:   f.ca.CertPEM,
	}
}

// URL returns the fake processor's base URL.
func (f *fakeProcessor) URL(t testing.TB) *url.URL {
	t.Helper()
	u, err := url.Parse(f.server.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// testHandler is a Handler with the logs it wrote.
type testHandler struct {
	*forwarder.Handler
	logs *observer.ObservedLogs
}

// newHandler returns a Handler that calls processorURL with material,
// logging to an observer.
func newHandler(t testing.TB, processorURL *url.URL, material forwarder.Material, timeout time.Duration) testHandler {
	t.Helper()
	client, err := forwarder.NewHTTPClient(material)
	if err != nil {
		t.Fatalf("NewHTTPClient: %v", err)
	}
	t.Cleanup(client.CloseIdleConnections)
	core, logs := observer.New(zapcore.DebugLevel)
	h, err := forwarder.New(forwarder.Options{
		ProcessorURL: processorURL,
		HTTPClient:   client,
		Timeout:      timeout,
		Logger:       zap.New(core),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return testHandler{Handler: h, logs: logs}
}

// handlerFor returns a Handler that calls the fake processor.
func handlerFor(t testing.TB, f *fakeProcessor) testHandler {
	t.Helper()
	return newHandler(t, f.URL(t), f.Material(), forwarder.DefaultTimeout)
}

// invoke runs the handler on event as the Lambda runtime would and checks
// that Connect accepts the output.
func (h testHandler) invoke(t testing.TB, event events.ConnectEvent) map[string]string {
	t.Helper()
	out, err := h.Handle(lambdaContext(t), event)
	if err != nil {
		t.Fatalf("Handle returned error %v, want an attribute map", err)
	}
	assertConnectOutput(t, out)
	return out
}

// connectValuePattern is the value alphabet the forwarder promises.
var connectValuePattern = regexp.MustCompile(`^[A-Za-z0-9._:-]*$`)

// assertConnectOutput checks that out, as the Lambda runtime encodes it,
// is a flat JSON object of strings within Connect's size limit, carries the
// status and the request id, and uses only the promised value alphabet.
func assertConnectOutput(t testing.TB, out map[string]string) {
	t.Helper()
	encoded, err := json.Marshal(out)
	if err != nil {
		t.Fatalf("encode output: %v", err)
	}
	if len(encoded) >= forwarder.ConnectMaxResponseBytes {
		t.Errorf("output is %d bytes, Connect takes less than %d", len(encoded), forwarder.ConnectMaxResponseBytes)
	}
	if len(encoded) > forwarder.MaxOutputBytes {
		t.Errorf("output is %d bytes, over MaxOutputBytes %d", len(encoded), forwarder.MaxOutputBytes)
	}

	var decoded map[string]any
	decoder := json.NewDecoder(bytes.NewReader(encoded))
	if err := decoder.Decode(&decoded); err != nil {
		t.Fatalf("decode output as a JSON object: %v", err)
	}
	for key, value := range decoded {
		s, ok := value.(string)
		if !ok {
			t.Errorf("attribute %q is %T, Connect takes only strings", key, value)
			continue
		}
		if !connectValuePattern.MatchString(s) {
			t.Errorf("attribute %q = %q has a character outside [A-Za-z0-9._:-]", key, s)
		}
	}
	if out[forwarder.KeyStatus] == "" {
		t.Errorf("output %v has no status", out)
	}
	if out[forwarder.KeyRequestID] == "" {
		t.Errorf("output %v has no requestId", out)
	}
}

// present, as a wanted value, accepts any non-empty value.
const present = "(present)"

// assertAttributes checks that out contains exactly the attributes of want,
// apart from the request id.
func assertAttributes(t testing.TB, out, want map[string]string) {
	t.Helper()
	for key, value := range want {
		if value == present {
			if out[key] == "" {
				t.Errorf("attribute %q is missing", key)
			}
			continue
		}
		if got, ok := out[key]; !ok || got != value {
			t.Errorf("attribute %q = %q (present %v), want %q", key, got, ok, value)
		}
	}
	for key, value := range out {
		if _, ok := want[key]; !ok && key != forwarder.KeyRequestID {
			t.Errorf("unexpected attribute %q = %q", key, value)
		}
	}
}
