package forwarder

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
)

// Operations, selected by the operation parameter of the Invoke AWS Lambda
// function block.
const (
	// OperationValidate decrypts and checks one captured field.
	OperationValidate = "validate"
	// OperationAuthorize authorizes a payment with the captured card.
	OperationAuthorize = "authorize"
	// OperationStatus looks up the authorization of one payment attempt.
	OperationStatus = "status"
)

// Parameter names, as set in the Invoke AWS Lambda function block and read
// from Details.Parameters of the event.
const (
	// ParamOperation selects the operation: validate, authorize or status.
	ParamOperation = "operation"
	// ParamField is the card field a validation checks: pan, expiry or cvv.
	ParamField = "field"
	// ParamCiphertext is the ciphertext a validation checks, typically
	// $.StoredCustomerInput right after the Store customer input block.
	ParamCiphertext = "ciphertext"
	// ParamBrand is the brand from the PAN validation, for a CVV
	// validation (optional).
	ParamBrand = "brand"
	// ParamAmount is the amount in the currency's minor units (cents for
	// USD), as decimal digits.
	ParamAmount = "amount"
	// ParamCurrency is the ISO 4217 alphabetic currency code.
	ParamCurrency = "currency"
	// ParamReference is the merchant's reference for the payment (optional).
	ParamReference = "reference"
	// ParamPANCiphertext, ParamExpiryCiphertext and ParamCVVCiphertext are
	// the ciphertexts of an authorization; the CVV is optional.
	ParamPANCiphertext    = "panCiphertext"
	ParamExpiryCiphertext = "expiryCiphertext"
	ParamCVVCiphertext    = "cvvCiphertext"
	// ParamAttempt is the payment attempt number of an authorization or a
	// status lookup, 1 to MaxAttempt; absent means 1.
	ParamAttempt = "attempt"
)

// MaxAttempt bounds ParamAttempt, so the idempotency key stays within the
// API's 128 characters.
const MaxAttempt = 999

// Limits of the API contract that the forwarder checks before it sends a
// request, so that a misconfigured block gets invalid_event instead of a
// round trip that ends in invalid_request. Ciphertext sizes are left to the
// processor, whose bound is configurable and whose ciphertext_too_large
// tells the flow more.
const (
	maxContactIDLength = 128
	maxReferenceLength = 128
	maxAmountDigits    = 18 // every 18-digit value fits in an int64
)

// keyInfix separates the contact id from the attempt number in an
// idempotency key.
const keyInfix = ":" + OperationAuthorize + ":"

// maxKeyBaseLength leaves room in the API's 128-character idempotency key
// for keyInfix and a three-digit attempt.
const maxKeyBaseLength = 128 - len(keyInfix) - 3

var (
	// contactIDPattern is the idempotency key alphabet of the API. Connect
	// contact ids are UUIDs, well within it.
	contactIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)
	currencyPattern  = regexp.MustCompile(`^[A-Z]{3}$`)
	amountPattern    = regexp.MustCompile(`^[0-9]+$`)
	attemptPattern   = regexp.MustCompile(`^[1-9][0-9]{0,2}$`)
)

// Card fields and brands that the API accepts.
var (
	validFields = map[string]bool{"pan": true, "expiry": true, "cvv": true}
	validBrands = map[string]bool{
		"visa": true, "mastercard": true, "amex": true, "discover": true, "jcb": true,
		"diners": true, "unionpay": true, "maestro": true, "unknown": true,
	}
)

// ErrInvalidEvent marks an event that is no contact-flow invocation the
// forwarder can serve: no ContactId, or no known operation. Handle returns it
// wrapped, so the flow takes the block's Error branch.
var ErrInvalidEvent = errors.New("invalid Connect event")

// ParameterError is a parameter of a known operation that is missing or out
// of range. Handle returns it as status=error and reason=invalid_event, so
// the flow can route the contact to an agent. Parameter is the parameter's
// name, and its value never appears in the message.
type ParameterError struct {
	Parameter string
	Problem   string
}

func (e *ParameterError) Error() string {
	return fmt.Sprintf("parameter %q %s", e.Parameter, e.Problem)
}

// contact identifies the contact of one invocation.
type contact struct {
	// ID is Details.ContactData.ContactId, sent to the processor for its
	// audit log.
	ID string
	// KeyBase is InitialContactId, or ContactId when that is empty. A
	// transfer gives the call a new ContactId but keeps its
	// InitialContactId, so a payment attempt keeps its idempotency key across
	// transfers.
	KeyBase string
}

// request is one parsed invocation.
type request struct {
	Operation string
	Contact   contact

	Validation    validationRequest
	Authorization authorizationRequest
}

// readContact checks the contact data of event. A failure wraps
// ErrInvalidEvent.
func readContact(event events.ConnectEvent) (contact, error) {
	data := event.Details.ContactData
	if data.ContactID == "" {
		return contact{}, fmt.Errorf("%w: Details.ContactData.ContactId is missing; invoke the forwarder from an Invoke AWS Lambda function block of a contact flow", ErrInvalidEvent)
	}
	if err := checkContactID("ContactId", data.ContactID, maxContactIDLength); err != nil {
		return contact{}, err
	}
	c := contact{ID: data.ContactID, KeyBase: data.ContactID}
	if data.InitialContactID != "" {
		if err := checkContactID("InitialContactId", data.InitialContactID, maxKeyBaseLength); err != nil {
			return contact{}, err
		}
		c.KeyBase = data.InitialContactID
	}
	if len(c.KeyBase) > maxKeyBaseLength {
		return contact{}, fmt.Errorf("%w: Details.ContactData.ContactId is %d characters long, at most %d fit in an idempotency key", ErrInvalidEvent, len(c.KeyBase), maxKeyBaseLength)
	}
	return c, nil
}

func checkContactID(name, value string, maxLength int) error {
	if len(value) > maxLength {
		return fmt.Errorf("%w: Details.ContactData.%s is %d characters long, at most %d are accepted", ErrInvalidEvent, name, len(value), maxLength)
	}
	if !contactIDPattern.MatchString(value) {
		return fmt.Errorf("%w: Details.ContactData.%s has a character outside [A-Za-z0-9._:-]", ErrInvalidEvent, name)
	}
	return nil
}

// readOperation returns the operation parameter of event. A missing or
// unknown operation wraps ErrInvalidEvent, because no caller input can fix
// it: the block itself is misconfigured.
func readOperation(params map[string]string) (string, error) {
	operation, ok := params[ParamOperation]
	if !ok || operation == "" {
		return "", fmt.Errorf("%w: parameter %q is missing; set it to %q, %q or %q in the Invoke AWS Lambda function block",
			ErrInvalidEvent, ParamOperation, OperationValidate, OperationAuthorize, OperationStatus)
	}
	switch operation {
	case OperationValidate, OperationAuthorize, OperationStatus:
		return operation, nil
	}
	return "", fmt.Errorf("%w: parameter %q is not %q, %q or %q",
		ErrInvalidEvent, ParamOperation, OperationValidate, OperationAuthorize, OperationStatus)
}

// readValidation reads the parameters of a validation.
func readValidation(params map[string]string, c contact) (validationRequest, error) {
	field := params[ParamField]
	if !validFields[field] {
		return validationRequest{}, &ParameterError{ParamField, "must be pan, expiry or cvv"}
	}
	ciphertext, err := readCiphertext(params, ParamCiphertext, true)
	if err != nil {
		return validationRequest{}, err
	}
	brand := params[ParamBrand]
	if brand != "" && !validBrands[brand] {
		return validationRequest{}, &ParameterError{ParamBrand, "must be a brand returned by the PAN validation, or empty"}
	}
	if brand != "" && field != "cvv" {
		// The API accepts a brand only to check a CVV's length.
		brand = ""
	}
	return validationRequest{Field: field, Ciphertext: ciphertext, Brand: brand, ContactID: c.ID}, nil
}

// readAuthorization reads the parameters of an authorization.
func readAuthorization(params map[string]string, c contact) (authorizationRequest, error) {
	attempt, err := readAttempt(params)
	if err != nil {
		return authorizationRequest{}, err
	}
	amount, err := readAmount(params)
	if err != nil {
		return authorizationRequest{}, err
	}
	currency := params[ParamCurrency]
	if !currencyPattern.MatchString(currency) {
		return authorizationRequest{}, &ParameterError{ParamCurrency, "must be an ISO 4217 code of three upper-case letters, such as USD"}
	}
	reference := params[ParamReference]
	if len(reference) > maxReferenceLength {
		return authorizationRequest{}, &ParameterError{ParamReference, fmt.Sprintf("is longer than %d characters", maxReferenceLength)}
	}

	var card encryptedCard
	if card.PAN, err = readCiphertext(params, ParamPANCiphertext, true); err != nil {
		return authorizationRequest{}, err
	}
	if card.Expiry, err = readCiphertext(params, ParamExpiryCiphertext, true); err != nil {
		return authorizationRequest{}, err
	}
	if card.CVV, err = readCiphertext(params, ParamCVVCiphertext, false); err != nil {
		return authorizationRequest{}, err
	}

	return authorizationRequest{
		IdempotencyKey: IdempotencyKey(c.KeyBase, attempt),
		ContactID:      c.ID,
		Amount:         amountBody{Value: amount, Currency: currency},
		Card:           card,
		Reference:      reference,
	}, nil
}

// readAttempt returns the attempt parameter, 1 when it is absent or empty.
func readAttempt(params map[string]string) (int, error) {
	raw := params[ParamAttempt]
	if raw == "" {
		return 1, nil
	}
	if !attemptPattern.MatchString(raw) {
		return 0, &ParameterError{ParamAttempt, fmt.Sprintf("must be a whole number from 1 to %d", MaxAttempt)}
	}
	attempt, _ := strconv.Atoi(raw) // the pattern admits only 1 to 999
	return attempt, nil
}

func readAmount(params map[string]string) (int64, error) {
	raw := params[ParamAmount]
	if !amountPattern.MatchString(raw) || len(raw) > maxAmountDigits {
		return 0, &ParameterError{ParamAmount, "must be a whole number of minor units (cents for USD), such as 4599 for 45.99"}
	}
	value, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || value < 1 {
		return 0, &ParameterError{ParamAmount, "must be at least 1 minor unit"}
	}
	return value, nil
}

// readCiphertext returns the ciphertext parameter name. It checks only
// presence: the processor decodes the ciphertext and reports its own error
// codes for anything else.
func readCiphertext(params map[string]string, name string, required bool) (string, error) {
	value := params[name]
	if value == "" && required {
		return "", &ParameterError{name, "is missing or empty; pass the stored customer input of that field"}
	}
	return value, nil
}

// IdempotencyKey returns the API idempotency key of one payment attempt of
// the contact whose InitialContactId (or ContactId) is keyBase, for example
// "5fb9a6a4-9d1e-4c4a-9d8e-2a7f3c1b0e61:authorize:1". The same event always
// gives the same key, so a Connect or Lambda retry cannot authorize twice.
func IdempotencyKey(keyBase string, attempt int) string {
	return keyBase + keyInfix + strconv.Itoa(attempt)
}
