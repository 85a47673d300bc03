package flowcheck

import (
	"fmt"
	"strings"
)

// Action types that set the recording behavior: the "Set recording and
// analytics behavior" block and its newer, channel-specific replacement.
const (
	typeRecording             = "UpdateContactRecordingBehavior"
	typeRecordingAndAnalytics = "UpdateContactRecordingAndAnalyticsBehavior"
)

// toggle is a switch whose value the flow may not have set on a path yet. A
// flow can start with recording or analytics on, because an earlier flow of
// the contact may have turned them on, so unknown never counts as off.
type toggle uint8

const (
	unknown toggle = iota
	on
	off
)

// Participants recorded, as a bit set.
const (
	participantAgent uint8 = 1 << iota
	participantCustomer
	participantsBoth = participantAgent | participantCustomer
)

// recording is the recording behavior in effect on a path.
type recording struct {
	participantsKnown bool
	participants      uint8
	ivr               toggle
	analytics         toggle
}

// suspended reports whether nothing of the contact is recorded or analysed:
// no participant recorded, IVR recording disabled and analytics off.
func (r recording) suspended() bool {
	return r.participantsKnown && r.participants == 0 && r.ivr == off && r.analytics == off
}

// resumed reports whether both the agent and the customer are recorded.
func (r recording) resumed() bool {
	return r.participantsKnown && r.participants&participantsBoth == participantsBoth
}

// whyNotSuspended lists, in words, what keeps r from being suspended.
func (r recording) whyNotSuspended() string {
	var reasons []string
	switch {
	case !r.participantsKnown:
		reasons = append(reasons, "no block on this path sets the recorded participants")
	case r.participants != 0:
		reasons = append(reasons, "recording is on for "+r.participantNames())
	}
	switch r.ivr {
	case unknown:
		reasons = append(reasons, `IVR recording is not set to "Disabled"`)
	case on:
		reasons = append(reasons, "IVR recording is enabled")
	}
	switch r.analytics {
	case unknown:
		reasons = append(reasons, "analytics is not known to be off")
	case on:
		reasons = append(reasons, "analytics is enabled")
	}
	return strings.Join(reasons, "; ")
}

// whyNotResumed describes what keeps r from being resumed.
func (r recording) whyNotResumed() string {
	if !r.participantsKnown || r.participants == 0 {
		return "recording is still suspended"
	}
	return "recording is on only for " + r.participantNames()
}

func (r recording) participantNames() string {
	var names []string
	if r.participants&participantAgent != 0 {
		names = append(names, "Agent")
	}
	if r.participants&participantCustomer != 0 {
		names = append(names, "Customer")
	}
	return strings.Join(names, " and ")
}

// applyRecording returns the recording behavior after a, and false when a
// does not set the recording behavior. A setting the block leaves out keeps
// its value from earlier on the path.
func applyRecording(r recording, a Action) (recording, bool, error) {
	var participants, ivr, analytics any
	switch a.Type {
	case typeRecording:
		participants = a.param("RecordingBehavior", "RecordedParticipants")
		ivr = a.param("RecordingBehavior", "IVRRecordingBehavior")
		analytics = a.param("AnalyticsBehavior", "Enabled")
	case typeRecordingAndAnalytics:
		participants = a.param("VoiceBehavior", "VoiceRecordingBehavior", "RecordedParticipants")
		ivr = a.param("VoiceBehavior", "VoiceRecordingBehavior", "IVRRecordingBehavior")
		analytics = a.param("VoiceBehavior", "VoiceAnalyticsBehavior", "Enabled")
	default:
		return r, false, nil
	}

	if participants != nil {
		set, err := parseParticipants(participants)
		if err != nil {
			return r, true, fmt.Errorf("action %s: %w", a.Identifier, err)
		}
		r.participantsKnown, r.participants = true, set
		// Analytics needs both participants recorded (the flow language
		// reference of UpdateContactRecordingBehavior allows
		// AnalyticsBehavior only then), so recording fewer turns it off
		// unless the same block enables it.
		if set != participantsBoth {
			r.analytics = off
		}
	}
	if s, ok := ivr.(string); ok {
		r.ivr = enabledToggle(s)
	}
	if s, ok := analytics.(string); ok {
		if isTrue(s) {
			r.analytics = on
		} else {
			r.analytics = off
		}
	}
	return r, true, nil
}

// enabledToggle reads an "Enabled" or "Disabled" setting. Anything but
// "Disabled" counts as on, so a typo cannot pass for a suspension.
func enabledToggle(s string) toggle {
	if strings.EqualFold(s, "Disabled") {
		return off
	}
	return on
}

func parseParticipants(v any) (uint8, error) {
	list, ok := v.([]any)
	if !ok {
		return 0, fmt.Errorf("RecordedParticipants is %T, want a list", v)
	}
	var set uint8
	for _, item := range list {
		switch item {
		case "Agent":
			set |= participantAgent
		case "Customer":
			set |= participantCustomer
		default:
			return 0, fmt.Errorf("RecordedParticipants has %v, want Agent or Customer", item)
		}
	}
	return set, nil
}
