package lexencrypt

import (
	"github.com/connect-secure-input/processor/internal/secret"
)

// Field is a card field that the bot can capture.
type Field struct {
	// Name is the field's name in logs: "pan", "expiry" or "cvv".
	Name string
	// Slot is the Lex slot that carries the field.
	Slot string
	// Attribute is the session attribute that receives the ciphertext.
	Attribute string
	// Required fields re-prompt when their slot is empty. Optional ones are
	// skipped, because not every bot elicits the expiry or the CVV.
	Required bool
	// minDigits and maxDigits bound the number of digits.
	minDigits, maxDigits int
	// check, when set, tests the digits beyond their count.
	check func(digits []byte) bool
}

// Slot names the bot must use.
const (
	SlotCardNumber = "CardNumber"
	SlotCardExpiry = "CardExpiry"
	SlotCardCVV    = "CardCVV"
)

// Session attributes this function writes for the contact flow.
const (
	AttributeCardToken   = "encryptedCardToken"
	AttributeExpiryToken = "encryptedExpiryToken"
	AttributeCVVToken    = "encryptedCvvToken"
	// AttributeStatus is "encrypted" when every captured field was encrypted,
	// "invalid" after too many re-prompts and "failed" when encryption failed,
	// so the flow can branch without testing whether a token is present.
	AttributeStatus = "cardCaptureStatus"
	// AttributeAttempts counts the re-prompts of this conversation.
	AttributeAttempts = "cardCaptureAttempts"
)

// Values of AttributeStatus.
const (
	StatusEncrypted = "encrypted"
	StatusInvalid   = "invalid"
	StatusFailed    = "failed"
)

// Fields lists the card fields in the order they are checked and re-prompted.
var Fields = []Field{
	{Name: "pan", Slot: SlotCardNumber, Attribute: AttributeCardToken, Required: true, minDigits: 13, maxDigits: 19},
	{Name: "expiry", Slot: SlotCardExpiry, Attribute: AttributeExpiryToken, minDigits: 4, maxDigits: 4, check: validMonth},
	{Name: "cvv", Slot: SlotCardCVV, Attribute: AttributeCVVToken, minDigits: 3, maxDigits: 4},
}

// parseDigits reads a slot's interpreted value, a JSON string token, into a
// new buffer of ASCII digits. Spaces and hyphens between digit groups are
// dropped, because a transcription may group the digits as they were spoken.
// It reports false for anything else: another character, a JSON escape, a
// value that is not a string, or a digit count outside the field's bounds.
// The caller owns the returned value and must wipe it; raw is not modified.
func parseDigits(raw []byte, f Field) (secret.Value, bool) {
	if len(raw) < 2 || len(raw) > maxSlotValueBytes || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return secret.Value{}, false
	}
	digits := make([]byte, 0, len(raw)-2)
	for _, c := range raw[1 : len(raw)-1] {
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case c == ' ' || c == '-':
		default:
			secret.Zero(digits)
			return secret.Value{}, false
		}
	}
	ok := len(digits) >= f.minDigits && len(digits) <= f.maxDigits && (f.check == nil || f.check(digits))
	if !ok {
		secret.Zero(digits)
		return secret.Value{}, false
	}
	return secret.New(digits), true
}

// validMonth reports whether an MMYY expiry has a month from 01 to 12. The
// year is not checked here: the processor rejects an expired card.
func validMonth(mmyy []byte) bool {
	month := int(mmyy[0]-'0')*10 + int(mmyy[1]-'0')
	return month >= 1 && month <= 12
}
