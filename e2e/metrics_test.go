package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMetricsScrapePassesPromtool checks a live /metrics scrape of the real
// binary, after traffic, with promtool from Debian's prometheus package
// (make setup installs it).
func TestMetricsScrapePassesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not on PATH; make setup installs Debian's prometheus package")
		}
		t.Skip("promtool is not on PATH; run make setup to install it")
	}
	p := StartProcessor(t, Options{})
	c := p.Client(t)
	c.Post("/v1/validations", map[string]any{"field": "pan", "ciphertext": p.EncryptDTMF(t, "4242424242424242")})
	c.Post("/v1/validations", map[string]any{"field": "pan", "ciphertext": "not base64!"})

	scrape := p.Ops(t, "/metrics").Body
	if !bytes.Contains(scrape, []byte(`processor_validations_total{field="pan",reason="valid"} 1`)) {
		t.Errorf("the scrape lacks the validation counted above")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(scrape)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
