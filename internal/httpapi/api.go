// Package httpapi is the processor's HTTP API: the chi router, the
// validation and authorization handlers, the error envelope, the request
// limits and the audit trail of every access to card data. Its contract is
// api/openapi.yaml.
package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/connect-secure-input/processor/internal/authorize"
	"github.com/connect-secure-input/processor/internal/card"
	"github.com/connect-secure-input/processor/internal/decrypt"
	"github.com/connect-secure-input/processor/internal/redact"
)

// Defaults of Config.
const (
	// DefaultMaxConcurrent bounds requests served at once; more get 503
	// overloaded at once instead of queueing past Connect's deadline.
	// Each request costs a few milliseconds of CPU for RSA decryption, so a
	// 2-vCPU task is saturated well below this; the limit exists to bound
	// memory and waiting, not to share CPU.
	DefaultMaxConcurrent = 128
	// DefaultMaxAmount bounds an authorization amount in minor units
	// (10 million in a two-decimal currency), against a typo of a few
	// extra digits.
	DefaultMaxAmount = 1_000_000_000
)

// Config holds the API's limits. Zero fields take the defaults.
type Config struct {
	MaxBodyBytes   int
	MaxConcurrent  int
	MaxAmount      int64
	ExpiryMaxYears int
}

// Observer receives the API's events for metrics. A nil Observer is allowed.
type Observer interface {
	RequestServed(route, method string, status int, d time.Duration)
	InFlight(delta int)
	Overloaded()
	Decrypted(scheme, outcome string, d time.Duration)
	Validated(field, reason string)
}

// Deps are the parts the API calls.
type Deps struct {
	Decrypter  *decrypt.Decrypter
	Authorizer *authorize.Service
	Cards      *card.Fingerprinter
	Observer   Observer
	Logger     *zap.Logger
	// Audit receives one event per access to card data. It should be a
	// logger named "audit" so it can be routed to the one-year archive; nil
	// means Logger.Named("audit").
	Audit *zap.Logger
	// Identity returns the verified client certificate identity of a
	// request, for the access log and the audit trail.
	Identity func(*http.Request) string
	Now      func() time.Time
}

// API serves the /v1 endpoints.
type API struct {
	cfg      Config
	dec      *decrypt.Decrypter
	auth     *authorize.Service
	cards    *card.Fingerprinter
	obs      Observer
	log      *zap.Logger
	audit    *zap.Logger
	identity func(*http.Request) string
	now      func() time.Time
	slots    chan struct{}
}

// New checks cfg and deps.
func New(cfg Config, deps Deps) (*API, error) {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.MaxAmount == 0 {
		cfg.MaxAmount = DefaultMaxAmount
	}
	if cfg.ExpiryMaxYears == 0 {
		cfg.ExpiryMaxYears = card.DefaultMaxYearsAhead
	}
	if deps.Decrypter == nil || deps.Authorizer == nil || deps.Cards == nil {
		return nil, errors.New("decrypter, authorizer and card fingerprinter are required")
	}
	if cfg.MaxBodyBytes < 1024 || cfg.MaxConcurrent < 1 {
		return nil, errors.New("maximum body size must be at least 1024 bytes and maximum concurrency at least 1")
	}
	if deps.Logger == nil {
		deps.Logger = zap.NewNop()
	}
	if deps.Audit == nil {
		deps.Audit = deps.Logger.Named("audit")
	}
	if deps.Identity == nil {
		deps.Identity = func(*http.Request) string { return "" }
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &API{
		cfg: cfg, dec: deps.Decrypter, auth: deps.Authorizer, cards: deps.Cards, obs: deps.Observer,
		log: deps.Logger, audit: deps.Audit, identity: deps.Identity, now: deps.Now,
		slots: make(chan struct{}, cfg.MaxConcurrent),
	}, nil
}

// Routes of the API, as chi patterns; metrics and the access log use them.
const (
	RouteValidations       = "/v1/validations"
	RouteAuthorizations    = "/v1/authorizations"
	RouteAuthorizationByID = "/v1/authorizations/{idempotencyKey}"
)

// Handler returns the router with its middleware: request id, access log,
// panic recovery, metrics and the concurrency limit, in that order, so the
// access log and the metrics see the final status of every request.
func (a *API) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(redact.RequestID)
	r.Use(redact.AccessLog(a.log, redact.AccessLogOptions{ClientIdentity: a.identity}))
	r.Use(redact.Recover(a.log))
	r.Use(a.observe)
	r.Use(a.limitConcurrency)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, newAPIError(http.StatusNotFound, CodeNotFound, "no such endpoint; see api/openapi.yaml"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, newAPIError(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "this endpoint does not accept "+sanitizeMethod(r.Method)))
	})
	r.Post(RouteValidations, a.createValidation)
	r.Post(RouteAuthorizations, a.createAuthorization)
	r.Get(RouteAuthorizationByID, a.getAuthorization)
	return r
}

func sanitizeMethod(m string) string {
	if len(m) > 16 {
		return "this method"
	}
	for _, c := range m {
		if c < 'A' || c > 'Z' {
			return "this method"
		}
	}
	return m
}

// observe records the request metrics with the route pattern.
func (a *API) observe(next http.Handler) http.Handler {
	if a.obs == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		a.obs.InFlight(1)
		defer a.obs.InFlight(-1)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		a.obs.RequestServed(route, r.Method, sw.status, time.Since(start))
	})
}

// limitConcurrency responds 503 overloaded when MaxConcurrent requests are
// already being served, instead of queueing without bound.
func (a *API) limitConcurrency(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case a.slots <- struct{}{}:
			defer func() { <-a.slots }()
			next.ServeHTTP(w, r)
		default:
			if a.obs != nil {
				a.obs.Overloaded()
			}
			a.writeError(w, r, &apiError{Status: http.StatusServiceUnavailable, Code: CodeOverloaded, Retryable: true,
				Message: "the service is at its concurrency limit; retry shortly"})
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
