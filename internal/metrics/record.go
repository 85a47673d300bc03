package metrics

import (
	"time"

	"github.com/connect-secure-input/processor/internal/redact"
	"github.com/connect-secure-input/processor/internal/tlsconfig"
	"github.com/connect-secure-input/processor/internal/ttl"
)

// The interfaces of other packages that *Metrics and its adapters satisfy.
// *Metrics also has the methods of the HTTP API's observer: RequestServed,
// InFlight, Overloaded, Decrypted and Validated.
var (
	_ redact.ScrubCounter = (*Metrics)(nil)
	_ tlsconfig.Hooks     = (*Metrics)(nil)
	_ ttl.Hooks           = vaultHooks{}
)

// RequestServed counts one API response and observes its latency. route is
// the chi route pattern and status the HTTP status code sent.
func (m *Metrics) RequestServed(route, method string, status int, elapsed time.Duration) {
	route = routeLabels.bound(route)
	method = methodLabels.bound(method)
	m.httpRequests.WithLabelValues(route, method, statusCodeLabel(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(elapsed.Seconds())
}

// InFlight adds delta (+1 when a request starts, -1 when it ends) to the
// number of API requests being served.
func (m *Metrics) InFlight(delta int) {
	m.httpInFlight.Add(float64(delta))
}

// Overloaded counts one request that the concurrency limit rejected with 503
// overloaded.
func (m *Metrics) Overloaded() {
	m.overloadRejections.Inc()
}

// Decrypted counts one decrypt attempt and observes its latency. scheme is a
// decrypt.Scheme and outcome OutcomeOK or a decrypt error code.
func (m *Metrics) Decrypted(scheme, outcome string, elapsed time.Duration) {
	scheme = decryptSchemeLabels.bound(scheme)
	m.decrypts.WithLabelValues(scheme, decryptOutcomeLabels.bound(outcome)).Inc()
	m.decryptDuration.WithLabelValues(scheme).Observe(elapsed.Seconds())
}

// Validated counts one validation of field (pan, expiry or cvv) with reason
// ReasonValid or a card error code.
func (m *Metrics) Validated(field, reason string) {
	m.validations.WithLabelValues(validationFieldLabels.bound(field), validationReasonLabels.bound(reason)).Inc()
}

// GatewayCall counts one card gateway call and observes its latency.
// operation is a gateway.Op and outcome OutcomeOK or one of the
// GatewayOutcome constants.
func (m *Metrics) GatewayCall(gatewayName, operation, outcome string, elapsed time.Duration) {
	gatewayName = gatewayLabels.bound(gatewayName)
	operation = gatewayOperationLabels.bound(operation)
	m.gatewayRequests.WithLabelValues(gatewayName, operation, gatewayOutcomeLabels.bound(outcome)).Inc()
	m.gatewayDuration.WithLabelValues(gatewayName, operation).Observe(elapsed.Seconds())
}

// Authorized counts one authorization outcome. status is a gateway.Status
// and declineCode a gateway.DeclineCode, or "" or DeclineCodeNone when the
// authorization was not declined.
func (m *Metrics) Authorized(status, declineCode string) {
	if declineCode == "" {
		declineCode = DeclineCodeNone
	}
	m.authorizations.WithLabelValues(authorizationStatusLabels.bound(status), declineCodeLabels.bound(declineCode)).Inc()
}

// HandshakeFailed counts one failed mTLS handshake with the TLS package's
// reason.
func (m *Metrics) HandshakeFailed(reason string) {
	m.handshakeFailures.WithLabelValues(handshakeReasonLabels.bound(reason)).Inc()
}

// CertificateLoaded exports the NotAfter of a certificate that was loaded.
// which is tlsconfig.CertificateServer or tlsconfig.CertificateClientCA.
func (m *Metrics) CertificateLoaded(which string, notAfter time.Time) {
	m.certificateExpiry.WithLabelValues(certificateLabels.bound(which)).Set(float64(notAfter.Unix()))
}

// Scrubbed counts one value the log redaction layer changed. kind is one of
// the redact.Kind constants.
func (m *Metrics) Scrubbed(kind string) {
	m.scrubs.WithLabelValues(scrubKindLabels.bound(kind)).Inc()
}

// SetKMSReachable exports the result of the last cached KMS check. When
// configured is false (no KMS key, so only Connect RSA ciphertexts are
// accepted) processor_kms_reachable is not exported at all, so an alert on
// it reading 0 cannot fire.
func (m *Metrics) SetKMSReachable(configured, reachable bool) {
	value := 0.0
	if reachable {
		value = 1
	}
	m.kmsReachable.gauge.Set(value)
	m.kmsReachable.enabled.Store(configured)
}

// StoreError counts one failed authorization store call. operation is the
// store method in snake_case: claim, get, transition, renew_lease,
// list_expired, take_over, delete_older_than or ping.
func (m *Metrics) StoreError(operation string) {
	m.storeErrors.WithLabelValues(storeOperationLabels.bound(operation)).Inc()
}

// Recovered counts one step of recovering an authorization that another
// task left in flight; step is one of recoveryStepLabels.
func (m *Metrics) Recovered(step string) {
	m.recoverySteps.WithLabelValues(recoveryStepLabels.bound(step)).Inc()
}

// SetVaultCapacity exports the vault's configured maximum number of entries.
// Call it once at start-up, before the vault holds anything: the
// near-capacity alert divides by it.
func (m *Metrics) SetVaultCapacity(entries int) {
	m.vaultCapacity.Set(float64(entries))
}

// VaultHooks returns the vault's metric hooks.
func (m *Metrics) VaultHooks() ttl.Hooks {
	return vaultHooks{m: m}
}

// vaultHooks turns vault events into the processor_vault_* series.
type vaultHooks struct {
	m *Metrics
}

// Held exports the entries and plaintext bytes the vault holds.
func (h vaultHooks) Held(entries, bytes int) {
	h.m.vaultEntries.Set(float64(entries))
	h.m.vaultBytes.Set(float64(bytes))
}

// Wiped counts one entry leaving the vault. An expiry also counts in
// processor_vault_expirations_total, so both series agree.
func (h vaultHooks) Wiped(reason ttl.WipeReason) {
	h.m.vaultWipes.WithLabelValues(wipeReasonLabels.bound(string(reason))).Inc()
	if reason == ttl.WipeExpired {
		h.m.vaultExpirations.Inc()
	}
}

// Rejected counts one Put rejected because the vault was full.
func (h vaultHooks) Rejected() {
	h.m.vaultRejections.Inc()
}
