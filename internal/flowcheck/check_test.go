package flowcheck

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func parseFile(t *testing.T, path string) *Flow {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse %s: %v", path, err)
	}
	return f
}

func check(t *testing.T, f *Flow) []Violation {
	t.Helper()
	violations, err := Check(f)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return violations
}

func TestShippedFlowsPass(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "deploy", "connect", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 {
		t.Fatalf("found %d shipped flows (%v), want the keypad and the Lex flow", len(paths), paths)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f := parseFile(t, path)
			captures := 0
			for _, a := range f.Actions {
				if a.Type == typeLexBot || (a.Type == typeStoreInput && isTrue(a.stringParam("StoreInput"))) {
					captures++
				}
			}
			if captures == 0 {
				t.Error("the flow has no card capture, so the check proves nothing")
			}
			for _, v := range check(t, f) {
				t.Errorf("violation:\n%s", v)
			}
		})
	}
}

// path splits a path written as "a b c".
func path(ids string) []string { return strings.Fields(ids) }

const (
	dtmfToPAN    = "record-call greeting pause-recording pan-capture"
	dtmfToExpiry = dtmfToPAN + " pan-timeout-check pan-validate pan-status pan-keep expiry-capture"
	lexToCVV     = "record-call greeting pause-recording card-capture capture-status pan-validate pan-status keep-brand" +
		" expiry-validate expiry-status cvv-validate cvv-status"
)

func TestBrokenVariantsRejected(t *testing.T) {
	tests := []struct {
		file      string
		rule      Rule
		block     string
		path      []string
		wantCount int
		message   string
	}{
		{
			file: "capture-without-suspend.json", rule: RuleCaptureWhileRecording, block: "pan-capture",
			path: path("record-call greeting pan-capture"), wantCount: 3, message: "recording is on for Agent and Customer",
		},
		{
			file: "ivr-recording-left-on.json", rule: RuleCaptureWhileRecording, block: "pan-capture",
			path: path(dtmfToPAN), wantCount: 3, message: "IVR recording is enabled",
		},
		{
			file: "lex-capture-with-analytics.json", rule: RuleCaptureWhileRecording, block: "card-capture",
			path: path("record-call greeting pause-recording card-capture"), wantCount: 1, message: "analytics is enabled",
		},
		{
			file: "unencrypted-expiry.json", rule: RuleUnencryptedInput, block: "expiry-capture",
			path: path(dtmfToExpiry), wantCount: 1, message: "without encryption",
		},
		{
			file: "error-exit-without-resume.json", rule: RuleExitWhileSuspended, block: "transfer-to-agent",
			path:      path(dtmfToPAN + " pan-timeout-check pan-validate capture-error-message set-payments-queue transfer-to-agent"),
			wantCount: 2, message: "recording is still suspended",
		},
		{
			file: "lex-resume-customer-only.json", rule: RuleExitWhileSuspended, block: "hang-up",
			path:      path(lexToCVV + " resume-after-capture authorize authorize-status approved-message hang-up"),
			wantCount: 2, message: "recording is on only for Customer",
		},
		{
			file: "stored-input-in-contact-attribute.json", rule: RuleCardDataInContactAttribute, block: "pan-keep",
			path: path(dtmfToPAN + " pan-timeout-check pan-validate pan-status pan-keep"), wantCount: 1, message: "copies $.StoredCustomerInput",
		},
		{
			file: "flow-attribute-in-contact-attribute.json", rule: RuleCardDataInContactAttribute, block: "note-card",
			path:      path(dtmfToExpiry + " expiry-timeout-check expiry-validate expiry-status expiry-keep note-card"),
			wantCount: 1, message: "copies $.FlowAttributes.panCiphertext (which holds card data)",
		},
		{
			file: "lex-slot-in-contact-attribute.json", rule: RuleCardDataInContactAttribute, block: "note-card",
			path: path("record-call greeting pause-recording card-capture note-card"), wantCount: 1, message: "copies $.Lex.Slots.CardNumber",
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			violations := check(t, parseFile(t, filepath.Join("..", "..", "testdata", "flows", tt.file)))
			if len(violations) != tt.wantCount {
				t.Errorf("got %d violations, want %d:\n%v", len(violations), tt.wantCount, violations)
			}
			if len(violations) == 0 {
				t.FailNow()
			}
			for _, v := range violations {
				if v.Rule != tt.rule {
					t.Errorf("violation of %s, want only %s:\n%s", v.Rule, tt.rule, v)
				}
			}
			first := violations[0]
			if first.Block != tt.block {
				t.Errorf("first violation at %s, want %s", first.Block, tt.block)
			}
			if !slices.Equal(first.Path, tt.path) {
				t.Errorf("first path = %v\nwant %v", first.Path, tt.path)
			}
			if !strings.Contains(first.Message, tt.message) {
				t.Errorf("message %q does not contain %q", first.Message, tt.message)
			}
		})
	}
}

func TestParseRejectsInvalidFlow(t *testing.T) {
	valid := `"Actions": [{"Identifier": "a", "Type": "DisconnectParticipant", "Transitions": {}}]`
	tests := []struct {
		name string
		json string
		want string
	}{
		{name: "not JSON", json: `{"Version":`, want: "invalid flow JSON"},
		{name: "other version", json: `{"Version": "2020-01-01", "StartAction": "a", ` + valid + `}`, want: `Version is "2020-01-01"`},
		{name: "no actions", json: `{"Version": "2019-10-30", "StartAction": "a", "Actions": []}`, want: "no Actions"},
		{name: "missing start", json: `{"Version": "2019-10-30", "StartAction": "b", ` + valid + `}`, want: `StartAction "b" is not an action`},
		{
			name: "duplicate identifier",
			json: `{"Version": "2019-10-30", "StartAction": "a", "Actions": [` +
				`{"Identifier": "a", "Type": "DisconnectParticipant"}, {"Identifier": "a", "Type": "DisconnectParticipant"}]}`,
			want: `Identifier "a" is used by more than one action`,
		},
		{
			name: "unknown transition",
			json: `{"Version": "2019-10-30", "StartAction": "a", "Actions": [` +
				`{"Identifier": "a", "Type": "MessageParticipant", "Transitions": {"NextAction": "b", "Errors": [{"NextAction": "c", "ErrorType": "NoMatchingError"}]}},` +
				`{"Identifier": "b", "Type": "DisconnectParticipant"}]}`,
			want: "transitions to unknown actions: a -> c",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseReportsBrokenVariant(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "flows", "unknown-transition.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(data)
	if err == nil || !strings.Contains(err.Error(), "greeting -> pause-recordng") {
		t.Errorf("error = %v, want the transition greeting -> pause-recordng named", err)
	}
}
