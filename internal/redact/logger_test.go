package redact

import (
	"bytes"
	"encoding/json"
	"log"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// jsonLines decodes every line of buf as a JSON object.
func jsonLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line is not JSON: %v\n%s", err, line)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestNewLoggerJSON(t *testing.T) {
	var buf bytes.Buffer
	counts := &scrubCounts{}
	logger, err := NewLogger(Options{Level: "info", Format: FormatJSON, Output: &buf, Scrubs: counts})
	if err != nil {
		t.Fatalf("NewLogger: %v", err)
	}
	logger.Debug("hidden")
	logger.Info("card "+visaPAN, zap.String("cvv", "123"), zap.String("note", amexPAN))
	logger.Error("failed")

	lines := jsonLines(t, &buf)
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2 (debug is below info):\n%s", len(lines), buf.String())
	}
	info := lines[0]
	if info["msg"] != "card "+visaMasked {
		t.Errorf("msg = %v, want %q", info["msg"], "card "+visaMasked)
	}
	if info["cvv"] != Redacted || info["note"] != amexMasked {
		t.Errorf("cvv = %v, note = %v, want %q and %q", info["cvv"], info["note"], Redacted, amexMasked)
	}
	if info["level"] != "info" {
		t.Errorf("level = %v, want info", info["level"])
	}
	isoUTC := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	if ts, _ := info["time"].(string); !isoUTC.MatchString(ts) {
		t.Errorf("time = %v, want ISO 8601 in UTC with milliseconds", info["time"])
	}
	if caller, _ := info["caller"].(string); !strings.HasPrefix(caller, "redact/logger_test.go:") {
		t.Errorf("caller = %v, want this test file", info["caller"])
	}
	if _, ok := info["stacktrace"]; ok {
		t.Error("info line has a stack trace, want none below error level")
	}
	if _, ok := lines[1]["stacktrace"]; !ok {
		t.Error("error line has no stack trace")
	}
	wantNoDigits(t, buf.String(), visaPAN, amexPAN)
	counts.wantCounts(t, map[string]int{KindPANInMessage: 1, KindPANInField: 1, KindSensitiveField: 1})
}

func TestNewLoggerConsole(t *testing.T) {
	var buf bytes.Buffer
	logger, err := NewLogger(Options{Level: "debug", Format: FormatConsole, Output: &buf})
	if err != nil {
		t.Fatalf("NewLogger: %v", err)
	}
	logger.Debug("card "+visaPAN, zap.String("pan", visaPAN))

	out := buf.String()
	if !strings.Contains(out, "DEBUG") || !strings.Contains(out, "card "+visaMasked) {
		t.Errorf("console line lacks the level or the masked message:\n%s", out)
	}
	if strings.HasPrefix(out, "{") {
		t.Errorf("console line is JSON:\n%s", out)
	}
	wantNoDigits(t, out, visaPAN)
}

func TestNewLoggerDefaults(t *testing.T) {
	var buf bytes.Buffer
	logger, err := NewLogger(Options{Output: &buf})
	if err != nil {
		t.Fatalf("NewLogger: %v", err)
	}
	logger.Debug("hidden")
	logger.Info("shown")

	lines := jsonLines(t, &buf)
	if len(lines) != 1 || lines[0]["msg"] != "shown" {
		t.Errorf("got %v, want one JSON info line", lines)
	}
}

func TestNewLoggerInvalidOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"level", Options{Level: "verbose"}, `invalid log level "verbose"`},
		{"format", Options{Format: "xml"}, `invalid log format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewLogger(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewLogger(%+v) error = %v, want it to contain %q", tt.opts, err, tt.wantErr)
			}
		})
	}
}

func TestRedirectStdLog(t *testing.T) {
	logger, logs, counts := observed(t)
	restore := RedirectStdLog(logger)
	log.Printf("legacy code printed %s", visaPAN)
	restore()
	log.Print("after restore") // goes to the previous output, not the observer

	entry := onlyEntry(t, logs)
	if entry.Message != "legacy code printed "+visaMasked {
		t.Errorf("message = %q, want the PAN masked", entry.Message)
	}
	if entry.Level != zapcore.InfoLevel {
		t.Errorf("level = %v, want info", entry.Level)
	}
	counts.wantCounts(t, map[string]int{KindPANInMessage: 1})
}

func TestNewStdLogger(t *testing.T) {
	logger, logs, counts := observed(t)
	std := NewStdLogger(logger, zapcore.WarnLevel)
	std.Printf("http: TLS handshake error from 127.0.0.1:4242: %s", masterPAN)

	entry := onlyEntry(t, logs)
	if entry.Level != zapcore.WarnLevel {
		t.Errorf("level = %v, want warn", entry.Level)
	}
	if strings.Contains(entry.Message, masterPAN) || !strings.Contains(entry.Message, masterMasked) {
		t.Errorf("message = %q, want the PAN masked", entry.Message)
	}
	counts.wantCounts(t, map[string]int{KindPANInMessage: 1})
}

func TestStdLoggerWrapsPlainLogger(t *testing.T) {
	inner, logs := observer.New(zapcore.DebugLevel)
	plain := zap.New(inner) // no redaction core
	NewStdLogger(plain, zapcore.Level(42)).Print("card " + visaPAN)

	entry := onlyEntry(t, logs)
	if entry.Message != "card "+visaMasked {
		t.Errorf("message = %q, want the PAN masked", entry.Message)
	}
	if entry.Level != zapcore.ErrorLevel {
		t.Errorf("level = %v, want error for an invalid level", entry.Level)
	}
}
