// Package card validates plaintext card data held in secret values: the PAN
// (with its brand by IIN range), the expiry date and the card security code.
// It also produces the two forms of a PAN that may leave the process, the
// masked BIN and last four digits, and a keyed fingerprint.
//
// Validation reads the digits in place and never converts them to a string.
// The one exception is Masked, whose BIN and last four digits PCI DSS allows
// in clear. Every failure is an *Invalid with a stable code.
package card

import (
	"fmt"
	"slices"
	"strings"

	"go.uber.org/zap/zapcore"

	"github.com/connect-secure-input/processor/internal/secret"
)

// PAN length limits in digits. ISO/IEC 7812 allows at most 19, and the
// shortest PANs of the brands in the IIN table are Maestro's 12. Each brand
// narrows the range further (brandRules).
const (
	MinPANLength = 12
	MaxPANLength = 19
)

// PAN is a validated primary account number. It owns its digits in a
// secret.Value of its own, so the caller wipes the raw input independently
// and calls Wipe on the PAN when done. The zero PAN holds no digits.
type PAN struct {
	digits secret.Value
	brand  Brand
	masked Masked
}

// ValidatePAN checks the digits a caller keyed and returns them as a PAN.
//
// One trailing '#' or '*' (the keypad's end-of-input key) is stripped. The
// rest must be 12 to 19 ASCII digits that pass the Luhn check, with a length
// the detected brand allows. A PAN that matches no IIN range is accepted as
// Unknown, so the gateway decides on networks this package does not list.
//
// UnionPay PANs must pass the Luhn check like every other brand. Some
// libraries skip it for UnionPay because some domestic UnionPay cards carry
// no Luhn check digit. This service rejects them instead: a mistyped digit is
// the most common keypad error, and the rejection makes the flow ask the
// caller to enter the number again instead of sending it to a gateway decline.
//
// The caller still owns raw and must wipe it; the returned PAN holds a copy.
func ValidatePAN(raw secret.Value) (PAN, error) {
	digits := stripTerminator(raw.Bytes())
	if !allDigits(digits) {
		return PAN{}, invalid(CodePANNotDigits,
			"The card number may contain only digits, optionally ended by one # or *.")
	}

	n := len(digits)
	if n < MinPANLength || n > MaxPANLength {
		return PAN{}, invalid(CodePANLength, fmt.Sprintf(
			"The card number has %d digits, but card numbers have %d to %d digits.", n, MinPANLength, MaxPANLength))
	}
	if !luhnValid(digits) {
		return PAN{}, invalid(CodePANLuhn,
			"The card number fails the Luhn check, so a digit is probably mistyped. Ask for the number again.")
	}

	brand := brandOf(digits)
	if rule, ok := brandRules[brand]; ok && !slices.Contains(rule.lengths, n) {
		return PAN{}, invalid(CodePANBrandLength, fmt.Sprintf(
			"The card number has %d digits, but %s card numbers have %s digits.", n, rule.name, joinLengths(rule.lengths)))
	}

	return PAN{digits: secret.Copy(digits), brand: brand, masked: mask(digits, brand)}, nil
}

// Digits returns the PAN's digits without the terminator. The Value shares
// its backing array with the PAN, so wiping either wipes both.
func (p PAN) Digits() secret.Value { return p.digits }

// Brand returns the brand detected from the IIN.
func (p PAN) Brand() Brand { return p.brand }

// Len returns the number of digits. It stays valid after Wipe.
func (p PAN) Len() int { return p.masked.Length }

// Masked returns the BIN, last four digits, brand and length. It stays valid
// after Wipe, because none of it is sensitive under PCI DSS.
func (p PAN) Masked() Masked { return p.masked }

// Wipe zeroes the digits in place. It is safe to call more than once.
func (p PAN) Wipe() { p.digits.Wipe() }

// String returns the masked form, for example "41111111****1111".
func (p PAN) String() string { return p.masked.String() }

// GoString returns the masked form, so %#v cannot print the digits.
func (p PAN) GoString() string { return p.masked.String() }

// Format prints the masked form for every verb.
func (p PAN) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(p.masked.String())) }

// MarshalLogObject logs the masked form's fields.
func (p PAN) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	return p.masked.MarshalLogObject(enc)
}

// Masked is the part of a PAN that PCI DSS allows to be shown: the bank
// identification number (BIN) and the last four digits. BIN is the first 6
// digits, or the first 8 for PANs of 16 digits or more. Both limits leave
// at least two digits hidden for every length from 12 to 19.
type Masked struct {
	Brand  Brand  `json:"brand"`
	BIN    string `json:"bin"`
	Last4  string `json:"last4"`
	Length int    `json:"length"`
}

// BINLength returns how many leading digits of a PAN of n digits form its
// BIN in Masked.
func BINLength(n int) int {
	if n >= 16 {
		return 8
	}
	return 6
}

// String returns the BIN, one '*' per hidden digit and the last four digits,
// for example "378282*****0005". The zero Masked returns "".
func (m Masked) String() string {
	hidden := m.Length - len(m.BIN) - len(m.Last4)
	if hidden < 0 {
		hidden = 0
	}
	return m.BIN + strings.Repeat("*", hidden) + m.Last4
}

// MarshalLogObject logs brand, BIN, last four digits and length.
func (m Masked) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("brand", string(m.Brand))
	enc.AddString("bin", m.BIN)
	enc.AddString("last4", m.Last4)
	enc.AddInt("length", m.Length)
	return nil
}

// mask builds Masked from validated digits. These string conversions are
// the only ones of card digits in this package, and they cover at most the
// BIN and the last four digits.
func mask(digits []byte, brand Brand) Masked {
	n := len(digits)
	return Masked{
		Brand:  brand,
		BIN:    string(digits[:BINLength(n)]),
		Last4:  string(digits[n-4:]),
		Length: n,
	}
}

// stripTerminator returns b without one trailing '#' or '*', the keys a
// Connect flow may use to end keypad input.
func stripTerminator(b []byte) []byte {
	if n := len(b); n > 0 && (b[n-1] == '#' || b[n-1] == '*') {
		return b[:n-1]
	}
	return b
}

// allDigits reports whether b contains only ASCII digits. An empty b does.
func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// luhnValid reports whether the last digit of digits is the Luhn (mod 10)
// check digit of the others, as ISO/IEC 7812-1 specifies for PANs.
func luhnValid(digits []byte) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// joinLengths writes lengths for a message, for example "14, 16 or 19".
func joinLengths(lengths []int) string {
	var sb strings.Builder
	for i, n := range lengths {
		switch {
		case i == 0:
		case i == len(lengths)-1:
			sb.WriteString(" or ")
		default:
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%d", n)
	}
	return sb.String()
}

var (
	_ fmt.Stringer            = PAN{}
	_ fmt.Formatter           = PAN{}
	_ zapcore.ObjectMarshaler = PAN{}
	_ zapcore.ObjectMarshaler = Masked{}
)
