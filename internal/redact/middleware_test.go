package redact

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

var hexRequestID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// newRouter returns a chi router with the middleware in the documented
// order and routes shaped like the API's.
func newRouter(logger *zap.Logger, opts AccessLogOptions) *chi.Mux {
	r := chi.NewRouter()
	r.Use(RequestID, AccessLog(logger, opts), Recover(logger))
	r.Post("/v1/validations", func(w http.ResponseWriter, r *http.Request) {
		SetContactID(r.Context(), r.Header.Get("Test-Contact-Id"))
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"valid":true}`)
	})
	r.Get("/v1/authorizations/{idempotencyKey}", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	r.Get("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		var code int
		_, _ = fmt.Sscan(chi.URLParam(r, "code"), &code)
		w.WriteHeader(code)
	})
	r.Get("/panic/{kind}", func(w http.ResponseWriter, r *http.Request) {
		switch chi.URLParam(r, "kind") {
		case "string":
			panic("card " + visaPAN)
		case "error":
			panic(errors.New("gateway returned " + visaPAN))
		case "struct":
			panic(struct{ Number string }{visaPAN})
		case "after-write":
			w.WriteHeader(http.StatusOK)
			panic("late")
		case "abort":
			panic(http.ErrAbortHandler)
		}
	})
	return r
}

func serve(handler http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	return rec
}

// accessLines returns the access log entries (message "request" or
// "request aborted") in logs.
func accessLines(logs *observer.ObservedLogs) []observer.LoggedEntry {
	return logs.Filter(func(e observer.LoggedEntry) bool {
		return e.Message == "request" || e.Message == "request aborted"
	}).All()
}

func TestRequestIDReuse(t *testing.T) {
	tests := []struct {
		name   string
		header string
		reuse  bool
	}{
		{"uuid", "8f0c5f6e-2b1a-4c3d-9e8f-0123456789ab", true},
		{"dots and underscores", "trace_1.2-x", true},
		{"128 characters", strings.Repeat("a", 128), true},
		{"contact id with suffix", "8f0c5f6e-2b1a-4c3d-9e8f-0123456789ab:authorize:1", true},
		{"one character", "a", true},
		{"missing", "", false},
		{"129 characters", strings.Repeat("a", 129), false},
		{"space", "abc def", false},
		{"slash", "abc/def", false},
		{"non-ascii", "abcé", false},
		{"holds a PAN", "req-" + visaPAN, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen string
			handler := RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = RequestIDFrom(r.Context())
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.header != "" {
				req.Header.Set(RequestIDHeader, tt.header)
			}
			rec := serve(handler, req)

			echoed := rec.Header().Get(RequestIDHeader)
			if echoed != seen {
				t.Errorf("response header = %q, context = %q, want them equal", echoed, seen)
			}
			if tt.reuse && seen != tt.header {
				t.Errorf("request id = %q, want the caller's %q", seen, tt.header)
			}
			if !tt.reuse && !hexRequestID.MatchString(seen) {
				t.Errorf("request id = %q, want a new 32-digit hex id", seen)
			}
		})
	}
}

func TestRequestIDGeneratedIDsDiffer(t *testing.T) {
	handler := RequestID(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	first := serve(handler, httptest.NewRequest(http.MethodGet, "/", nil)).Header().Get(RequestIDHeader)
	second := serve(handler, httptest.NewRequest(http.MethodGet, "/", nil)).Header().Get(RequestIDHeader)
	if first == second {
		t.Errorf("two requests got the same id %q", first)
	}
}

func TestRequestIDFromWithoutMiddleware(t *testing.T) {
	if got := RequestIDFrom(httptest.NewRequest(http.MethodGet, "/", nil).Context()); got != "" {
		t.Errorf("RequestIDFrom = %q, want empty", got)
	}
}

func TestAccessLogFields(t *testing.T) {
	logger, logs, _ := observed(t)
	router := newRouter(logger, AccessLogOptions{
		ClientIdentity: func(*http.Request) string { return "spiffe://connect/forwarder" },
	})
	req := httptest.NewRequest(http.MethodPost, "/v1/validations?pan="+visaPAN+"&token=secret", strings.NewReader(`{"pan":"`+visaPAN+`"}`))
	req.Header.Set(RequestIDHeader, "req-1")
	req.Header.Set("User-Agent", "forwarder/1.0")
	req.Header.Set("Test-Contact-Id", "c0ffee00-1111-2222-3333-444455556666")
	req.Header.Set("Authorization", "Bearer do-not-log")
	rec := serve(router, req)

	lines := accessLines(logs)
	if len(lines) != 1 {
		t.Fatalf("got %d access log lines, want 1", len(lines))
	}
	line := lines[0]
	if line.Level != zapcore.InfoLevel {
		t.Errorf("level = %v, want info", line.Level)
	}
	fields := line.ContextMap()
	want := map[string]any{
		"route":      "/v1/validations",
		"method":     "POST",
		"status":     int64(200),
		"bytes":      int64(rec.Body.Len()),
		"request_id": "req-1",
		"contact_id": "c0ffee00-1111-2222-3333-444455556666",
		"client":     "spiffe://connect/forwarder",
		"user_agent": "forwarder/1.0",
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("%s = %v (%T), want %v (%T)", k, fields[k], fields[k], v, v)
		}
	}
	if ms, ok := fields["duration_ms"].(float64); !ok || ms < 0 {
		t.Errorf("duration_ms = %v, want a non-negative number", fields["duration_ms"])
	}
	if len(fields) != len(want)+1 {
		t.Errorf("fields = %v, want exactly %d", fields, len(want)+1)
	}
	out := encoded(t, line)
	for _, leak := range []string{"token", "secret", "Bearer", "do-not-log", "pan=", "?"} {
		if strings.Contains(out, leak) {
			t.Errorf("access log contains %q:\n%s", leak, out)
		}
	}
}

func TestAccessLogLevels(t *testing.T) {
	tests := []struct {
		status int
		want   zapcore.Level
	}{
		{200, zapcore.InfoLevel},
		{201, zapcore.InfoLevel},
		{204, zapcore.InfoLevel},
		{304, zapcore.InfoLevel},
		{400, zapcore.WarnLevel},
		{404, zapcore.WarnLevel},
		{429, zapcore.WarnLevel},
		{500, zapcore.ErrorLevel},
		{503, zapcore.ErrorLevel},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			logger, logs, _ := observed(t)
			serve(newRouter(logger, AccessLogOptions{}), httptest.NewRequest(http.MethodGet, fmt.Sprintf("/status/%d", tt.status), nil))

			lines := accessLines(logs)
			if len(lines) != 1 {
				t.Fatalf("got %d access log lines, want 1", len(lines))
			}
			if lines[0].Level != tt.want {
				t.Errorf("level = %v, want %v", lines[0].Level, tt.want)
			}
			fields := lines[0].ContextMap()
			if fields["status"] != int64(tt.status) {
				t.Errorf("status = %v, want %d", fields["status"], tt.status)
			}
			if fields["route"] != "/status/{code}" {
				t.Errorf("route = %v, want the pattern, not the path", fields["route"])
			}
			if lines[0].Stack != "" {
				t.Errorf("access line has a stack trace:\n%s", lines[0].Stack)
			}
		})
	}
}

func TestAccessLogRoutePatternOfParameterRoute(t *testing.T) {
	logger, logs, _ := observed(t)
	serve(newRouter(logger, AccessLogOptions{}), httptest.NewRequest(http.MethodGet, "/v1/authorizations/contact-"+visaPAN, nil))

	line := accessLines(logs)[0]
	wantNoDigits(t, encoded(t, line), visaPAN)
	fields := line.ContextMap()
	if fields["route"] != "/v1/authorizations/{idempotencyKey}" {
		t.Errorf("route = %v, want the chi pattern", fields["route"])
	}
	if fields["status"] != int64(404) {
		t.Errorf("status = %v, want 404", fields["status"])
	}
}

func TestAccessLogHeaderInjection(t *testing.T) {
	logger, logs, _ := observed(t)
	router := newRouter(logger, AccessLogOptions{
		ClientIdentity: func(*http.Request) string { return "client\r\nlevel=error" },
	})
	req := httptest.NewRequest(http.MethodPost, "/v1/validations", nil)
	req.Header["X-Request-Id"] = []string{"good\r\nX-Injected: 1"}
	req.Header["User-Agent"] = []string{"agent\r\n{\"level\":\"error\"}\u2028" + strings.Repeat("x", 400)}
	req.Header.Set("Test-Contact-Id", "contact\r\n"+strings.Repeat("y", 300))
	rec := serve(router, req)

	echoed := rec.Header().Get(RequestIDHeader)
	if !hexRequestID.MatchString(echoed) {
		t.Errorf("response %s = %q, want a new hex id instead of the injected one", RequestIDHeader, echoed)
	}
	if rec.Header().Get("X-Injected") != "" {
		t.Error("injected header reached the response")
	}

	fields := accessLines(logs)[0].ContextMap()
	for _, key := range []string{"request_id", "user_agent", "contact_id", "client"} {
		value, _ := fields[key].(string)
		if strings.ContainsAny(value, "\r\n\u2028") {
			t.Errorf("%s = %q, want CR, LF and line separators removed", key, value)
		}
	}
	if ua := fields["user_agent"].(string); len(ua) != maxUserAgentLength {
		t.Errorf("user_agent has %d bytes, want it cut to %d", len(ua), maxUserAgentLength)
	}
	if id := fields["contact_id"].(string); len(id) != maxContactIDLength || !strings.HasPrefix(id, "contacty") {
		t.Errorf("contact_id = %q, want the control characters removed and the value cut to %d bytes", id, maxContactIDLength)
	}
	if fields["client"] != "clientlevel=error" {
		t.Errorf("client = %q, want CR and LF removed", fields["client"])
	}
}

func TestSanitizeClientValue(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"plain", "curl/8.0", 64, "curl/8.0"},
		{"crlf", "a\r\nb", 64, "ab"},
		{"tab and nul", "a\tb\x00c", 64, "abc"},
		{"line separator", "a\u2028b\u2029c\u0085d", 64, "abcd"},
		{"cut at rune boundary", "aé", 2, "a"},
		{"invalid utf-8", "a\xffb", 64, "a\uFFFDb"},
		{"empty", "", 64, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sanitizeClientValue(tt.in, tt.max); got != tt.want {
				t.Errorf("sanitizeClientValue(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

func TestSetContactIDWithoutAccessLog(t *testing.T) {
	ctx := httptest.NewRequest(http.MethodGet, "/", nil).Context()
	SetContactID(ctx, "contact") // must not panic
	if got := ContactIDFrom(ctx); got != "" {
		t.Errorf("ContactIDFrom = %q, want empty without AccessLog", got)
	}
}

func TestRecoverAnswers500Envelope(t *testing.T) {
	tests := []struct {
		kind      string
		wantType  string
		wantText  string // "" means no panic text is logged
		wantScrub int
	}{
		{"string", "string", "card " + visaMasked, 1},
		{"error", "*errors.errorString", "gateway returned " + visaMasked, 1},
		{"struct", "struct { Number string }", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			logger, logs, counts := observed(t)
			req := httptest.NewRequest(http.MethodGet, "/panic/"+tt.kind, strings.NewReader(`{"pan":"`+visaPAN+`"}`))
			req.Header.Set(RequestIDHeader, "req-42")
			rec := serve(newRouter(logger, AccessLogOptions{}), req)

			if rec.Code != http.StatusInternalServerError {
				t.Errorf("status = %d, want 500", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var body struct {
				Error struct {
					Code      string `json:"code"`
					Message   string `json:"message"`
					RequestID string `json:"requestId"`
				} `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, rec.Body.String())
			}
			if body.Error.Code != "internal" || body.Error.Message != "internal error" || body.Error.RequestID != "req-42" {
				t.Errorf("body = %s, want the internal error envelope with request id req-42", rec.Body.String())
			}

			panics := logs.FilterMessage("handler panicked").All()
			if len(panics) != 1 {
				t.Fatalf("got %d panic lines, want 1", len(panics))
			}
			fields := panics[0].ContextMap()
			if panics[0].Level != zapcore.ErrorLevel {
				t.Errorf("level = %v, want error", panics[0].Level)
			}
			if fields["panic_type"] != tt.wantType {
				t.Errorf("panic_type = %v, want %q", fields["panic_type"], tt.wantType)
			}
			if text, logged := fields["panic"]; tt.wantText == "" && logged {
				t.Errorf("panic text %q logged for a %s value", text, tt.kind)
			} else if tt.wantText != "" && text != tt.wantText {
				t.Errorf("panic = %v, want %q", text, tt.wantText)
			}
			if stack, _ := fields["stack"].(string); !strings.Contains(stack, "redact.newRouter") {
				t.Errorf("stack does not reach the panicking handler:\n%s", stack)
			}
			if fields["request_id"] != "req-42" || fields["route"] != "/panic/{kind}" {
				t.Errorf("request_id = %v, route = %v, want req-42 and the pattern", fields["request_id"], fields["route"])
			}

			access := accessLines(logs)
			if len(access) != 1 || access[0].ContextMap()["status"] != int64(500) || access[0].Level != zapcore.ErrorLevel {
				t.Errorf("access log = %+v, want one error line with status 500", access)
			}
			for _, entry := range logs.All() {
				wantNoDigits(t, encoded(t, entry), visaPAN)
			}
			counts.wantCounts(t, map[string]int{KindPANInField: tt.wantScrub})
		})
	}
}

func TestRecoverRepanicsAbortHandler(t *testing.T) {
	logger, logs, _ := observed(t)
	router := newRouter(logger, AccessLogOptions{})

	got := panicValue(func() { serve(router, httptest.NewRequest(http.MethodGet, "/panic/abort", nil)) })
	if got != http.ErrAbortHandler {
		t.Errorf("panic value = %v, want http.ErrAbortHandler", got)
	}
	if n := logs.FilterMessage("handler panicked").Len(); n != 0 {
		t.Errorf("got %d panic lines for ErrAbortHandler, want 0", n)
	}
	access := accessLines(logs)
	if len(access) != 1 || access[0].Message != "request aborted" || access[0].ContextMap()["aborted"] != true {
		t.Errorf("access log = %+v, want one aborted line", access)
	}
}

func TestRecoverAfterHeaderSentAborts(t *testing.T) {
	logger, logs, _ := observed(t)
	router := newRouter(logger, AccessLogOptions{})

	var rec *httptest.ResponseRecorder
	got := panicValue(func() { rec = serve(router, httptest.NewRequest(http.MethodGet, "/panic/after-write", nil)) })
	if got != http.ErrAbortHandler {
		t.Errorf("panic value = %v, want http.ErrAbortHandler so net/http breaks the response", got)
	}
	if rec != nil {
		t.Error("serve returned, want the panic to reach net/http")
	}
	panics := logs.FilterMessage("handler panicked").All()
	if len(panics) != 1 || panics[0].ContextMap()["header_sent"] != true {
		t.Errorf("panic lines = %+v, want one with header_sent=true", panics)
	}
}

// TestRecoverOverRealServer checks the response through net/http: a client
// of a real loopback server gets the 500 envelope and the request id.
func TestRecoverOverRealServer(t *testing.T) {
	logger, _, _ := observed(t)
	server := httptest.NewServer(newRouter(logger, AccessLogOptions{}))
	defer server.Close()

	resp, err := server.Client().Get(server.URL + "/panic/string")
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), `"code":"internal"`) {
		t.Errorf("got %d %s, want 500 with the envelope", resp.StatusCode, body)
	}
	if resp.Header.Get(RequestIDHeader) == "" {
		t.Error("response lacks the request id header")
	}
}

func TestRecoverWithPlainLoggerStillScrubs(t *testing.T) {
	inner, logs := observer.New(zapcore.DebugLevel)
	plain := zap.New(inner)
	handler := Recover(plain)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("card " + visaPAN)
	}))
	serve(handler, httptest.NewRequest(http.MethodGet, "/", nil))

	for _, entry := range logs.All() {
		wantNoDigits(t, encoded(t, entry), visaPAN)
	}
	if logs.Len() != 1 {
		t.Errorf("got %d lines, want 1", logs.Len())
	}
}

func panicValue(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}
