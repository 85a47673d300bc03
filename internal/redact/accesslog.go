package redact

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Length caps, in bytes, for values in the access log that a client chose.
const (
	maxContactIDLength = 128
	maxUserAgentLength = 256
	maxIdentityLength  = 256
	maxMethodLength    = 16
)

// AccessLogOptions configures AccessLog.
type AccessLogOptions struct {
	// ClientIdentity returns the identity of the request's client
	// certificate (for example its URI SAN or subject CN), logged as
	// "client". Nil or an empty result logs no client field.
	ClientIdentity func(r *http.Request) string
}

// requestInfo holds what a handler records for the access log line. The
// handler and the middleware run on one goroutine, but a handler may hand
// the context to goroutines of its own, hence the mutex.
type requestInfo struct {
	mu        sync.Mutex
	contactID string
}

type requestInfoKey struct{}

// SetContactID records the Amazon Connect contact id of the request for the
// access log line. Control characters (CR and LF among them) are removed
// and the value is cut to 128 bytes. It does nothing when AccessLog did not
// run for ctx.
func SetContactID(ctx context.Context, contactID string) {
	info, ok := ctx.Value(requestInfoKey{}).(*requestInfo)
	if !ok {
		return
	}
	info.mu.Lock()
	defer info.mu.Unlock()
	info.contactID = sanitizeClientValue(contactID, maxContactIDLength)
}

// ContactIDFrom returns the contact id that SetContactID recorded in ctx, or
// "".
func ContactIDFrom(ctx context.Context) string {
	info, ok := ctx.Value(requestInfoKey{}).(*requestInfo)
	if !ok {
		return ""
	}
	info.mu.Lock()
	defer info.mu.Unlock()
	return info.contactID
}

// AccessLog is chi middleware that writes one line per request to logger
// once the handler returns, at info level for 1xx to 3xx, warn for 4xx and
// error for 5xx. The line has the route pattern (never the raw path), method,
// status, bytes written, duration in milliseconds, request id, and, when
// known, the contact id, the client certificate identity and the User-Agent
// header. It never logs the body, the query string or any other header.
//
// Install it with the router's Use, after RequestID and before Recover, so
// that chi's route context exists and a recovered panic is logged with its
// 500. A request whose handler panics through the middleware (no Recover, or
// http.ErrAbortHandler) is logged at error level with aborted=true.
func AccessLog(logger *zap.Logger, opts AccessLogOptions) func(http.Handler) http.Handler {
	// The line's caller and stack would always point here, so both are off.
	logger = ensureRedacted(logger).WithOptions(zap.WithCaller(false), zap.AddStacktrace(noLevel))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			info := &requestInfo{}
			r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)

			completed := false
			defer func() {
				logRequest(logger, r, ww, accessLogEntry{
					elapsed:   time.Since(start),
					aborted:   !completed,
					contactID: ContactIDFrom(r.Context()),
					identity:  clientIdentity(opts.ClientIdentity, r),
				})
			}()
			next.ServeHTTP(ww, r)
			completed = true
		})
	}
}

// accessLogEntry holds the facts of a finished request that neither the
// request nor the response writer carries.
type accessLogEntry struct {
	elapsed   time.Duration
	aborted   bool
	contactID string
	identity  string
}

func logRequest(logger *zap.Logger, r *http.Request, ww middleware.WrapResponseWriter, e accessLogEntry) {
	status := ww.Status()
	if status == 0 && !e.aborted {
		// The handler wrote nothing, so net/http sends 200.
		status = http.StatusOK
	}

	fields := []zap.Field{
		zap.String("route", chi.RouteContext(r.Context()).RoutePattern()),
		zap.String("method", sanitizeClientValue(r.Method, maxMethodLength)),
		zap.Int("status", status),
		zap.Int("bytes", ww.BytesWritten()),
		zap.Float64("duration_ms", float64(e.elapsed.Microseconds())/1000),
		zap.String("request_id", RequestIDFrom(r.Context())),
	}
	if e.contactID != "" {
		fields = append(fields, zap.String("contact_id", e.contactID))
	}
	if e.identity != "" {
		fields = append(fields, zap.String("client", e.identity))
	}
	if ua := sanitizeClientValue(r.UserAgent(), maxUserAgentLength); ua != "" {
		fields = append(fields, zap.String("user_agent", ua))
	}

	if e.aborted {
		fields = append(fields, zap.Bool("aborted", true))
		logger.Error("request aborted", fields...)
		return
	}
	logger.Log(levelForStatus(status), "request", fields...)
}

func clientIdentity(identify func(*http.Request) string, r *http.Request) string {
	if identify == nil {
		return ""
	}
	return sanitizeClientValue(identify(r), maxIdentityLength)
}

func levelForStatus(status int) zapcore.Level {
	switch {
	case status >= 500:
		return zapcore.ErrorLevel
	case status >= 400:
		return zapcore.WarnLevel
	default:
		return zapcore.InfoLevel
	}
}

// noLevel enables no level, to switch off zap's automatic stack traces.
var noLevel = zap.LevelEnablerFunc(func(zapcore.Level) bool { return false })

// sanitizeClientValue removes control characters (CR and LF among them),
// DEL and the Unicode line and paragraph separators from a value a client
// chose, replaces invalid UTF-8, and cuts it to at most maxBytes bytes at a
// character boundary.
func sanitizeClientValue(s string, maxBytes int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0x85 || r == '\u2028' || r == '\u2029' {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > maxBytes {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
