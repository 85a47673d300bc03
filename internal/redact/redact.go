// Package redact sets up the service's zap logger and is the second fence
// against card data in logs. The first fence is the secret types, which
// print a redaction mark through every formatting path. This package catches
// what slips past them, such as a PAN pasted into a message, a field named
// "cvv", a card number inside an error text or a struct logged with zap.Any.
//
// Every logger from NewLogger, and every core wrapped by WrapCore, scrubs
// each entry before it is encoded:
//
//   - PAN-like runs (12 to 19 digits that pass the Luhn check, contiguous or
//     split by single spaces or dashes) in the message, in string, byte
//     string, binary, Stringer, error, integer and reflected values, and in
//     strings inside objects and arrays, become the first six digits, one '*'
//     per hidden digit and the last four, for example "411111******1111".
//   - Values under keys that name card data or ciphertext ("cvv", "pan",
//     "cardNumber", "security_code", "ciphertext", "expiry", ...) become
//     "[REDACTED]", at the top level and inside objects, arrays and
//     reflected values.
//
// Each change is reported to a ScrubCounter, so that a leak attempt shows
// up in the processor_redaction_scrubs_total metric.
//
// Out of scope, and caught only by the first fence or by review:
//
//   - Digit runs that fail the Luhn check. They are not card numbers, and
//     masking them would mangle order ids and other long numbers.
//   - PANs written any other way: more than one separator between groups,
//     other separators (dots, slashes), non-ASCII digits, a PAN glued to
//     other digits into a run of 20 or more, or an encoding of the digits
//     (base64, hex, a float that lost precision).
//   - CVVs and expiry dates outside a field with a telling key: three or four
//     digits in a message cannot be told apart from any other number.
//   - Logger names, the caller and field keys other than map keys inside
//     reflected values, which come from code, not from data.
//   - Fields the encoder adds on its own (time, level).
//
// The HTTP middleware here writes the access log, assigns request ids and
// recovers panics; it never logs request bodies, query strings or headers
// other than User-Agent.
package redact

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/connect-secure-input/processor/internal/secret"
)

// ScrubCounter receives one call for every value the redaction core changes.
// Implementations must be safe for concurrent use.
type ScrubCounter interface {
	// Scrubbed counts one change of the given kind, one of the Kind constants.
	Scrubbed(kind string)
}

// The kinds of change reported to a ScrubCounter.
const (
	// KindPANInMessage is a PAN-like run masked in a log message or stack
	// trace.
	KindPANInMessage = "pan_in_message"
	// KindPANInField is a PAN-like run masked in a field value.
	KindPANInField = "pan_in_field"
	// KindSensitiveField is a field value replaced by the redaction mark
	// because its key names card data. A value that already was the mark,
	// such as a secret.Value, is not counted.
	KindSensitiveField = "sensitive_field"
)

// ScrubKinds lists every kind a ScrubCounter can receive, for metrics that
// start each series at zero.
var ScrubKinds = []string{KindPANInMessage, KindPANInField, KindSensitiveField}

// Redacted is the mark that replaces a dropped value. It is the same mark
// secret values print, so a log reader sees one word for both fences.
const Redacted = secret.Redacted

// ensureRedacted returns logger unchanged when its core is a redaction core,
// and otherwise a copy whose core is wrapped in one without a counter. The
// middleware calls it so that a caller passing a plain logger still gets
// scrubbed output.
func ensureRedacted(logger *zap.Logger) *zap.Logger {
	if _, ok := logger.Core().(*core); ok {
		return logger
	}
	return logger.WithOptions(zap.WrapCore(func(inner zapcore.Core) zapcore.Core {
		return WrapCore(inner, nil)
	}))
}
