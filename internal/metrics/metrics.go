// Package metrics defines the service's Prometheus metrics on a private
// registry, served by Handler on the ops listener.
//
// Other packages report events through plain methods (Decrypted, Validated,
// HandshakeFailed, ...) and hook adapters (VaultHooks), so none of them
// imports Prometheus. Every label value passed at run time is checked
// against the label's bounded set and becomes Other when unknown. Series
// whose labels are known up front start at zero, so rate() and increase()
// see the first event.
package metrics

import (
	"net/http"
	"runtime"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/connect-secure-input/processor/internal/gateway"
)

const namespace = "processor"

// durationBuckets are the upper bounds, in seconds, of every latency
// histogram. They span 1 ms (a validation) to 10 s, past the 8 s that
// Amazon Connect waits for a Lambda, with 8 s itself as a bound so the
// share of requests over Connect's limit can be read directly.
var durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 8, 10}

// Metrics holds the service's collectors. All methods are safe for
// concurrent use.
type Metrics struct {
	registry *prometheus.Registry

	httpRequests       *prometheus.CounterVec
	httpDuration       *prometheus.HistogramVec
	httpInFlight       prometheus.Gauge
	overloadRejections prometheus.Counter

	decrypts        *prometheus.CounterVec
	decryptDuration *prometheus.HistogramVec
	validations     *prometheus.CounterVec

	authorizations  *prometheus.CounterVec
	gatewayRequests *prometheus.CounterVec
	gatewayDuration *prometheus.HistogramVec

	vaultEntries     prometheus.Gauge
	vaultBytes       prometheus.Gauge
	vaultCapacity    prometheus.Gauge
	vaultExpirations prometheus.Counter
	vaultWipes       *prometheus.CounterVec
	vaultRejections  prometheus.Counter

	handshakeFailures *prometheus.CounterVec
	certificateExpiry *prometheus.GaugeVec
	scrubs            *prometheus.CounterVec
	kmsReachable      *optionalGauge
	storeErrors       *prometheus.CounterVec
	recoverySteps     *prometheus.CounterVec
	buildInfo         *prometheus.GaugeVec
}

// New returns the metrics of one process, registered on a registry of their
// own together with the Go runtime and process collectors. version is the
// build's version and fips140 whether Go's FIPS 140-3 module is on; both go
// into processor_build_info.
func New(version string, fips140 bool) *Metrics {
	m := &Metrics{registry: prometheus.NewRegistry()}
	m.registerHTTP()
	m.registerCardData()
	m.registerAuthorizations()
	m.registerVault()
	m.registerOperations()
	m.registerBuildInfo(version, fips140)
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler returns the HTTP handler that serves the registry in the
// Prometheus text format. A collector that fails does not fail the scrape:
// the other metrics are still served, and the failure is counted in
// promhttp_metric_handler_errors_total.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		Registry:      m.registry,
		ErrorHandling: promhttp.ContinueOnError,
	})
}

func (m *Metrics) registerHTTP() {
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "http_requests_total",
		Help:      "API responses sent, by chi route pattern, method and HTTP status code.",
	}, []string{"route", "method", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "http_request_duration_seconds",
		Help:      "API request latency in seconds, by chi route pattern and method.",
		Buckets:   durationBuckets,
	}, []string{"route", "method"})
	m.httpInFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "http_in_flight_requests",
		Help:      "API requests being served.",
	})
	m.overloadRejections = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "http_overload_rejections_total",
		Help:      "API requests rejected with 503 overloaded by the concurrency limit.",
	})
	m.registry.MustRegister(m.httpRequests, m.httpDuration, m.httpInFlight, m.overloadRejections)

	// NOTE: processor_http_requests_total starts no series at zero, because
	// its code label takes values that are not known up front. The
	// histogram's _count starts at zero for every route instead.
	for _, r := range apiRoutes {
		m.httpDuration.WithLabelValues(r.route, r.method)
	}
}

func (m *Metrics) registerCardData() {
	m.decrypts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "decrypt_total",
		Help:      "Decrypt attempts, by scheme and outcome (ok or a decrypt error code).",
	}, []string{"scheme", "outcome"})
	m.decryptDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "decrypt_duration_seconds",
		Help:      "Decrypt latency in seconds, by scheme.",
		Buckets:   durationBuckets,
	}, []string{"scheme"})
	m.validations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "validations_total",
		Help:      "Card data validations, by field and reason (valid or a card error code).",
	}, []string{"field", "reason"})
	m.registry.MustRegister(m.decrypts, m.decryptDuration, m.validations)

	for _, scheme := range decryptSchemeLabels.values {
		m.decryptDuration.WithLabelValues(scheme)
		for _, outcome := range decryptOutcomeLabels.values {
			m.decrypts.WithLabelValues(scheme, outcome)
		}
	}
	for _, field := range validationFieldLabels.values {
		for _, reason := range validationReasonLabels.values {
			m.validations.WithLabelValues(field, reason)
		}
	}
}

func (m *Metrics) registerAuthorizations() {
	m.authorizations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "authorizations_total",
		Help:      "Authorization outcomes, by status and normalized decline code (none unless declined).",
	}, []string{"status", "decline_code"})
	m.gatewayRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "gateway_requests_total",
		Help:      "Card gateway calls, by gateway, operation and outcome.",
	}, []string{"gateway", "operation", "outcome"})
	m.gatewayDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "gateway_request_duration_seconds",
		Help:      "Card gateway call latency in seconds, by gateway and operation.",
		Buckets:   durationBuckets,
	}, []string{"gateway", "operation"})
	m.registry.MustRegister(m.authorizations, m.gatewayRequests, m.gatewayDuration)

	// Only declines carry a decline code, so the other statuses start with
	// "none" alone.
	for _, status := range authorizationStatusLabels.values {
		if status != string(gateway.StatusDeclined) {
			m.authorizations.WithLabelValues(status, DeclineCodeNone)
			continue
		}
		for _, code := range gateway.DeclineCodes {
			m.authorizations.WithLabelValues(status, string(code))
		}
	}
	for _, gw := range gatewayLabels.values {
		for _, op := range gatewayOperationLabels.values {
			m.gatewayDuration.WithLabelValues(gw, op)
			for _, outcome := range gatewayOutcomeLabels.values {
				m.gatewayRequests.WithLabelValues(gw, op, outcome)
			}
		}
	}
}

func (m *Metrics) registerVault() {
	m.vaultEntries = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "vault_entries",
		Help:      "Sensitive-data entries held in the vault.",
	})
	m.vaultBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "vault_bytes",
		Help:      "Sensitive plaintext bytes held in the vault.",
	})
	m.vaultCapacity = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "vault_capacity_entries",
		Help:      "Configured maximum number of vault entries.",
	})
	m.vaultExpirations = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "vault_expirations_total",
		Help:      "Vault entries wiped at their deadline.",
	})
	m.vaultWipes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "vault_wipes_total",
		Help:      "Vault entries wiped, by reason.",
	}, []string{"reason"})
	m.vaultRejections = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "vault_rejections_total",
		Help:      "Vault Put calls rejected because the vault was full.",
	})
	m.registry.MustRegister(m.vaultEntries, m.vaultBytes, m.vaultCapacity, m.vaultExpirations, m.vaultWipes, m.vaultRejections)

	for _, reason := range wipeReasonLabels.values {
		m.vaultWipes.WithLabelValues(reason)
	}
}

func (m *Metrics) registerOperations() {
	m.handshakeFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "tls_handshake_failures_total",
		Help:      "Failed mTLS handshakes on the API listener, by reason.",
	}, []string{"reason"})
	m.certificateExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "certificate_expiry_timestamp_seconds",
		Help:      "NotAfter of the loaded certificates in Unix seconds, by certificate (server, client_ca).",
	}, []string{"certificate"})
	m.scrubs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "redaction_scrubs_total",
		Help:      "Values the log redaction layer removed, by kind. Any increase is a leak attempt caught.",
	}, []string{"kind"})
	m.kmsReachable = &optionalGauge{gauge: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "kms_reachable",
		Help:      "1 when the last cached KMS check succeeded, 0 when it failed; absent when no KMS key is configured.",
	})}
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "store_errors_total",
		Help:      "Authorization store failures, by operation.",
	}, []string{"operation"})
	m.recoverySteps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "recovery_steps_total",
		Help:      "Steps of recovering authorizations that a stopped task left in flight, by step.",
	}, []string{"step"})
	m.registry.MustRegister(m.handshakeFailures, m.certificateExpiry, m.scrubs, m.kmsReachable, m.storeErrors, m.recoverySteps)

	// The certificate gauges start only when a certificate is loaded: a zero
	// timestamp would read as a certificate that expired in 1970.
	for _, reason := range handshakeReasonLabels.values {
		m.handshakeFailures.WithLabelValues(reason)
	}
	for _, kind := range scrubKindLabels.values {
		m.scrubs.WithLabelValues(kind)
	}
	for _, op := range storeOperationLabels.values {
		m.storeErrors.WithLabelValues(op)
	}
	for _, step := range recoveryStepLabels.values {
		m.recoverySteps.WithLabelValues(step)
	}
}

func (m *Metrics) registerBuildInfo(version string, fips140 bool) {
	m.buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "build_info",
		Help:      "Always 1, with the build's version, Go version and FIPS 140-3 mode as labels.",
	}, []string{"version", "goversion", "fips140"})
	m.registry.MustRegister(m.buildInfo)

	mode := "off"
	if fips140 {
		mode = "on"
	}
	m.buildInfo.WithLabelValues(versionLabel(version), runtime.Version(), mode).Set(1)
}

// optionalGauge is a gauge that is exported only once enabled, for a value
// that has no meaning in some configurations.
type optionalGauge struct {
	gauge   prometheus.Gauge
	enabled atomic.Bool
}

// Describe sends the gauge's descriptor, enabled or not, so the registry
// checks the name once at registration.
func (g *optionalGauge) Describe(ch chan<- *prometheus.Desc) { g.gauge.Describe(ch) }

// Collect sends the gauge only when enabled.
func (g *optionalGauge) Collect(ch chan<- prometheus.Metric) {
	if g.enabled.Load() {
		g.gauge.Collect(ch)
	}
}
