package card

import (
	"fmt"

	"github.com/connect-secure-input/processor/internal/secret"
)

// CVV is a validated card security code (CVV, CVC or CID). PCI DSS forbids
// keeping it after authorization, so callers wipe it as soon as the gateway
// has it.
type CVV struct {
	digits secret.Value
}

// ValidateCVV checks the security code a caller keyed and returns it as a
// CVV that owns a copy of the digits. One trailing '#' or '*' is stripped.
//
// The code must be 3 or 4 ASCII digits, otherwise the code is
// cvv_format. When the brand is known, the length must match it: 4 digits
// for American Express (CID), 3 for every other brand, otherwise the code is
// cvv_length_for_brand. Unknown accepts 3 or 4 digits.
//
// The caller still owns raw and must wipe it.
func ValidateCVV(raw secret.Value, brand Brand) (CVV, error) {
	digits := stripTerminator(raw.Bytes())
	n := len(digits)
	if !allDigits(digits) || n < 3 || n > 4 {
		return CVV{}, invalid(CodeCVVFormat, "The security code must be 3 or 4 digits.")
	}

	if rule, ok := brandRules[brand]; ok && n != rule.cvvLength {
		return CVV{}, invalid(CodeCVVLengthForBrand, fmt.Sprintf(
			"%s cards have a %d-digit security code, but %d digits were entered.", rule.name, rule.cvvLength, n))
	}
	return CVV{digits: secret.Copy(digits)}, nil
}

// Digits returns the code. The Value shares its backing array with the CVV,
// so wiping either wipes both.
func (c CVV) Digits() secret.Value { return c.digits }

// Len returns the number of digits, or 0 once wiped.
func (c CVV) Len() int { return c.digits.Len() }

// Wipe zeroes the digits in place. It is safe to call more than once.
func (c CVV) Wipe() { c.digits.Wipe() }
