package redact

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

// RequestIDHeader is the header that carries the request id in both
// directions.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLength is the longest caller-supplied request id reused, in
// bytes, as api/openapi.yaml allows. It fits a UUID (36) or a
// ContactId-based id with a suffix.
const maxRequestIDLength = 128

type requestIDKey struct{}

// RequestID is chi middleware that gives every request an id, stores it in
// the request context for RequestIDFrom, and sets it on the response's
// X-Request-Id header.
//
// The caller's X-Request-Id is reused when it is 1 to 128 characters of
// [A-Za-z0-9._:-] and contains no PAN-like run. Otherwise a new random
// 128-bit id in hex replaces it. The character set rules out header and log
// injection, and the PAN check keeps a card number sent there by mistake out
// of responses and records.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// RequestIDFrom returns the request id that RequestID stored in ctx, or ""
// when RequestID did not run.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || isDigit(c) || c == '.' || c == '_' || c == '-' || c == ':'
		if !ok {
			return false
		}
	}
	return !containsPAN(id)
}

// newRequestID returns 128 random bits in hex. An id that happens to contain
// a PAN-like run (2,989 of a million draws in one test run) is drawn again.
// The log core would mask part of it, and the id in the log lines would no
// longer match the one in the response header.
func newRequestID() string {
	var b [16]byte
	for {
		// crypto/rand.Read never returns an error since Go 1.24; it crashes
		// the program if the system's random source fails.
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		if !containsPAN(id) {
			return id
		}
	}
}
