package redact

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Card numbers used across the tests. All pass the Luhn check.
const (
	visaPAN      = "4111111111111111"
	visaMasked   = "411111******1111"
	amexPAN      = "378282246310005"
	amexMasked   = "378282*****0005"
	masterPAN    = "5555555555554444"
	masterMasked = "555555******4444"
)

// scrubCounts is a ScrubCounter that remembers its calls.
type scrubCounts struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *scrubCounts) Scrubbed(kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[kind]++
}

func (c *scrubCounts) get(kind string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[kind]
}

// wantCounts fails the test unless the counter saw exactly want for each
// scrub kind (a kind missing from want must be zero).
func (c *scrubCounts) wantCounts(t *testing.T, want map[string]int) {
	t.Helper()
	for _, kind := range ScrubKinds {
		if got := c.get(kind); got != want[kind] {
			t.Errorf("scrubs of kind %s = %d, want %d", kind, got, want[kind])
		}
	}
}

// observed returns a debug-level logger whose output passes through the
// redaction core into an observer, and the scrub counter behind it.
func observed(t *testing.T) (*zap.Logger, *observer.ObservedLogs, *scrubCounts) {
	t.Helper()
	inner, logs := observer.New(zapcore.DebugLevel)
	counts := &scrubCounts{}
	return zap.New(WrapCore(inner, counts)), logs, counts
}

// onlyEntry returns the one entry in logs and fails the test otherwise.
func onlyEntry(t *testing.T, logs *observer.ObservedLogs) observer.LoggedEntry {
	t.Helper()
	entries := logs.TakeAll()
	if len(entries) != 1 {
		t.Fatalf("got %d log entries, want 1: %+v", len(entries), entries)
	}
	return entries[0]
}

// encoded returns the entry as the JSON encoder writes it, so assertions
// cover every field however deeply it is nested.
func encoded(t *testing.T, entry observer.LoggedEntry) string {
	t.Helper()
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{MessageKey: "msg"})
	buf, err := enc.EncodeEntry(entry.Entry, entry.Context)
	if err != nil {
		t.Fatalf("encoding the observed entry: %v", err)
	}
	defer buf.Free()
	return buf.String()
}

// decoded returns the entry's JSON encoding as a map.
func decoded(t *testing.T, entry observer.LoggedEntry) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(encoded(t, entry)), &m); err != nil {
		t.Fatalf("decoding the observed entry: %v", err)
	}
	return m
}

// wantNoDigits fails the test when text contains any of the card numbers, or
// their spaced or dashed forms.
func wantNoDigits(t *testing.T, text string, pans ...string) {
	t.Helper()
	for _, pan := range pans {
		for _, form := range []string{pan, group(pan, " "), group(pan, "-"), base64Of(pan)} {
			if strings.Contains(text, form) {
				t.Errorf("output contains %q:\n%s", form, text)
			}
		}
	}
}

// group splits digits into groups of four joined by sep.
func group(digits, sep string) string {
	var parts []string
	for len(digits) > 4 {
		parts = append(parts, digits[:4])
		digits = digits[4:]
	}
	return strings.Join(append(parts, digits), sep)
}

func base64Of(s string) string {
	return base64.StdEncoding.EncodeToString([]byte(s))
}
