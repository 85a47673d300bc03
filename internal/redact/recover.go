package redact

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"go.uber.org/zap"
)

// internalErrorBody is the error envelope of the API for a recovered panic.
type internalErrorBody struct {
	Error internalError `json:"error"`
}

type internalError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

// Recover is chi middleware that turns a handler panic into a 500 response
// with the API's error envelope
//
//	{"error":{"code":"internal","message":"internal error","requestId":"..."}}
//
// and one error-level log line with the panic value's type, the stack, the
// route pattern, the method and the request id. The text of the panic value
// is logged, scrubbed by the redaction core, only for errors and strings.
// Other values may be structs that carry request data, so only their type is
// logged. The request body is never logged.
//
// http.ErrAbortHandler is panicked again, as net/http expects, so that the
// server aborts the response without logging a stack. When the handler had
// already sent the status line, a 500 can no longer be sent, so the panic is
// logged and the response aborted with http.ErrAbortHandler: the client sees
// a broken response instead of a truncated one that looks complete.
func Recover(logger *zap.Logger) func(http.Handler) http.Handler {
	// The stack is logged as a field, from the panicking goroutine, so zap's
	// own stack trace (which would start here) is off.
	logger = ensureRedacted(logger).WithOptions(zap.AddStacktrace(noLevel))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}

				headerSent := ww.Status() != 0
				logger.Error("handler panicked", panicFields(v, r, headerSent)...)
				if headerSent {
					panic(http.ErrAbortHandler)
				}
				writeInternalError(ww, RequestIDFrom(r.Context()))
			}()
			next.ServeHTTP(ww, r)
		})
	}
}

func panicFields(v any, r *http.Request, headerSent bool) []zap.Field {
	fields := []zap.Field{
		zap.String("panic_type", fmt.Sprintf("%T", v)),
	}
	if text, ok := panicText(v); ok {
		fields = append(fields, zap.String("panic", text))
	}
	fields = append(fields,
		zap.String("route", chi.RouteContext(r.Context()).RoutePattern()),
		zap.String("method", sanitizeClientValue(r.Method, maxMethodLength)),
		zap.String("request_id", RequestIDFrom(r.Context())),
		zap.Bool("header_sent", headerSent),
		zap.String("stack", string(debug.Stack())),
	)
	return fields
}

// panicText returns the text of an error or string panic value. An Error
// method that panics itself yields its type only, as for other values.
func panicText(v any) (text string, ok bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case error:
		defer func() {
			if recover() != nil {
				text, ok = "", false
			}
		}()
		return x.Error(), true
	default:
		return "", false
	}
}

func writeInternalError(w http.ResponseWriter, requestID string) {
	body, _ := json.Marshal(internalErrorBody{Error: internalError{ // a struct of strings always encodes
		Code:      "internal",
		Message:   "internal error",
		RequestID: requestID,
	}})
	header := w.Header()
	// Headers the handler set for the body it never finished would
	// describe the wrong body.
	header.Del("Content-Length")
	header.Del("Content-Encoding")
	header.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(body)
}
