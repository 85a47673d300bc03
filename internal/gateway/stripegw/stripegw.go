// Package stripegw authorizes cards with Stripe PaymentIntents through
// stripe-go.
//
// One authorization is two API calls: create a PaymentMethod from the raw
// card data, then create and confirm a PaymentIntent with it. The
// PaymentIntent uses manual capture unless the request sets automatic, and
// the MOTO exemption for telephone orders. Each call carries an
// Idempotency-Key derived from the request's idempotency key. So a repeat
// from any task gets Stripe's stored response instead of a second
// authorization, for as long as Stripe keeps keys (24 hours).
//
// A void cancels the PaymentIntent. A lookup by idempotency key retrieves
// the PaymentIntent this process created, or searches PaymentIntents by the
// idempotency key in their metadata.
package stripegw

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82"
	"go.uber.org/zap"

	"github.com/connect-secure-input/processor/internal/gateway"
)

// Name is the adapter's Authorizer name.
const Name = "stripe"

// Metadata keys that the adapter sets on every PaymentIntent.
const (
	MetadataIdempotencyKey    = "idempotency_key"
	MetadataContactID         = "contact_id"
	MetadataMerchantReference = "merchant_reference"
)

// Defaults for Config.
const (
	// DefaultBaseURL is Stripe's API.
	DefaultBaseURL = stripe.APIURL
	// DefaultRequestTimeout bounds one HTTP call when the caller's context
	// has no earlier deadline.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultSearchLag is how long after sending a key a search that misses
	// it counts as incomplete rather than not found. Stripe documents that
	// search data is normally current within a minute and can lag by up to
	// an hour during outages (stripe-go v82.5.1, PaymentIntents Search).
	DefaultSearchLag = 2 * time.Minute
	// DefaultTrackedKeys bounds the idempotency keys the adapter remembers.
	DefaultTrackedKeys = 10_000
	// keyRetention matches the 24 hours for which Stripe keeps idempotency
	// keys; after it a repeat would be a new authorization anyway.
	keyRetention = 24 * time.Hour
	// searchLimit is the page size of a lookup search. One key should match
	// one PaymentIntent; more than one means a double authorization.
	searchLimit = 10
)

// Config configures the adapter. APIKey is required.
type Config struct {
	// APIKey is the Stripe secret or restricted key (sk_... or rk_...).
	APIKey string
	// BaseURL is the API base URL; empty means DefaultBaseURL. It must be
	// https, except on a loopback host, where http is allowed for
	// stripe-mock.
	BaseURL string
	// HTTPClient sends the requests; nil means a client of its own with
	// DefaultRequestTimeout.
	HTTPClient *http.Client
	// MaxNetworkRetries is how often stripe-go itself retries a failed call
	// with the same idempotency key. The default, 0, leaves retries to the
	// caller, whose time budget stripe-go's fixed back-off sleeps ignore.
	MaxNetworkRetries int64
	// SearchLag is the window after sending a key in which a search miss is
	// CodeLookupIncomplete; zero means DefaultSearchLag.
	SearchLag time.Duration
	// TrackedKeys bounds the keys remembered for lookups; zero means
	// DefaultTrackedKeys.
	TrackedKeys int
	// Logger receives the adapter's own log lines; nil discards them.
	Logger *zap.Logger
	// Now is the clock for the key tracker; nil means time.Now.
	Now func() time.Time

	// libraryLogger replaces the discarding stripe-go logger in tests that
	// show what stripe-go would print.
	libraryLogger stripe.LeveledLoggerInterface
}

// Adapter implements gateway.Authorizer with Stripe. It is safe for
// concurrent use.
type Adapter struct {
	client     *stripe.Client
	httpClient *http.Client
	logger     *zap.Logger
	searchLag  time.Duration
	now        func() time.Time
	sent       *sentKeys
}

var _ gateway.Authorizer = (*Adapter)(nil)

// New checks cfg and returns an adapter. It makes no API call.
func New(cfg Config) (*Adapter, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("stripegw: API key is missing: set the Stripe secret key in the configuration")
	}
	baseURL, err := checkBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.MaxNetworkRetries < 0 || cfg.SearchLag < 0 || cfg.TrackedKeys < 0 {
		return nil, errors.New("stripegw: negative retries, search lag or tracked keys in config")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout:   DefaultRequestTimeout,
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
		}
	}
	if cfg.SearchLag == 0 {
		cfg.SearchLag = DefaultSearchLag
	}
	if cfg.TrackedKeys == 0 {
		cfg.TrackedKeys = DefaultTrackedKeys
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.libraryLogger == nil {
		cfg.libraryLogger = discardLogger{}
	}

	backends := stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL:               stripe.String(baseURL),
		HTTPClient:        cfg.HTTPClient,
		LeveledLogger:     cfg.libraryLogger,
		MaxNetworkRetries: stripe.Int64(cfg.MaxNetworkRetries),
		EnableTelemetry:   stripe.Bool(false),
	})
	return &Adapter{
		client:     stripe.NewClient(cfg.APIKey, stripe.WithBackends(backends)),
		httpClient: cfg.HTTPClient,
		logger:     cfg.Logger.With(zap.String("gateway", Name)),
		searchLag:  cfg.SearchLag,
		now:        cfg.Now,
		sent:       newSentKeys(cfg.TrackedKeys, keyRetention),
	}, nil
}

// Name returns "stripe".
func (a *Adapter) Name() string { return Name }

// CloseIdleConnections closes the HTTP client's idle connections, for a
// clean shutdown.
func (a *Adapter) CloseIdleConnections() { a.httpClient.CloseIdleConnections() }

// Authorize creates a PaymentMethod from the card and a confirmed
// PaymentIntent with it. A card decline at either step is a Result with
// StatusDeclined, not an error.
func (a *Adapter) Authorize(ctx context.Context, req gateway.Request) (gateway.Result, error) {
	if err := req.Validate(); err != nil {
		return gateway.Result{}, withName(err)
	}
	log := a.logger.With(zap.String("op", string(gateway.OpAuthorize)), zap.String("idempotency_key", req.IdempotencyKey))

	paymentMethod, err := a.client.V1PaymentMethods.Create(ctx, paymentMethodParams(req))
	if err != nil {
		if declined, ok := declineFromError(err); ok {
			declined.Amount, declined.Currency = req.Amount, req.Currency
			log.Debug("Stripe declined the card data", zap.String("decline_code", declined.GatewayDeclineCode))
			return declined, nil
		}
		return gateway.Result{}, a.fail(log, classify(gateway.OpAuthorize, stagePaymentMethod, err))
	}

	a.sent.markSent(req.IdempotencyKey, a.now())
	paymentIntent, err := a.client.V1PaymentIntents.Create(ctx, paymentIntentParams(req, paymentMethod.ID))
	if err != nil {
		if declined, ok := declineFromError(err); ok {
			declined.Amount, declined.Currency = req.Amount, req.Currency
			if declined.GatewayReference != "" {
				a.sent.setReference(req.IdempotencyKey, declined.GatewayReference)
			}
			log.Debug("Stripe declined the authorization", zap.String("payment_intent", declined.GatewayReference), zap.String("decline_code", declined.GatewayDeclineCode))
			return declined, nil
		}
		return gateway.Result{}, a.fail(log, classify(gateway.OpAuthorize, stagePaymentIntent, err))
	}

	a.sent.setReference(req.IdempotencyKey, paymentIntent.ID)
	result := resultFromPaymentIntent(paymentIntent)
	log.Debug("Stripe returned the authorization", zap.String("payment_intent", result.GatewayReference), zap.String("status", string(result.Status)))
	return result, nil
}

// Void cancels the PaymentIntent named by reference, or found by idempotency
// key. A PaymentIntent that is already canceled returns StatusVoided; one
// whose funds were captured fails with CodeVoidNotAllowed.
func (a *Adapter) Void(ctx context.Context, req gateway.VoidRequest) (gateway.Result, error) {
	if err := req.Validate(); err != nil {
		return gateway.Result{}, withName(err)
	}
	log := a.logger.With(zap.String("op", string(gateway.OpVoid)), zap.String("payment_intent", req.GatewayReference), zap.String("idempotency_key", req.IdempotencyKey))

	id := req.GatewayReference
	if id == "" {
		found, err := a.findByKey(ctx, gateway.OpVoid, req.IdempotencyKey)
		if err != nil {
			return gateway.Result{}, a.fail(log, err)
		}
		if found.Status == stripe.PaymentIntentStatusCanceled {
			return resultFromPaymentIntent(found), nil
		}
		id = found.ID
	}

	canceled, err := a.client.V1PaymentIntents.Cancel(ctx, id, cancelParams(id))
	if err != nil {
		if result, ok := voidResultFromError(err); ok {
			return result, nil
		}
		return gateway.Result{}, a.fail(log, classifyVoid(err))
	}

	// A successful cancel leaves the PaymentIntent canceled. The status is
	// set here because stripe-mock returns a fixture status.
	result := resultFromPaymentIntent(canceled)
	result.Status = gateway.StatusVoided
	log.Debug("Stripe canceled the PaymentIntent", zap.String("canceled_payment_intent", result.GatewayReference))
	return result, nil
}

// Lookup returns the current result of the PaymentIntent created with
// idempotencyKey. It fails with CodeLookupIncomplete, which is retryable,
// when a search misses a key that this process sent less than SearchLag ago.
func (a *Adapter) Lookup(ctx context.Context, idempotencyKey string) (gateway.Result, error) {
	if err := gateway.ValidateIdempotencyKey(gateway.OpLookup, idempotencyKey); err != nil {
		return gateway.Result{}, withName(err)
	}
	log := a.logger.With(zap.String("op", string(gateway.OpLookup)), zap.String("idempotency_key", idempotencyKey))

	found, err := a.findByKey(ctx, gateway.OpLookup, idempotencyKey)
	if err != nil {
		return gateway.Result{}, a.fail(log, err)
	}
	return resultFromPaymentIntent(found), nil
}

// findByKey retrieves the PaymentIntent that this process created for key,
// which is strongly consistent, or else searches by metadata.
//
// Search is used because Stripe's list endpoint cannot filter by metadata,
// so a list would page through every PaymentIntent. stripe-mock v0.203.0
// serves search, with a fixture that carries no metadata. Search lags
// behind writes, hence the SearchLag window.
func (a *Adapter) findByKey(ctx context.Context, op gateway.Op, key string) (*stripe.PaymentIntent, error) {
	if id, ok := a.sent.reference(key, a.now()); ok {
		params := &stripe.PaymentIntentRetrieveParams{}
		params.AddExpand("latest_charge")
		paymentIntent, err := a.client.V1PaymentIntents.Retrieve(ctx, id, params)
		if err != nil {
			return nil, classify(op, stageRead, err)
		}
		return paymentIntent, nil
	}

	params := &stripe.PaymentIntentSearchParams{}
	params.Query = fmt.Sprintf("metadata['%s']:'%s'", MetadataIdempotencyKey, key)
	params.Limit = stripe.Int64(searchLimit)
	params.AddExpand("data.latest_charge")

	var found *stripe.PaymentIntent
	matches, seen := 0, 0
	for paymentIntent, err := range a.client.V1PaymentIntents.Search(ctx, params) {
		if err != nil {
			return nil, classify(op, stageRead, err)
		}
		if paymentIntent.Metadata[MetadataIdempotencyKey] == key {
			matches++
			if found == nil || paymentIntent.Created > found.Created {
				found = paymentIntent
			}
		}
		if seen++; seen >= searchLimit {
			break
		}
	}
	if matches > 1 {
		a.logger.Error("more than one PaymentIntent carries one idempotency key; the newest is used, and the others need a manual check for a double authorization",
			zap.String("idempotency_key", key), zap.Int("payment_intents", matches))
	}
	if found != nil {
		return found, nil
	}

	if sentAt, ok := a.sent.sentAt(key, a.now()); ok {
		if age := a.now().Sub(sentAt); age < a.searchLag {
			return nil, &gateway.Error{
				Gateway:        Name,
				Op:             op,
				Code:           gateway.CodeLookupIncomplete,
				Retryable:      true,
				OutcomeUnknown: true,
				Detail:         fmt.Sprintf("search does not list idempotency key %q, sent %v ago; Stripe search can lag behind writes, so retry", key, age.Round(time.Millisecond)),
			}
		}
	}
	return nil, gateway.NotFoundError(Name, op, fmt.Sprintf("no PaymentIntent has idempotency key %q", key))
}

// fail logs a classified error once and returns it.
func (a *Adapter) fail(log *zap.Logger, err error) error {
	var gwErr *gateway.Error
	if !errors.As(err, &gwErr) {
		log.Warn("Stripe call failed", zap.Error(err))
		return err
	}
	level := zap.WarnLevel
	if gwErr.Code == gateway.CodeNotFound {
		level = zap.DebugLevel
	}
	log.Log(level, "Stripe call failed",
		zap.String("code", string(gwErr.Code)),
		zap.Bool("retryable", gwErr.Retryable),
		zap.Bool("outcome_unknown", gwErr.OutcomeUnknown),
		zap.Int("http_status", gwErr.HTTPStatus),
		zap.String("request_id", gwErr.RequestID),
		zap.Error(err))
	return err
}

// checkBaseURL returns the base URL to use, or an error when it is not https
// and not a loopback http URL.
func checkBaseURL(raw string) (string, error) {
	if raw == "" {
		return DefaultBaseURL, nil
	}
	parsed, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("stripegw: base URL %q is invalid: %w", raw, err)
	}
	if parsed.Host == "" || (parsed.Path != "" && parsed.Path != "/") || parsed.RawQuery != "" {
		return "", fmt.Errorf("stripegw: base URL %q must be a scheme and host only, such as https://api.stripe.com", raw)
	}
	switch parsed.Scheme {
	case "https":
	case "http":
		if !isLoopback(parsed.Hostname()) {
			return "", fmt.Errorf("stripegw: base URL %q uses http on a host that is not loopback: use https", raw)
		}
	default:
		return "", fmt.Errorf("stripegw: base URL %q must use https", raw)
	}
	return strings.TrimSuffix(raw, "/"), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// withName sets the adapter's name on a validation error.
func withName(err error) error {
	var gwErr *gateway.Error
	if !errors.As(err, &gwErr) {
		return err
	}
	named := *gwErr
	named.Gateway = Name
	return &named
}

// discardLogger drops every message of stripe-go. At error level stripe-go
// prints Stripe's error objects, whose messages may echo request
// parameters, and at debug level it prints response bodies. The adapter
// logs its own classified errors instead.
type discardLogger struct{}

func (discardLogger) Debugf(string, ...any) {}
func (discardLogger) Errorf(string, ...any) {}
func (discardLogger) Infof(string, ...any)  {}
func (discardLogger) Warnf(string, ...any)  {}
