package metrics

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/connect-secure-input/processor/internal/decrypt"
	"github.com/connect-secure-input/processor/internal/deploycheck"
	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/redact"
	"github.com/connect-secure-input/processor/internal/tlsconfig"
	"github.com/connect-secure-input/processor/internal/ttl"
)

// scrape fetches m's handler the way Prometheus does and returns the raw
// body.
func scrape(t *testing.T, m *Metrics) []byte {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d, want 200:\n%s", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type = %q, want the text format", ct)
	}
	return rec.Body.Bytes()
}

// families parses a scrape into metric families by name.
func families(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the scrape: %v\n%s", err, body)
	}
	return fams
}

// sample returns the value of the series of family name with exactly the
// given labels, and whether it exists. Histograms return their sample count.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	fam, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, metric := range fam.GetMetric() {
		if !labelsEqual(metric.GetLabel(), labels) {
			continue
		}
		switch {
		case metric.Counter != nil:
			return metric.GetCounter().GetValue(), true
		case metric.Gauge != nil:
			return metric.GetGauge().GetValue(), true
		case metric.Histogram != nil:
			return float64(metric.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func labelsEqual(pairs []*dto.LabelPair, want map[string]string) bool {
	if len(pairs) != len(want) {
		return false
	}
	for _, p := range pairs {
		if want[p.GetName()] != p.GetValue() {
			return false
		}
	}
	return true
}

func TestZeroInitializedSeries(t *testing.T) {
	fams := families(t, scrape(t, New("1.2.3", false)))

	type series struct {
		name   string
		labels map[string]string
	}
	var want []series
	for _, r := range apiRoutes {
		want = append(want, series{"processor_http_request_duration_seconds", map[string]string{"route": r.route, "method": r.method}})
	}
	for _, scheme := range []string{"connect_rsa", "kms", "unknown"} {
		want = append(want, series{"processor_decrypt_duration_seconds", map[string]string{"scheme": scheme}})
		for _, outcome := range []string{
			"ok", "ciphertext_malformed", "ciphertext_too_large", "too_many_encrypted_data_keys",
			"key_provider_unsupported", "key_unknown", "commitment_policy_violation", "algorithm_suite_rejected",
			"encryption_context_mismatch", "ciphertext_authentication_failed", "kms_unavailable", "kms_access_denied",
		} {
			want = append(want, series{"processor_decrypt_total", map[string]string{"scheme": scheme, "outcome": outcome}})
		}
	}
	for _, field := range []string{"pan", "expiry", "cvv"} {
		for _, reason := range []string{
			"valid", "pan_not_digits", "pan_length", "pan_luhn", "pan_brand_length", "expiry_format",
			"expiry_month", "expiry_past", "expiry_too_far", "cvv_format", "cvv_length_for_brand",
		} {
			want = append(want, series{"processor_validations_total", map[string]string{"field": field, "reason": reason}})
		}
	}
	for _, status := range []string{"approved", "pending", "failed", "voided"} {
		want = append(want, series{"processor_authorizations_total", map[string]string{"status": status, "decline_code": "none"}})
	}
	for _, code := range gateway.DeclineCodes {
		want = append(want, series{"processor_authorizations_total", map[string]string{"status": "declined", "decline_code": string(code)}})
	}
	for _, gw := range []string{"simulator", "stripe"} {
		for _, op := range []string{"authorize", "void", "lookup"} {
			want = append(want, series{"processor_gateway_request_duration_seconds", map[string]string{"gateway": gw, "operation": op}})
			for _, outcome := range []string{"ok", "declined", "error", "timeout"} {
				want = append(want, series{"processor_gateway_requests_total", map[string]string{"gateway": gw, "operation": op, "outcome": outcome}})
			}
		}
	}
	for _, reason := range []string{"no_client_certificate", "unknown_authority", "expired_certificate", "client_not_allowed", "protocol_version", "other"} {
		want = append(want, series{"processor_tls_handshake_failures_total", map[string]string{"reason": reason}})
	}
	for _, kind := range []string{"pan_in_message", "pan_in_field", "sensitive_field"} {
		want = append(want, series{"processor_redaction_scrubs_total", map[string]string{"kind": kind}})
	}
	for _, reason := range []string{"taken", "deleted", "expired", "closed"} {
		want = append(want, series{"processor_vault_wipes_total", map[string]string{"reason": reason}})
	}
	for _, op := range []string{"claim", "get", "transition", "renew_lease", "list_expired", "take_over", "delete_older_than", "ping"} {
		want = append(want, series{"processor_store_errors_total", map[string]string{"operation": op}})
	}
	for _, name := range []string{
		"processor_http_in_flight_requests", "processor_http_overload_rejections_total",
		"processor_vault_entries", "processor_vault_bytes", "processor_vault_capacity_entries",
		"processor_vault_expirations_total", "processor_vault_rejections_total",
	} {
		want = append(want, series{name, map[string]string{}})
	}

	for _, s := range want {
		value, ok := sample(fams, s.name, s.labels)
		if !ok {
			t.Errorf("%s%v missing from a fresh scrape", s.name, s.labels)
			continue
		}
		if value != 0 {
			t.Errorf("%s%v = %v on a fresh scrape, want 0", s.name, s.labels, value)
		}
	}
}

func TestSeriesAbsentUntilKnown(t *testing.T) {
	m := New("1.2.3", false)
	fams := families(t, scrape(t, m))
	for _, name := range []string{"processor_kms_reachable", "processor_certificate_expiry_timestamp_seconds"} {
		if _, ok := fams[name]; ok {
			t.Errorf("%s exported before any value is known, want it absent so alerts on it stay quiet", name)
		}
	}
}

func TestKMSReachable(t *testing.T) {
	tests := []struct {
		name       string
		configured bool
		reachable  bool
		wantValue  float64
		wantSeries bool
	}{
		{"reachable", true, true, 1, true},
		{"unreachable", true, false, 0, true},
		{"not configured", false, false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New("1.2.3", false)
			m.SetKMSReachable(true, true) // a later call must replace it
			m.SetKMSReachable(tt.configured, tt.reachable)

			value, ok := sample(families(t, scrape(t, m)), "processor_kms_reachable", map[string]string{})
			if ok != tt.wantSeries {
				t.Fatalf("series exported = %v, want %v", ok, tt.wantSeries)
			}
			if value != tt.wantValue {
				t.Errorf("processor_kms_reachable = %v, want %v", value, tt.wantValue)
			}
		})
	}
}

func TestUnknownLabelValuesMapToOther(t *testing.T) {
	const pan = "4111111111111111"
	m := New("1.2.3", false)
	m.RequestServed("/v1/validations/"+pan, "PATCH", 999, time.Millisecond)
	m.Decrypted("rot13", pan, time.Millisecond)
	m.Validated("track2", pan)
	m.GatewayCall("acme", "capture", pan, time.Millisecond)
	m.Authorized("refunded", pan)
	m.HandshakeFailed("tls: " + pan)
	m.CertificateLoaded("intermediate", time.Unix(1_900_000_000, 0))
	m.Scrubbed(pan)
	m.StoreError("drop_table")
	m.VaultHooks().Wiped(ttl.WipeReason(pan))

	body := scrape(t, m)
	if bytes.Contains(body, []byte(pan)) {
		t.Fatalf("scrape contains the PAN passed as a label value:\n%s", body)
	}
	fams := families(t, body)
	tests := []struct {
		name   string
		labels map[string]string
	}{
		{"processor_http_requests_total", map[string]string{"route": Other, "method": Other, "code": Other}},
		{"processor_http_request_duration_seconds", map[string]string{"route": Other, "method": Other}},
		{"processor_decrypt_total", map[string]string{"scheme": Other, "outcome": Other}},
		{"processor_decrypt_duration_seconds", map[string]string{"scheme": Other}},
		{"processor_validations_total", map[string]string{"field": Other, "reason": Other}},
		{"processor_gateway_requests_total", map[string]string{"gateway": Other, "operation": Other, "outcome": Other}},
		{"processor_gateway_request_duration_seconds", map[string]string{"gateway": Other, "operation": Other}},
		{"processor_authorizations_total", map[string]string{"status": Other, "decline_code": Other}},
		{"processor_tls_handshake_failures_total", map[string]string{"reason": Other}},
		{"processor_certificate_expiry_timestamp_seconds", map[string]string{"certificate": Other}},
		{"processor_redaction_scrubs_total", map[string]string{"kind": Other}},
		{"processor_store_errors_total", map[string]string{"operation": Other}},
		{"processor_vault_wipes_total", map[string]string{"reason": Other}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			value, ok := sample(fams, tt.name, tt.labels)
			if !ok {
				t.Fatalf("%s%v missing", tt.name, tt.labels)
			}
			if value == 0 {
				t.Errorf("%s%v = 0, want the event counted under %q", tt.name, tt.labels, Other)
			}
		})
	}
}

func TestRecordedValues(t *testing.T) {
	m := New("1.2.3", false)
	m.RequestServed(RouteAuthorization, "GET", 200, 30*time.Millisecond)
	m.RequestServed(RouteAuthorization, "GET", 200, 40*time.Millisecond)
	m.RequestServed(RouteAuthorize, "POST", 503, time.Second)
	m.InFlight(+1)
	m.InFlight(+1)
	m.InFlight(-1)
	m.Overloaded()
	m.Decrypted(string(decrypt.SchemeKMS), string(decrypt.CodeKMSUnavailable), 20*time.Millisecond)
	m.Validated("pan", "pan_luhn")
	m.GatewayCall("stripe", string(gateway.OpAuthorize), GatewayOutcomeTimeout, 8*time.Second)
	m.Authorized(string(gateway.StatusApproved), "")
	m.Authorized(string(gateway.StatusDeclined), string(gateway.DeclineIncorrectCVC))
	m.HandshakeFailed("unknown_authority")
	m.CertificateLoaded(tlsconfig.CertificateServer, time.Unix(1_900_000_000, 0))
	m.Scrubbed(redact.KindSensitiveField)
	m.StoreError("claim")
	m.SetVaultCapacity(5000)
	hooks := m.VaultHooks()
	hooks.Held(3, 57)
	hooks.Wiped(ttl.WipeTaken)
	hooks.Wiped(ttl.WipeExpired)
	hooks.Rejected()

	fams := families(t, scrape(t, m))
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"processor_http_requests_total", map[string]string{"route": RouteAuthorization, "method": "GET", "code": "200"}, 2},
		{"processor_http_requests_total", map[string]string{"route": RouteAuthorize, "method": "POST", "code": "503"}, 1},
		{"processor_http_request_duration_seconds", map[string]string{"route": RouteAuthorization, "method": "GET"}, 2},
		{"processor_http_in_flight_requests", map[string]string{}, 1},
		{"processor_http_overload_rejections_total", map[string]string{}, 1},
		{"processor_decrypt_total", map[string]string{"scheme": "kms", "outcome": "kms_unavailable"}, 1},
		{"processor_decrypt_duration_seconds", map[string]string{"scheme": "kms"}, 1},
		{"processor_validations_total", map[string]string{"field": "pan", "reason": "pan_luhn"}, 1},
		{"processor_gateway_requests_total", map[string]string{"gateway": "stripe", "operation": "authorize", "outcome": "timeout"}, 1},
		{"processor_gateway_request_duration_seconds", map[string]string{"gateway": "stripe", "operation": "authorize"}, 1},
		{"processor_authorizations_total", map[string]string{"status": "approved", "decline_code": "none"}, 1},
		{"processor_authorizations_total", map[string]string{"status": "declined", "decline_code": "incorrect_cvc"}, 1},
		{"processor_tls_handshake_failures_total", map[string]string{"reason": "unknown_authority"}, 1},
		{"processor_certificate_expiry_timestamp_seconds", map[string]string{"certificate": "server"}, 1_900_000_000},
		{"processor_redaction_scrubs_total", map[string]string{"kind": "sensitive_field"}, 1},
		{"processor_store_errors_total", map[string]string{"operation": "claim"}, 1},
		{"processor_vault_capacity_entries", map[string]string{}, 5000},
		{"processor_vault_entries", map[string]string{}, 3},
		{"processor_vault_bytes", map[string]string{}, 57},
		{"processor_vault_wipes_total", map[string]string{"reason": "taken"}, 1},
		{"processor_vault_wipes_total", map[string]string{"reason": "expired"}, 1},
		{"processor_vault_expirations_total", map[string]string{}, 1},
		{"processor_vault_rejections_total", map[string]string{}, 1},
	}
	for _, tt := range tests {
		value, ok := sample(fams, tt.name, tt.labels)
		if !ok {
			t.Errorf("%s%v missing", tt.name, tt.labels)
			continue
		}
		if value != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, value, tt.want)
		}
	}
}

func TestHistogramBuckets(t *testing.T) {
	m := New("1.2.3", false)
	m.RequestServed(RouteValidations, "POST", 200, 3*time.Millisecond)

	fam := families(t, scrape(t, m))["processor_http_request_duration_seconds"]
	var buckets []float64
	for _, metric := range fam.GetMetric() {
		if labelsEqual(metric.GetLabel(), map[string]string{"route": RouteValidations, "method": "POST"}) {
			for _, b := range metric.GetHistogram().GetBucket() {
				buckets = append(buckets, b.GetUpperBound())
			}
		}
	}
	want := []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 8, 10, math.Inf(1)}
	if !slices.Equal(buckets, want) {
		t.Errorf("buckets = %v, want %v", buckets, want)
	}
}

func TestBuildInfo(t *testing.T) {
	tests := []struct {
		name        string
		version     string
		fips140     bool
		wantVersion string
		wantFIPS    string
	}{
		{"release", "v1.4.0", true, "v1.4.0", "on"},
		{"dirty build", "v1.4.0-3-gabc123+dirty", false, "v1.4.0-3-gabc123+dirty", "off"},
		{"empty", "", false, "unknown", "off"},
		{"quotes and newline", "1\"}\nx", false, "1___x", "off"},
		{"too long", strings.Repeat("9", 100), false, strings.Repeat("9", maxVersionLength), "off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fams := families(t, scrape(t, New(tt.version, tt.fips140)))
			labels := map[string]string{"version": tt.wantVersion, "goversion": runtime.Version(), "fips140": tt.wantFIPS}
			value, ok := sample(fams, "processor_build_info", labels)
			if !ok {
				t.Fatalf("processor_build_info%v missing: %v", labels, fams["processor_build_info"])
			}
			if value != 1 {
				t.Errorf("processor_build_info = %v, want 1", value)
			}
		})
	}
}

func TestRuntimeCollectors(t *testing.T) {
	fams := families(t, scrape(t, New("1.2.3", false)))
	for _, name := range []string{"go_goroutines", "go_info", "process_start_time_seconds"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s missing: the Go and process collectors must be registered", name)
		}
	}
}

// TestFamiliesMatchDeployCheck compares the registry with the list the
// alert rules and dashboard are checked against, so a renamed or retyped
// metric fails here before the alerts go silent.
func TestFamiliesMatchDeployCheck(t *testing.T) {
	m := New("1.2.3", false)
	m.SetKMSReachable(true, true)
	m.CertificateLoaded(tlsconfig.CertificateServer, time.Now())
	m.RequestServed(RouteValidations, "POST", 200, time.Millisecond)

	got := map[string]string{}
	for name, fam := range families(t, scrape(t, m)) {
		if strings.HasPrefix(name, "processor_") {
			got[name] = strings.ToLower(fam.GetType().String())
		}
	}
	for name, typ := range deploycheck.MetricFamilies {
		if got[name] != typ {
			t.Errorf("%s: registry type %q, deploy check lists %q", name, got[name], typ)
		}
	}
	for name := range got {
		if _, ok := deploycheck.MetricFamilies[name]; !ok {
			t.Errorf("%s is exported but missing from deploycheck.MetricFamilies", name)
		}
	}
}

func TestLabelSetsCoverSourcePackages(t *testing.T) {
	for _, code := range decrypt.Codes {
		if decryptOutcomeLabels.bound(string(code)) == Other {
			t.Errorf("decrypt code %q maps to %q", code, Other)
		}
	}
	for _, code := range gateway.DeclineCodes {
		if declineCodeLabels.bound(string(code)) == Other {
			t.Errorf("decline code %q maps to %q", code, Other)
		}
	}
	for _, kind := range redact.ScrubKinds {
		if scrubKindLabels.bound(kind) == Other {
			t.Errorf("scrub kind %q maps to %q", kind, Other)
		}
	}
}

func TestLint(t *testing.T) {
	m := New("1.2.3", false)
	m.SetKMSReachable(true, true)
	m.CertificateLoaded(tlsconfig.CertificateServer, time.Now())

	problems, err := testutil.GatherAndLint(m.registry)
	if err != nil {
		t.Fatalf("GatherAndLint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	collectors := map[string]prometheus.Collector{
		"http_requests": m.httpRequests, "http_duration": m.httpDuration, "http_in_flight": m.httpInFlight,
		"overload": m.overloadRejections, "decrypts": m.decrypts, "decrypt_duration": m.decryptDuration,
		"validations": m.validations, "authorizations": m.authorizations, "gateway_requests": m.gatewayRequests,
		"gateway_duration": m.gatewayDuration, "vault_entries": m.vaultEntries, "vault_bytes": m.vaultBytes,
		"vault_capacity": m.vaultCapacity, "vault_expirations": m.vaultExpirations, "vault_wipes": m.vaultWipes,
		"vault_rejections": m.vaultRejections, "handshakes": m.handshakeFailures, "certificates": m.certificateExpiry,
		"scrubs": m.scrubs, "kms": m.kmsReachable, "store": m.storeErrors, "build_info": m.buildInfo,
	}
	names := make([]string, 0, len(collectors))
	for name := range collectors {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		problems, err := testutil.CollectAndLint(collectors[name])
		if err != nil {
			t.Errorf("CollectAndLint(%s): %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("lint %s: %s: %s", name, p.Metric, p.Text)
		}
	}
}

func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not on PATH, so the scrape is not checked with it; install Debian's prometheus package to run this test")
	}
	m := New("1.2.3", true)
	m.SetKMSReachable(true, false)
	m.CertificateLoaded(tlsconfig.CertificateClientCA, time.Now())
	m.RequestServed(RouteValidations, "POST", 200, time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(scrape(t, m))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	if len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics reported problems:\n%s", out)
	}
}
