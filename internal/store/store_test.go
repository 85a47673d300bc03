package store

import (
	"errors"
	"testing"
	"time"
)

func TestPhaseTerminalAndValid(t *testing.T) {
	tests := []struct {
		phase    Phase
		terminal bool
		valid    bool
	}{
		{PhaseStarted, false, true},
		{PhaseGatewaySent, false, true},
		{PhaseApproved, true, true},
		{PhaseDeclined, true, true},
		{PhaseFailed, true, true},
		{PhaseVoidPending, false, true},
		{PhaseVoided, true, true},
		{"pending", false, false},
		{"", false, false},
	}
	for _, tc := range tests {
		t.Run(string(tc.phase), func(t *testing.T) {
			if got := tc.phase.Terminal(); got != tc.terminal {
				t.Errorf("Terminal() = %v, want %v", got, tc.terminal)
			}
			if got := tc.phase.Valid(); got != tc.valid {
				t.Errorf("Valid() = %v, want %v", got, tc.valid)
			}
		})
	}
}

func TestInFlightPhasesAreNotTerminal(t *testing.T) {
	inFlight := 0
	for _, p := range Phases {
		if !p.Terminal() {
			inFlight++
		}
	}
	if inFlight != len(InFlightPhases) {
		t.Errorf("%d phases are not terminal, InFlightPhases lists %d", inFlight, len(InFlightPhases))
	}
	for _, p := range InFlightPhases {
		if p.Terminal() || !p.Valid() {
			t.Errorf("InFlightPhases lists %q, which is terminal or unknown", p)
		}
	}
}

func TestStoredTime(t *testing.T) {
	in := time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.FixedZone("UTC-5", -5*60*60))
	want := time.Date(2026, 1, 2, 8, 4, 5, 678901000, time.UTC)
	if got := StoredTime(in); got != want {
		t.Errorf("StoredTime(%v) = %v, want %v", in, got, want)
	}
	if got := StoredTime(time.Now()); got != got.Round(0) {
		t.Errorf("StoredTime(time.Now()) keeps a monotonic clock reading: %#v", got)
	}
}

func TestValidateTakeOver(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name  string
		until time.Time
		valid bool
	}{
		{"lease after now", now.Add(time.Second), true},
		{"lease at now", now, false},
		{"lease before now", now.Add(-time.Second), false},
		{"zero lease", time.Time{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateTakeOver("key-1", "task-a", now, tc.until)
			if got := err == nil; got != tc.valid {
				t.Fatalf("ValidateTakeOver = %v, want valid %v", err, tc.valid)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want it to wrap %v", err, ErrInvalid)
			}
		})
	}
}
