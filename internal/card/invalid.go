package card

// Stable reason codes of Invalid. The API returns them to clients and the
// metrics use them as label values, so they never change meaning.
const (
	CodePANNotDigits      = "pan_not_digits"
	CodePANLength         = "pan_length"
	CodePANLuhn           = "pan_luhn"
	CodePANBrandLength    = "pan_brand_length"
	CodeExpiryFormat      = "expiry_format"
	CodeExpiryMonth       = "expiry_month"
	CodeExpiryPast        = "expiry_past"
	CodeExpiryTooFar      = "expiry_too_far"
	CodeCVVFormat         = "cvv_format"
	CodeCVVLengthForBrand = "cvv_length_for_brand"
)

// Invalid is the error every validation in this package returns for bad card
// data. Code is one of the Code constants. Message is a plain sentence for
// the client that never contains card digits: at most a count of digits or
// a limit of this package.
type Invalid struct {
	Code    string
	Message string
}

// Error returns the code and the message.
func (e *Invalid) Error() string {
	return e.Code + ": " + e.Message
}

// Is reports whether target is an *Invalid with the same code, so that
// errors.Is(err, &card.Invalid{Code: card.CodePANLuhn}) matches any Luhn
// failure whatever its message.
func (e *Invalid) Is(target error) bool {
	t, ok := target.(*Invalid)
	return ok && t.Code == e.Code
}

func invalid(code, message string) *Invalid {
	return &Invalid{Code: code, Message: message}
}
