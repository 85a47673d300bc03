package gateway

import (
	"fmt"
	"unicode"
)

// Request limits. They are at or below Stripe's limits for idempotency keys
// and metadata values, so these fields of a valid request also pass Stripe's
// length checks.
const (
	// MaxIdempotencyKeyLength is the longest idempotency key in bytes.
	// Stripe accepts 255 characters; adapters append a suffix of up to 20
	// bytes to derive one key per gateway call.
	MaxIdempotencyKeyLength = 200
	// MaxMetadataLength is the longest ContactID or MerchantReference in
	// bytes, Stripe's limit for a metadata value.
	MaxMetadataLength = 500
	// MinExpiryYear and MaxExpiryYear bound Card.ExpiryYear.
	MinExpiryYear = 2000
	MaxExpiryYear = 2099
	// MinPANLength and MaxPANLength bound the PAN in digits (ISO/IEC 7812).
	MinPANLength = 12
	MaxPANLength = 19
)

// Validate checks the request before any gateway call. Its errors are
// *Error with CodeInvalidRequest; they name the field and never contain card
// data. Validate checks the shape of the card only; the card package checks
// the Luhn digit, brand and expiry against the clock.
func (r Request) Validate() error {
	if r.Amount <= 0 {
		return invalidf(OpAuthorize, "amount %d is not positive: send the amount in minor units, such as 1050 for 10.50", r.Amount)
	}
	if !isCurrencyCode(r.Currency) {
		return invalidf(OpAuthorize, "currency %q is not an ISO 4217 code: send three upper-case letters, such as USD", r.Currency)
	}
	if err := ValidateIdempotencyKey(OpAuthorize, r.IdempotencyKey); err != nil {
		return err
	}
	if err := validateMetadata("contact id", r.ContactID); err != nil {
		return err
	}
	if err := validateMetadata("merchant reference", r.MerchantReference); err != nil {
		return err
	}
	switch r.CaptureMode {
	case "", CaptureManual, CaptureAutomatic:
	default:
		return invalidf(OpAuthorize, "capture mode %q is unknown: use %q or %q", r.CaptureMode, CaptureManual, CaptureAutomatic)
	}
	return r.Card.validate()
}

func (c Card) validate() error {
	pan := c.PAN.Bytes()
	if len(pan) < MinPANLength || len(pan) > MaxPANLength || !allDigits(pan) {
		// The message gives the length only: the digits are card data.
		return invalidf(OpAuthorize, "PAN must be %d to %d digits, got %d bytes", MinPANLength, MaxPANLength, len(pan))
	}
	if c.ExpiryMonth < 1 || c.ExpiryMonth > 12 {
		return invalidf(OpAuthorize, "expiry month %d is out of range 1 to 12", c.ExpiryMonth)
	}
	if c.ExpiryYear < MinExpiryYear || c.ExpiryYear > MaxExpiryYear {
		return invalidf(OpAuthorize, "expiry year %d is not a four-digit year from %d to %d", c.ExpiryYear, MinExpiryYear, MaxExpiryYear)
	}
	if cvv := c.CVV.Bytes(); len(cvv) != 0 && (len(cvv) < 3 || len(cvv) > 4 || !allDigits(cvv)) {
		return invalidf(OpAuthorize, "CVV must be 3 or 4 digits, got %d bytes", len(cvv))
	}
	return nil
}

// Validate checks that the void request names an authorization.
func (r VoidRequest) Validate() error {
	if r.GatewayReference == "" && r.IdempotencyKey == "" {
		return invalidf(OpVoid, "void request has neither a gateway reference nor an idempotency key")
	}
	if r.GatewayReference != "" && !isToken(r.GatewayReference) {
		return invalidf(OpVoid, "gateway reference %q contains characters other than letters, digits and _ - . :", r.GatewayReference)
	}
	if r.IdempotencyKey != "" {
		if err := ValidateIdempotencyKey(OpVoid, r.IdempotencyKey); err != nil {
			return err
		}
	}
	return nil
}

// ValidateIdempotencyKey checks that key is 1 to MaxIdempotencyKeyLength
// bytes of ASCII letters, digits and the marks _ - . : only. The narrow
// alphabet keeps the key safe inside HTTP headers and gateway search
// queries without escaping; an Amazon Connect contact id (a UUID) fits it.
// The error's Op is op.
func ValidateIdempotencyKey(op Op, key string) error {
	if key == "" {
		return invalidf(op, "idempotency key is missing")
	}
	if len(key) > MaxIdempotencyKeyLength {
		return invalidf(op, "idempotency key is %d bytes, longer than the maximum of %d", len(key), MaxIdempotencyKeyLength)
	}
	if !isToken(key) {
		return invalidf(op, "idempotency key %q contains characters other than letters, digits and _ - . :", key)
	}
	return nil
}

func validateMetadata(field, value string) error {
	if len(value) > MaxMetadataLength {
		return invalidf(OpAuthorize, "%s is %d bytes, longer than the maximum of %d", field, len(value), MaxMetadataLength)
	}
	for _, r := range value {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return invalidf(OpAuthorize, "%s contains a control character or invalid UTF-8", field)
		}
	}
	return nil
}

func invalidf(op Op, format string, args ...any) error {
	return &Error{Op: op, Code: CodeInvalidRequest, Detail: fmt.Sprintf(format, args...)}
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range len(s) {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func isToken(s string) bool {
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '-', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
