package flowcheck

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// action builds one flow action. next is the NextAction ("" for none) and
// each branch becomes a condition that leads to it.
func action(id, typ string, params map[string]any, next string, branches ...string) map[string]any {
	transitions := map[string]any{}
	if next != "" {
		transitions["NextAction"] = next
	}
	var conditions []any
	for _, b := range branches {
		conditions = append(conditions, map[string]any{
			"NextAction": b,
			"Condition":  map[string]any{"Operator": "Equals", "Operands": []any{b}},
		})
	}
	if conditions != nil {
		transitions["Conditions"] = conditions
	}
	if params == nil {
		params = map[string]any{}
	}
	return map[string]any{"Identifier": id, "Type": typ, "Parameters": params, "Transitions": transitions}
}

func buildFlow(t *testing.T, actions ...map[string]any) *Flow {
	t.Helper()
	data, err := json.Marshal(map[string]any{"Version": FlowVersion, "StartAction": actions[0]["Identifier"], "Actions": actions})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

var (
	suspendParams = map[string]any{
		"RecordingBehavior": map[string]any{"RecordedParticipants": []any{}, "IVRRecordingBehavior": "Disabled"},
	}
	resumeParams = map[string]any{
		"RecordingBehavior": map[string]any{"RecordedParticipants": []any{"Agent", "Customer"}},
	}
	encryptedInput = map[string]any{
		"StoreInput":      "True",
		"InputValidation": map[string]any{"CustomValidation": map[string]any{"MaximumLength": "19"}},
		"InputEncryption": map[string]any{"EncryptionKeyId": "key-id", "Key": "certificate"},
	}
)

func suspend(id, next string) map[string]any {
	return action(id, typeRecording, suspendParams, next)
}

func resume(id, next string) map[string]any {
	return action(id, typeRecording, resumeParams, next)
}

func capture(id, next string) map[string]any {
	return action(id, typeStoreInput, encryptedInput, next)
}

func hangUp(id string) map[string]any {
	return action(id, "DisconnectParticipant", nil, "")
}

func contactAttributes(id, next string, attributes map[string]any) map[string]any {
	return action(id, typeContactAttr, map[string]any{"Attributes": attributes}, next)
}

func flowAttributes(id, next string, attributes map[string]any) map[string]any {
	return action(id, typeFlowAttr, map[string]any{"FlowAttributes": attributes}, next)
}

func TestCheckSmallFlows(t *testing.T) {
	tests := []struct {
		name    string
		actions []map[string]any
		// want is "" for a flow that passes, else the rule, the block and
		// the path of the first violation, and part of its message.
		want    Rule
		block   string
		path    string
		message string
	}{
		{
			name: "suspend and resume",
			actions: []map[string]any{
				suspend("off", "pan"), capture("pan", "on"), resume("on", "bye"), hangUp("bye"),
			},
		},
		{
			name: "newer recording block",
			actions: []map[string]any{
				action("off", typeRecordingAndAnalytics, map[string]any{"VoiceBehavior": map[string]any{
					"VoiceRecordingBehavior": map[string]any{"RecordedParticipants": []any{}, "IVRRecordingBehavior": "Disabled"},
					"VoiceAnalyticsBehavior": map[string]any{"Enabled": "False"},
				}}, "pan"),
				capture("pan", "on"),
				action("on", typeRecordingAndAnalytics, map[string]any{"VoiceBehavior": map[string]any{
					"VoiceRecordingBehavior": map[string]any{"RecordedParticipants": []any{"Agent", "Customer"}},
				}}, "bye"),
				hangUp("bye"),
			},
		},
		{
			name: "retry loop while suspended",
			actions: []map[string]any{
				suspend("off", "pan"), capture("pan", "check"),
				action("check", "Compare", map[string]any{"ComparisonValue": "$.External.status"}, "on", "retry"),
				action("retry", "Loop", map[string]any{"LoopCount": "2"}, "on", "pan"),
				resume("on", "bye"), hangUp("bye"),
			},
		},
		{
			name:    "no recording block",
			actions: []map[string]any{capture("pan", "bye"), hangUp("bye")},
			want:    RuleCaptureWhileRecording, block: "pan", path: "pan",
			message: "no block on this path sets the recorded participants",
		},
		{
			name: "IVR recording not set",
			actions: []map[string]any{
				action("off", typeRecording, map[string]any{"RecordingBehavior": map[string]any{"RecordedParticipants": []any{}}}, "pan"),
				capture("pan", "on"), resume("on", "bye"), hangUp("bye"),
			},
			want: RuleCaptureWhileRecording, block: "pan", path: "off pan", message: `IVR recording is not set to "Disabled"`,
		},
		{
			name: "one branch skips the suspension",
			actions: []map[string]any{
				action("menu", "Compare", map[string]any{"ComparisonValue": "$.Attributes.route"}, "off", "pan"),
				suspend("off", "pan"), capture("pan", "on"), resume("on", "bye"), hangUp("bye"),
			},
			want: RuleCaptureWhileRecording, block: "pan", path: "menu pan", message: "no block on this path",
		},
		{
			name: "resumed then captured again",
			actions: []map[string]any{
				suspend("off", "pan"), capture("pan", "on"), resume("on", "cvv"), capture("cvv", "bye"), hangUp("bye"),
			},
			want: RuleCaptureWhileRecording, block: "cvv", path: "off pan on cvv", message: "recording is on for Agent and Customer",
		},
		{
			name: "dead end while suspended",
			actions: []map[string]any{
				suspend("off", "pan"), capture("pan", "sorry"), action("sorry", "MessageParticipant", map[string]any{"Text": "Sorry."}, ""),
			},
			want: RuleExitWhileSuspended, block: "sorry", path: "off pan sorry", message: "recording is still suspended",
		},
		{
			name: "transfer to flow while suspended",
			actions: []map[string]any{
				suspend("off", "pan"), capture("pan", "next"),
				action("next", "TransferToFlow", map[string]any{"ContactFlowId": "arn"}, "on"),
				resume("on", "bye"), hangUp("bye"),
			},
			want: RuleExitWhileSuspended, block: "next", path: "off pan next", message: "TransferToFlow",
		},
		{
			name: "lower-case StoreInput without encryption",
			actions: []map[string]any{
				suspend("off", "pan"),
				action("pan", typeStoreInput, map[string]any{"StoreInput": "true"}, "on"),
				resume("on", "bye"), hangUp("bye"),
			},
			want: RuleUnencryptedInput, block: "pan", path: "off pan", message: "without encryption",
		},
		{
			name: "menu input is no capture",
			actions: []map[string]any{
				action("menu", typeStoreInput, map[string]any{"StoreInput": "False", "Text": "Press 1."}, "bye"), hangUp("bye"),
			},
		},
		{
			name: "flow attribute overwritten before the copy",
			actions: []map[string]any{
				suspend("off", "pan"), capture("pan", "keep"),
				flowAttributes("keep", "clear", map[string]any{"pan": map[string]any{"Value": "$.StoredCustomerInput"}}),
				flowAttributes("clear", "on", map[string]any{"pan": map[string]any{"Value": "done"}}),
				resume("on", "note"),
				contactAttributes("note", "bye", map[string]any{"card": "$.FlowAttributes.pan"}),
				hangUp("bye"),
			},
		},
		{
			name: "flow attribute with a longer name",
			actions: []map[string]any{
				suspend("off", "pan"), capture("pan", "keep"),
				flowAttributes("keep", "on", map[string]any{"pan": map[string]any{"Value": "$.StoredCustomerInput"}}),
				resume("on", "note"),
				contactAttributes("note", "bye", map[string]any{"last4": "$.FlowAttributes.panLast4"}),
				hangUp("bye"),
			},
		},
		{
			name: "flow attribute copied twice",
			actions: []map[string]any{
				suspend("off", "pan"), capture("pan", "keep"),
				flowAttributes("keep", "copy", map[string]any{"pan": map[string]any{"Value": "$.StoredCustomerInput"}}),
				flowAttributes("copy", "on", map[string]any{"card": map[string]any{"Value": "saved $.FlowAttributes.pan"}}),
				resume("on", "note"),
				contactAttributes("note", "bye", map[string]any{"summary": "card $.FlowAttributes.card"}),
				hangUp("bye"),
			},
			want: RuleCardDataInContactAttribute, block: "note", path: "off pan keep copy on note", message: "$.FlowAttributes.card",
		},
		{
			name: "card data in task attributes",
			actions: []map[string]any{
				suspend("off", "pan"), capture("pan", "on"), resume("on", "task"),
				action("task", "CreateTask", map[string]any{"Name": "Follow up", "Attributes": map[string]any{"card": "$.StoredCustomerInput"}}, "bye"),
				hangUp("bye"),
			},
			want: RuleCardDataInContactAttribute, block: "task", path: "off pan on task", message: "CreateTask copies $.StoredCustomerInput",
		},
		{
			name: "Lex token as a tag",
			actions: []map[string]any{
				suspend("off", "lex"),
				action("lex", typeLexBot, map[string]any{"LexV2Bot": map[string]any{"AliasArn": "arn"}}, "on"),
				resume("on", "tag"),
				action("tag", "TagContact", map[string]any{"Tags": map[string]any{"card": "$.Lex.SessionAttributes.encryptedCardToken"}}, "bye"),
				hangUp("bye"),
			},
			want: RuleCardDataInContactAttribute, block: "tag", path: "off lex on tag", message: "$.Lex.SessionAttributes.encryptedCardToken",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			violations := check(t, buildFlow(t, tt.actions...))
			if tt.want == "" {
				for _, v := range violations {
					t.Errorf("unexpected violation:\n%s", v)
				}
				return
			}
			if len(violations) == 0 {
				t.Fatalf("no violation, want %s at %s", tt.want, tt.block)
			}
			first := violations[0]
			if first.Rule != tt.want || first.Block != tt.block {
				t.Errorf("first violation %s at %s, want %s at %s", first.Rule, first.Block, tt.want, tt.block)
			}
			if !slices.Equal(first.Path, path(tt.path)) {
				t.Errorf("path = %v, want %v", first.Path, path(tt.path))
			}
			if !strings.Contains(first.Message, tt.message) {
				t.Errorf("message %q does not contain %q", first.Message, tt.message)
			}
		})
	}
}

func TestCheckRejectsUnknownParticipant(t *testing.T) {
	f := buildFlow(t,
		action("off", typeRecording, map[string]any{"RecordingBehavior": map[string]any{"RecordedParticipants": []any{"Supervisor"}}}, "bye"),
		hangUp("bye"),
	)
	_, err := Check(f)
	if err == nil || !strings.Contains(err.Error(), "action off: RecordedParticipants has Supervisor") {
		t.Errorf("error = %v, want the unknown participant named", err)
	}
}

func TestApplyRecording(t *testing.T) {
	tests := []struct {
		name          string
		params        map[string]any
		from          recording
		wantSuspended bool
		wantResumed   bool
	}{
		{name: "suspend", params: suspendParams, wantSuspended: true},
		{name: "resume", params: resumeParams, from: recording{participantsKnown: true, ivr: off, analytics: off}, wantResumed: true},
		{
			name:   "analytics enabled with no participant",
			params: map[string]any{"RecordingBehavior": suspendParams["RecordingBehavior"], "AnalyticsBehavior": map[string]any{"Enabled": "True"}},
		},
		{
			name:   "IVR setting misspelt",
			params: map[string]any{"RecordingBehavior": map[string]any{"RecordedParticipants": []any{}, "IVRRecordingBehavior": "Disable"}},
		},
		{
			name:   "agent only",
			params: map[string]any{"RecordingBehavior": map[string]any{"RecordedParticipants": []any{"Agent"}}},
			from:   recording{participantsKnown: true, participants: participantsBoth, ivr: off, analytics: on},
		},
		{
			name:          "analytics only keeps suspension",
			params:        map[string]any{"AnalyticsBehavior": map[string]any{"Enabled": "False"}},
			from:          recording{participantsKnown: true, ivr: off, analytics: off},
			wantSuspended: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, err := applyRecording(tt.from, Action{Identifier: "rec", Type: typeRecording, Parameters: tt.params})
			if err != nil || !changed {
				t.Fatalf("applyRecording: changed %v, error %v", changed, err)
			}
			if got.suspended() != tt.wantSuspended {
				t.Errorf("suspended = %v, want %v (%+v)", got.suspended(), tt.wantSuspended, got)
			}
			if got.resumed() != tt.wantResumed {
				t.Errorf("resumed = %v, want %v (%+v)", got.resumed(), tt.wantResumed, got)
			}
		})
	}
}
