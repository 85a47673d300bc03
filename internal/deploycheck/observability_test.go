package deploycheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const observabilityDir = "../../deploy/observability"

// alertRules is the part of a Prometheus rule file that the tests read.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// ruleTests is the part of a promtool test file that the tests read.
type ruleTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// dashboardPanel is the part of a Grafana panel that the tests read.
type dashboardPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct {
		W int `json:"w"`
		X int `json:"x"`
	} `json:"gridPos"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

func readYAML(t *testing.T, name string, into any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(observabilityDir, name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
}

func readDashboard(t *testing.T) []dashboardPanel {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(observabilityDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatalf("read dashboard: %v", err)
	}
	var dashboard struct {
		Title  string           `json:"title"`
		UID    string           `json:"uid"`
		Panels []dashboardPanel `json:"panels"`
	}
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatalf("parse dashboard: %v", err)
	}
	if dashboard.Title == "" || dashboard.UID == "" {
		t.Errorf("dashboard needs a title and a uid, found %q and %q", dashboard.Title, dashboard.UID)
	}
	return dashboard.Panels
}

func TestMetricNamesIn(t *testing.T) {
	cases := []struct {
		name       string
		expression string
		want       []string
	}{
		{"ratio", `sum(rate(processor_decrypt_total{outcome!="ok"}[5m])) / sum(rate(processor_decrypt_total[5m]))`, []string{"processor_decrypt_total"}},
		{"histogram bucket", `histogram_quantile(0.99, rate(processor_http_request_duration_seconds_bucket[5m]))`, []string{"processor_http_request_duration_seconds_bucket"}},
		{"label value skipped", `up{job="processor_up_total"} == 0`, []string{"up"}},
		{"runtime collectors", `go_goroutines + process_open_fds`, []string{"go_goroutines", "process_open_fds"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := MetricNamesIn(tc.expression); !slices.Equal(got, tc.want) {
				t.Errorf("MetricNamesIn(%q) = %q, want %q", tc.expression, got, tc.want)
			}
		})
	}
}

func TestKnownMetric(t *testing.T) {
	cases := []struct {
		name  string
		known bool
	}{
		{"processor_decrypt_total", true},
		{"processor_decrypt_duration_seconds_bucket", true},
		{"processor_decrypt_duration_seconds_count", true},
		{"processor_kms_reachable", true},
		{"go_gc_duration_seconds_sum", true},
		{"up", true},
		{"processor_decrypts_total", false},
		{"processor_vault_entries_bucket", false},
		{"processor_requests_total", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := KnownMetric(tc.name); got != tc.known {
				t.Errorf("KnownMetric(%q) = %v, want %v", tc.name, got, tc.known)
			}
		})
	}
}

func TestAlertRulesUseKnownMetrics(t *testing.T) {
	var rules alertRules
	readYAML(t, "alerts.yaml", &rules)
	for _, group := range rules.Groups {
		for _, rule := range group.Rules {
			names := MetricNamesIn(rule.Expr)
			if len(names) == 0 {
				t.Errorf("alert %s: expression mentions no metric: %s", rule.Alert, rule.Expr)
			}
			for _, name := range names {
				if !KnownMetric(name) {
					t.Errorf("alert %s: metric %s is not exported by the processor", rule.Alert, name)
				}
			}
		}
	}
}

func TestAlertRulesHaveAnnotations(t *testing.T) {
	var rules alertRules
	readYAML(t, "alerts.yaml", &rules)
	count := 0
	for _, group := range rules.Groups {
		for _, rule := range group.Rules {
			count++
			if severity := rule.Labels["severity"]; severity != "critical" && severity != "warning" {
				t.Errorf("alert %s: severity %q, want critical or warning", rule.Alert, severity)
			}
			for _, annotation := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(rule.Annotations[annotation]) == "" {
					t.Errorf("alert %s: missing %s annotation", rule.Alert, annotation)
				}
			}
		}
	}
	if count == 0 {
		t.Fatal("alerts.yaml defines no alerts")
	}
}

func TestAlertsTestedFiringAndQuiet(t *testing.T) {
	var rules alertRules
	readYAML(t, "alerts.yaml", &rules)
	var tests ruleTests
	readYAML(t, "alerts_test.yaml", &tests)
	if !slices.Equal(tests.RuleFiles, []string{"alerts.yaml"}) {
		t.Errorf("alerts_test.yaml loads %q, want [alerts.yaml]", tests.RuleFiles)
	}

	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, test := range tests.Tests {
		for _, check := range test.AlertRuleTest {
			if len(check.ExpAlerts) > 0 {
				firing[check.Alertname] = true
			} else {
				quiet[check.Alertname] = true
			}
		}
	}
	for _, group := range rules.Groups {
		for _, rule := range group.Rules {
			if !firing[rule.Alert] {
				t.Errorf("alert %s has no promtool test case where it fires", rule.Alert)
			}
			if !quiet[rule.Alert] {
				t.Errorf("alert %s has no promtool test case where it stays quiet", rule.Alert)
			}
		}
	}
}

func TestDashboardCoversEveryMetricFamily(t *testing.T) {
	panels := readDashboard(t)
	shown := map[string]bool{}
	for _, panel := range panels {
		for _, target := range panel.Targets {
			for _, name := range MetricNamesIn(target.Expr) {
				if !KnownMetric(name) {
					t.Errorf("panel %q: metric %s is not exported by the processor", panel.Title, name)
				}
				shown[FamilyOf(name)] = true
				switch {
				case strings.HasPrefix(name, "go_"):
					shown["go_*"] = true
				case strings.HasPrefix(name, "process_"):
					shown["process_*"] = true
				}
			}
		}
	}
	families := []string{"go_*", "process_*"}
	for family := range MetricFamilies {
		families = append(families, family)
	}
	for _, family := range families {
		if !shown[family] {
			t.Errorf("no dashboard panel shows %s", family)
		}
	}
}

func TestDashboardPanelsWellFormed(t *testing.T) {
	panels := readDashboard(t)
	ids := map[int]bool{}
	for _, panel := range panels {
		if ids[panel.ID] {
			t.Errorf("panel %q reuses id %d", panel.Title, panel.ID)
		}
		ids[panel.ID] = true
		if panel.GridPos.X+panel.GridPos.W > 24 {
			t.Errorf("panel %q overflows the 24-column grid (x %d, width %d)", panel.Title, panel.GridPos.X, panel.GridPos.W)
		}
		if panel.Type == "row" {
			continue
		}
		if panel.Title == "" {
			t.Errorf("panel %d has no title", panel.ID)
		}
		if panel.Datasource == nil || panel.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q must use the ${datasource} variable", panel.Title)
		}
		if len(panel.Targets) == 0 {
			t.Errorf("panel %q has no query", panel.Title)
		}
	}
}

func TestScrapeConfigTargetsOpsPort(t *testing.T) {
	var config struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			MetricsPath  string `yaml:"metrics_path"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus-scrape.yaml", &config)
	if !slices.Contains(config.RuleFiles, "alerts.yaml") {
		t.Errorf("scrape configuration loads %q, want alerts.yaml among them", config.RuleFiles)
	}
	// ProcessorDown selects up{job="processor"}, so the job name is part of the contract.
	for _, scrape := range config.ScrapeConfigs {
		if scrape.JobName != "processor" {
			continue
		}
		if scrape.MetricsPath != "/metrics" {
			t.Errorf("metrics_path = %q, want /metrics", scrape.MetricsPath)
		}
		if len(scrape.DNSSDConfigs) == 0 {
			t.Fatal("job processor has no dns_sd_configs")
		}
		for _, discovery := range scrape.DNSSDConfigs {
			if discovery.Port != 9090 {
				t.Errorf("dns_sd_configs port = %d, want the ops port 9090", discovery.Port)
			}
		}
		return
	}
	t.Error("no scrape job named processor")
}
