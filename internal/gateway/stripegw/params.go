package stripegw

import (
	"strings"

	"github.com/stripe/stripe-go/v82"

	"github.com/connect-secure-input/processor/internal/gateway"
)

// Suffixes that derive one Stripe Idempotency-Key per API call from the
// request's idempotency key. Stripe rejects a key reused on another endpoint,
// so the PaymentMethod and PaymentIntent calls need distinct keys.
const (
	paymentMethodKeySuffix = ":payment_method"
	paymentIntentKeySuffix = ":payment_intent"
	cancelKeySuffix        = ":cancel"
)

// cancellationReason is sent with every void. Stripe accepts duplicate,
// fraudulent, requested_by_customer and abandoned; a void after a timeout
// or an operator's cancel is an abandoned payment.
const cancellationReason = "abandoned"

func paymentMethodParams(req gateway.Request) *stripe.PaymentMethodCreateParams {
	params := &stripe.PaymentMethodCreateParams{
		Type: stripe.String(string(stripe.PaymentMethodTypeCard)),
		Card: cardParams(req.Card),
	}
	params.SetIdempotencyKey(req.IdempotencyKey + paymentMethodKeySuffix)
	return params
}

// cardParams converts the card for stripe-go.
//
// NOTE: stripe-go takes the card number and CVC as *string, so this is the
// one place where card data becomes Go strings. Strings cannot be wiped:
// these copies, and the form-encoded body that stripe-go builds from them,
// stay in memory until the garbage collector reclaims them. Nothing keeps a
// reference after the PaymentMethod call returns.
func cardParams(card gateway.Card) *stripe.PaymentMethodCreateCardParams {
	params := &stripe.PaymentMethodCreateCardParams{
		Number:   stripe.String(string(card.PAN.Bytes())),
		ExpMonth: stripe.Int64(int64(card.ExpiryMonth)),
		ExpYear:  stripe.Int64(int64(card.ExpiryYear)),
	}
	if card.CVV.Len() > 0 {
		params.CVC = stripe.String(string(card.CVV.Bytes()))
	}
	return params
}

func paymentIntentParams(req gateway.Request, paymentMethodID string) *stripe.PaymentIntentCreateParams {
	params := &stripe.PaymentIntentCreateParams{
		Amount:             stripe.Int64(req.Amount),
		Currency:           stripe.String(strings.ToLower(req.Currency)),
		PaymentMethod:      stripe.String(paymentMethodID),
		PaymentMethodTypes: []*string{stripe.String(string(stripe.PaymentMethodTypeCard))},
		Confirm:            stripe.Bool(true),
		CaptureMethod:      stripe.String(captureMethod(req.CaptureMode)),
		// A caller on the phone cannot complete 3-D Secure, so a payment that
		// needs it fails at once instead of waiting in requires_action.
		ErrorOnRequiresAction: stripe.Bool(true),
	}
	if req.MOTO {
		params.PaymentMethodOptions = &stripe.PaymentIntentCreatePaymentMethodOptionsParams{
			Card: &stripe.PaymentIntentCreatePaymentMethodOptionsCardParams{MOTO: stripe.Bool(true)},
		}
	}
	params.AddMetadata(MetadataIdempotencyKey, req.IdempotencyKey)
	if req.ContactID != "" {
		params.AddMetadata(MetadataContactID, req.ContactID)
	}
	if req.MerchantReference != "" {
		params.AddMetadata(MetadataMerchantReference, req.MerchantReference)
	}
	params.AddExpand("latest_charge")
	params.SetIdempotencyKey(req.IdempotencyKey + paymentIntentKeySuffix)
	return params
}

func cancelParams(paymentIntentID string) *stripe.PaymentIntentCancelParams {
	params := &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String(cancellationReason)}
	params.AddExpand("latest_charge")
	params.SetIdempotencyKey(paymentIntentID + cancelKeySuffix)
	return params
}

func captureMethod(mode gateway.CaptureMode) string {
	if mode.Effective() == gateway.CaptureAutomatic {
		return string(stripe.PaymentIntentCaptureMethodAutomatic)
	}
	return string(stripe.PaymentIntentCaptureMethodManual)
}
