package authorize

import (
	"github.com/connect-secure-input/processor/internal/store"
)

// Status is the client-facing state of an authorization.
type Status string

// The statuses the API returns.
const (
	StatusApproved Status = "approved"
	StatusDeclined Status = "declined"
	StatusPending  Status = "pending"
	StatusFailed   Status = "failed"
)

// StatusOf maps a record's phase to the client-facing status: in-flight
// phases are pending, and a voided authorization is failed (its
// failureReason says why), because the caller was not charged.
func StatusOf(rec store.Record) Status {
	switch rec.Phase {
	case store.PhaseApproved:
		return StatusApproved
	case store.PhaseDeclined:
		return StatusDeclined
	case store.PhaseFailed, store.PhaseVoided:
		return StatusFailed
	}
	return StatusPending
}
