package deploycheck

import (
	"regexp"
	"slices"
	"strings"
)

// MetricFamilies maps each metric family the processor exports on GET /metrics to
// its type. The alert rules and the dashboard under deploy/observability may use only
// these names, besides the go_* and process_* collectors and Prometheus's own up.
// NOTE: the list is kept by hand. A test in the metrics package that compares it with
// the registry would catch a renamed metric before the alerts go silent.
var MetricFamilies = map[string]string{
	"processor_http_requests_total":                  "counter",
	"processor_http_request_duration_seconds":        "histogram",
	"processor_http_in_flight_requests":              "gauge",
	"processor_http_overload_rejections_total":       "counter",
	"processor_decrypt_total":                        "counter",
	"processor_decrypt_duration_seconds":             "histogram",
	"processor_validations_total":                    "counter",
	"processor_authorizations_total":                 "counter",
	"processor_gateway_requests_total":               "counter",
	"processor_gateway_request_duration_seconds":     "histogram",
	"processor_vault_entries":                        "gauge",
	"processor_vault_bytes":                          "gauge",
	"processor_vault_capacity_entries":               "gauge",
	"processor_vault_expirations_total":              "counter",
	"processor_vault_wipes_total":                    "counter",
	"processor_vault_rejections_total":               "counter",
	"processor_tls_handshake_failures_total":         "counter",
	"processor_certificate_expiry_timestamp_seconds": "gauge",
	"processor_redaction_scrubs_total":               "counter",
	"processor_kms_reachable":                        "gauge",
	"processor_store_errors_total":                   "counter",
	"processor_recovery_steps_total":                 "counter",
	"processor_build_info":                           "gauge",
}

// metricName matches the metric names a PromQL expression can mention: the
// processor's, the Go runtime and process collectors', and up.
var metricName = regexp.MustCompile(`\b(processor_[a-z0-9_]+|go_[a-z0-9_]+|process_[a-z0-9_]+|up)\b`)

// MetricNamesIn returns the metric names that a PromQL expression mentions, in order
// of first appearance. Label values in quotes are skipped.
func MetricNamesIn(expression string) []string {
	var names []string
	for _, name := range metricName.FindAllString(stripQuoted(expression), -1) {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// stripQuoted blanks out the contents of double-quoted strings, where a label value
// such as job="up" could look like a metric name.
func stripQuoted(expression string) string {
	var builder strings.Builder
	quoted := false
	for i := 0; i < len(expression); i++ {
		c := expression[i]
		switch {
		case c == '"' && (i == 0 || expression[i-1] != '\\'):
			quoted = !quoted
			builder.WriteByte(c)
		case quoted:
			builder.WriteByte(' ')
		default:
			builder.WriteByte(c)
		}
	}
	return builder.String()
}

// FamilyOf returns the family of a series name: histogram series ending in _bucket,
// _sum or _count belong to the histogram family without the suffix.
func FamilyOf(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if family, found := strings.CutSuffix(name, suffix); found && MetricFamilies[family] == "histogram" {
			return family
		}
	}
	return name
}

// KnownMetric reports whether a series name belongs to a family the processor exports,
// to the Go runtime or process collectors, or is Prometheus's up.
func KnownMetric(name string) bool {
	if name == "up" || strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
		return true
	}
	_, ok := MetricFamilies[FamilyOf(name)]
	return ok
}
