package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func shippedFlows(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "deploy", "connect", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no shipped flows found (error %v)", err)
	}
	return paths
}

func TestRunShippedFlowsExitZero(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(shippedFlows(t), &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitOK, stdout.String(), stderr.String())
	}
	for _, path := range shippedFlows(t) {
		if !strings.Contains(stdout.String(), path+": ok") {
			t.Errorf("output does not report %s as ok:\n%s", path, stdout.String())
		}
	}
}

func TestRunBrokenVariants(t *testing.T) {
	tests := []struct {
		file     string
		wantCode int
		want     string
	}{
		{file: "capture-without-suspend.json", wantCode: exitViolation, want: "capture-while-recording at pan-capture"},
		{file: "ivr-recording-left-on.json", wantCode: exitViolation, want: "capture-while-recording at pan-capture"},
		{file: "lex-capture-with-analytics.json", wantCode: exitViolation, want: "capture-while-recording at card-capture"},
		{file: "unencrypted-expiry.json", wantCode: exitViolation, want: "unencrypted-stored-input at expiry-capture"},
		{file: "error-exit-without-resume.json", wantCode: exitViolation, want: "exit-while-suspended at transfer-to-agent"},
		{file: "lex-resume-customer-only.json", wantCode: exitViolation, want: "exit-while-suspended at hang-up"},
		{file: "stored-input-in-contact-attribute.json", wantCode: exitViolation, want: "card-data-in-contact-attribute at pan-keep"},
		{file: "flow-attribute-in-contact-attribute.json", wantCode: exitViolation, want: "card-data-in-contact-attribute at note-card"},
		{file: "lex-slot-in-contact-attribute.json", wantCode: exitViolation, want: "card-data-in-contact-attribute at note-card"},
		{file: "unknown-transition.json", wantCode: exitInvalid, want: "transitions to unknown actions"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{filepath.Join("..", "..", "testdata", "flows", tt.file)}, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
			if output := stdout.String() + stderr.String(); !strings.Contains(output, tt.want) {
				t.Errorf("output does not contain %q:\n%s", tt.want, output)
			}
			if tt.wantCode == exitViolation && !strings.Contains(stdout.String(), "  path: record-call -> ") {
				t.Errorf("output has no path from the start action:\n%s", stdout.String())
			}
		})
	}
}

func TestRunWorstExitCodeWins(t *testing.T) {
	args := append(shippedFlows(t),
		filepath.Join("..", "..", "testdata", "flows", "unencrypted-expiry.json"),
		filepath.Join("..", "..", "testdata", "flows", "missing.json"),
	)
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != exitInvalid {
		t.Errorf("exit code %d, want %d for a missing file among the flows", code, exitInvalid)
	}
	if !strings.Contains(stdout.String(), "unencrypted-stored-input") {
		t.Errorf("the violation of the readable flow is not reported:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "missing.json") {
		t.Errorf("the unreadable file is not named:\n%s", stderr.String())
	}
}

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
	}{
		{name: "no flow", args: nil, wantCode: exitInvalid},
		{name: "help", args: []string{"-h"}, wantCode: exitOK},
		{name: "unknown flag", args: []string{"-strict"}, wantCode: exitInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
			if !strings.Contains(stderr.String(), "usage: flowcheck FLOW.json...") {
				t.Errorf("stderr has no usage line:\n%s", stderr.String())
			}
		})
	}
}
