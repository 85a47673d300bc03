package metrics

import (
	"slices"
	"strconv"
	"strings"

	"github.com/connect-secure-input/processor/internal/card"
	"github.com/connect-secure-input/processor/internal/decrypt"
	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/redact"
	"github.com/connect-secure-input/processor/internal/tlsconfig"
	"github.com/connect-secure-input/processor/internal/ttl"
)

// Other is the label value that replaces any value outside a label's bounded
// set, so a bug in a caller can neither create unbounded series nor put data
// (a card number, a contact id) into a label.
const Other = "other"

// labelSet is the bounded set of values one label may take.
type labelSet struct {
	values []string
}

func newLabelSet(values ...string) labelSet {
	return labelSet{values: values}
}

// bound returns v when it is in the set and Other otherwise.
func (s labelSet) bound(v string) string {
	if slices.Contains(s.values, v) {
		return v
	}
	return Other
}

// The API's routes as chi route patterns, the route label's known values.
const (
	RouteValidations   = "/v1/validations"
	RouteAuthorize     = "/v1/authorizations"
	RouteAuthorization = "/v1/authorizations/{idempotencyKey}"
)

// apiRoutes pairs each route with its method, for the series that start at
// zero.
var apiRoutes = []struct{ route, method string }{
	{RouteValidations, "POST"},
	{RouteAuthorize, "POST"},
	{RouteAuthorization, "GET"},
}

// Outcome label values shared by several metrics.
const (
	// OutcomeOK is a decrypt or gateway call that succeeded.
	OutcomeOK = "ok"
	// ReasonValid is a validation that passed.
	ReasonValid = "valid"
	// DeclineCodeNone is the decline_code of an authorization that was not
	// declined.
	DeclineCodeNone = "none"
)

// Label values of processor_gateway_requests_total that are not gateway
// package constants.
const (
	GatewaySimulator = "simulator"
	GatewayStripe    = "stripe"

	GatewayOutcomeDeclined = "declined"
	GatewayOutcomeError    = "error"
	GatewayOutcomeTimeout  = "timeout"
)

// The bounded set of every label.
var (
	routeLabels  = newLabelSet(RouteValidations, RouteAuthorize, RouteAuthorization)
	methodLabels = newLabelSet("GET", "POST")

	decryptSchemeLabels  = newLabelSet(string(decrypt.SchemeConnectRSA), string(decrypt.SchemeKMS), string(decrypt.SchemeUnknown))
	decryptOutcomeLabels = newLabelSet(decryptOutcomes()...)

	validationFieldLabels  = newLabelSet("pan", "expiry", "cvv")
	validationReasonLabels = newLabelSet(
		ReasonValid,
		card.CodePANNotDigits, card.CodePANLength, card.CodePANLuhn, card.CodePANBrandLength,
		card.CodeExpiryFormat, card.CodeExpiryMonth, card.CodeExpiryPast, card.CodeExpiryTooFar,
		card.CodeCVVFormat, card.CodeCVVLengthForBrand,
	)

	authorizationStatusLabels = newLabelSet(
		string(gateway.StatusApproved), string(gateway.StatusDeclined), string(gateway.StatusPending),
		string(gateway.StatusFailed), string(gateway.StatusVoided),
	)
	declineCodeLabels = newLabelSet(declineCodes()...)

	gatewayLabels          = newLabelSet(GatewaySimulator, GatewayStripe)
	gatewayOperationLabels = newLabelSet(string(gateway.OpAuthorize), string(gateway.OpVoid), string(gateway.OpLookup))
	gatewayOutcomeLabels   = newLabelSet(OutcomeOK, GatewayOutcomeDeclined, GatewayOutcomeError, GatewayOutcomeTimeout)

	wipeReasonLabels = newLabelSet(string(ttl.WipeTaken), string(ttl.WipeDeleted), string(ttl.WipeExpired), string(ttl.WipeClosed))

	handshakeReasonLabels = newLabelSet(
		tlsconfig.ReasonNoClientCertificate, tlsconfig.ReasonUnknownAuthority, tlsconfig.ReasonExpiredCertificate,
		tlsconfig.ReasonClientNotAllowed, tlsconfig.ReasonProtocolVersion, tlsconfig.ReasonOther,
	)
	certificateLabels = newLabelSet(tlsconfig.CertificateServer, tlsconfig.CertificateClientCA)
	scrubKindLabels   = newLabelSet(redact.ScrubKinds...)

	// storeOperationLabels are the authorization store's methods in
	// snake_case.
	storeOperationLabels = newLabelSet(
		"claim", "get", "transition", "renew_lease", "list_expired", "take_over", "delete_older_than", "ping",
	)
	// recoveryStepLabels are the steps of recovering an authorization that
	// another task left in flight (internal/authorize).
	recoveryStepLabels = newLabelSet(
		"taken_over", "voided", "declined", "failed", "not_sent", "void_pending", "lookup_failed", "void_failed", "record_failed",
	)
)

func decryptOutcomes() []string {
	outcomes := []string{OutcomeOK}
	for _, code := range decrypt.Codes {
		outcomes = append(outcomes, string(code))
	}
	return outcomes
}

func declineCodes() []string {
	codes := []string{DeclineCodeNone}
	for _, code := range gateway.DeclineCodes {
		codes = append(codes, string(code))
	}
	return codes
}

// statusCodeLabel returns an HTTP status as text, or Other outside 100-599.
func statusCodeLabel(status int) string {
	if status < 100 || status > 599 {
		return Other
	}
	return strconv.Itoa(status)
}

// maxVersionLength caps the version label of processor_build_info, in bytes.
const maxVersionLength = 64

// versionLabel returns version with every character outside [A-Za-z0-9._+-]
// replaced by '_', cut to 64 bytes, or "unknown" when empty. The version
// comes from the build, not from a request, but it still must not break the
// exposition format.
func versionLabel(version string) string {
	if version == "" {
		return "unknown"
	}
	mapped := strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '+', r == '-':
			return r
		default:
			return '_'
		}
	}, version)
	if len(mapped) > maxVersionLength {
		mapped = mapped[:maxVersionLength]
	}
	return mapped
}
