package gateway

// DeclineCode is the service's normalized reason for a decline. Gateways
// report many more codes; each adapter maps its own onto this short list so
// that callers, metrics and the API see one vocabulary.
type DeclineCode string

const (
	// DeclineInsufficientFunds covers insufficient funds and exceeded
	// balance, credit or velocity limits.
	DeclineInsufficientFunds DeclineCode = "insufficient_funds"
	// DeclineDoNotHonor is an issuer refusal without a more specific reason
	// that the caller could act on.
	DeclineDoNotHonor DeclineCode = "do_not_honor"
	// DeclineExpiredCard means the card is past its expiry date.
	DeclineExpiredCard DeclineCode = "expired_card"
	// DeclineInvalidExpiry means the expiry month or year is not the card's.
	DeclineInvalidExpiry DeclineCode = "invalid_expiry"
	// DeclineIncorrectCVC means the CVV does not match the card.
	DeclineIncorrectCVC DeclineCode = "incorrect_cvc"
	// DeclineIncorrectNumber means the PAN is not a valid card number.
	DeclineIncorrectNumber DeclineCode = "incorrect_number"
	// DeclineLostOrStolen means the card is reported lost or stolen, or the
	// issuer asked to pick it up.
	DeclineLostOrStolen DeclineCode = "lost_or_stolen"
	// DeclineProcessingError means the issuer or network failed to process
	// the authorization; trying again may succeed.
	DeclineProcessingError DeclineCode = "processing_error"
	// DeclineTryAgainLater means the issuer was unavailable or asked for a
	// retry later.
	DeclineTryAgainLater DeclineCode = "try_again_later"
	// DeclineCardNotSupported means the card does not support this kind of
	// purchase or this currency.
	DeclineCardNotSupported DeclineCode = "card_not_supported"
	// DeclineFraudulent means the issuer or the gateway's risk checks
	// suspect fraud.
	DeclineFraudulent DeclineCode = "fraudulent"
	// DeclineAuthenticationRequired means the issuer requires customer
	// authentication (3-D Secure or a PIN), which a telephone order cannot
	// provide.
	DeclineAuthenticationRequired DeclineCode = "authentication_required"
	// DeclineGeneric is the fallback for a decline without a code and for
	// any gateway code that no adapter maps. Adapters keep the original code
	// in Result.GatewayDeclineCode.
	DeclineGeneric DeclineCode = "generic_decline"
)

// DeclineCodes lists every normalized decline code, for metrics that start
// each label series at zero.
var DeclineCodes = []DeclineCode{
	DeclineInsufficientFunds,
	DeclineDoNotHonor,
	DeclineExpiredCard,
	DeclineInvalidExpiry,
	DeclineIncorrectCVC,
	DeclineIncorrectNumber,
	DeclineLostOrStolen,
	DeclineProcessingError,
	DeclineTryAgainLater,
	DeclineCardNotSupported,
	DeclineFraudulent,
	DeclineAuthenticationRequired,
	DeclineGeneric,
}
