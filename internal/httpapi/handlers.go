package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/connect-secure-input/processor/internal/authorize"
	"github.com/connect-secure-input/processor/internal/card"
	"github.com/connect-secure-input/processor/internal/decrypt"
	"github.com/connect-secure-input/processor/internal/redact"
)

// Input rules shared with api/openapi.yaml.
var (
	idempotencyKeyPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	contactIDPattern      = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	currencyPattern       = regexp.MustCompile(`^[A-Z]{3}$`)
	referencePattern      = regexp.MustCompile(`^[\x20-\x7E]{0,128}$`)
)

// Fields of a validation.
const (
	fieldPAN    = "pan"
	fieldExpiry = "expiry"
	fieldCVV    = "cvv"
)

func invalidRequest(format string, args ...any) error {
	return newAPIError(http.StatusBadRequest, CodeInvalidRequest, fmt.Sprintf(format, args...))
}

// testPanicHook runs at the start of createValidation when set. It is nil in
// every build without the leakcheck tag. panic_leakcheck.go sets it, so that
// the leak test can make a handler panic with card data in the panic text.
var testPanicHook func(*http.Request)

// createValidation decrypts one captured field, validates it and wipes it.
// A card-rule failure is a 200 with valid=false so the flow can re-prompt;
// a decrypt failure is an error.
func (a *API) createValidation(w http.ResponseWriter, r *http.Request) {
	if testPanicHook != nil {
		testPanicHook(r)
	}
	var req validationRequest
	if err := a.decodeBody(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	brand := card.Unknown
	switch {
	case req.Field != fieldPAN && req.Field != fieldExpiry && req.Field != fieldCVV:
		a.writeError(w, r, invalidRequest("field must be %q, %q or %q", fieldPAN, fieldExpiry, fieldCVV))
		return
	case req.Ciphertext == "":
		a.writeError(w, r, invalidRequest("ciphertext is missing"))
		return
	case req.ContactID != "" && !contactIDPattern.MatchString(req.ContactID):
		a.writeError(w, r, invalidRequest("contactId must be 1 to 128 characters of letters, digits, '.', '_', ':' or '-'"))
		return
	case req.Brand != "":
		parsed, ok := card.ParseBrand(req.Brand)
		if !ok {
			a.writeError(w, r, invalidRequest("brand is not a known card brand"))
			return
		}
		brand = parsed
	}
	redact.SetContactID(r.Context(), req.ContactID)
	event := a.newEvent(r, "validation", req.ContactID, req.Field)

	res, err := a.decrypt(r, event, req.Field, req.Ciphertext)
	event.scheme, event.keyID = string(res.Metadata.Scheme), res.Metadata.KeyID
	if err != nil {
		event.emit(a.audit, outcomeCode(err))
		a.writeError(w, r, err)
		return
	}
	defer res.Plaintext.Wipe()

	resp := validationResponse{Field: req.Field, Valid: true}
	var invalid error
	switch req.Field {
	case fieldPAN:
		pan, err := card.ValidatePAN(res.Plaintext)
		if invalid = err; err == nil {
			resp.Card = summarize(pan.Masked())
			event.fingerprint = a.cards.Fingerprint(pan)
			pan.Wipe()
		}
	case fieldExpiry:
		expiry, err := card.ParseExpiry(res.Plaintext, a.now(), a.cfg.ExpiryMaxYears)
		if invalid = err; err == nil {
			resp.Expiry = &expiryBody{Month: expiry.Month, Year: expiry.Year}
		}
	case fieldCVV:
		cvv, err := card.ValidateCVV(res.Plaintext, brand)
		if invalid = err; err == nil {
			resp.CVV = &cvvSummary{Length: cvv.Len()}
			cvv.Wipe()
		}
	}
	reason := "valid"
	if invalid != nil {
		var cardErr *card.Invalid
		if !errors.As(invalid, &cardErr) {
			a.writeError(w, r, invalid)
			return
		}
		resp.Valid, resp.Reason, reason = false, cardErr.Code, cardErr.Code
	}
	if a.obs != nil {
		a.obs.Validated(req.Field, reason)
	}
	event.emit(a.audit, reason)
	writeJSON(w, http.StatusOK, resp)
}

// createAuthorization decrypts and validates the card, then runs or replays
// the authorization of the idempotency key within the request budget.
func (a *API) createAuthorization(w http.ResponseWriter, r *http.Request) {
	started := a.now()
	var req authorizationRequest
	if err := a.decodeBody(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.checkAuthorizationRequest(req); err != nil {
		a.writeError(w, r, err)
		return
	}
	redact.SetContactID(r.Context(), req.ContactID)
	event := a.newEvent(r, "authorization", req.ContactID, "card")
	event.idempotencyKey = req.IdempotencyKey

	authReq, expiry, err := a.decryptCard(r, event, req)
	if err != nil {
		event.emit(a.audit, outcomeCode(err))
		a.writeError(w, r, err)
		return
	}
	authReq.IdempotencyKey, authReq.ContactID, authReq.Reference = req.IdempotencyKey, req.ContactID, req.Reference
	authReq.Amount, authReq.Currency = req.Amount.Value, req.Amount.Currency
	event.fingerprint = a.cards.Fingerprint(authReq.PAN)

	out, err := a.auth.Authorize(r.Context(), started, authReq)
	if err != nil {
		event.emit(a.audit, outcomeCode(err))
		a.writeError(w, r, err)
		return
	}
	event.authorizationID = out.Record.ID
	event.emit(a.audit, string(authorize.StatusOf(out.Record)))
	status := http.StatusOK
	if out.Created {
		status = http.StatusCreated
	}
	writeJSON(w, status, authorizationBody(out.Record, &expiryBody{Month: expiry.Month, Year: expiry.Year}))
}

func (a *API) checkAuthorizationRequest(req authorizationRequest) error {
	switch {
	case !idempotencyKeyPattern.MatchString(req.IdempotencyKey):
		return invalidRequest("idempotencyKey must be 1 to 128 characters of letters, digits, '.', '_', ':' or '-'; derive it from the ContactId")
	case !contactIDPattern.MatchString(req.ContactID):
		return invalidRequest("contactId must be 1 to 128 characters of letters, digits, '.', '_', ':' or '-'")
	case req.Amount.Value < 1 || req.Amount.Value > a.cfg.MaxAmount:
		return invalidRequest("amount.value must be an integer number of minor units from 1 to %d", a.cfg.MaxAmount)
	case !currencyPattern.MatchString(req.Amount.Currency):
		return invalidRequest("amount.currency must be an upper-case ISO 4217 code such as USD")
	case !referencePattern.MatchString(req.Reference):
		return invalidRequest("reference must be at most 128 printable ASCII characters")
	case req.Card.PAN == "" || req.Card.Expiry == "":
		return invalidRequest("card.pan and card.expiry are required")
	}
	return nil
}

// decryptCard decrypts the PAN, expiry and optional CVV at the same time,
// which shortens the request by two RSA decrypts on a task with more than
// one core, then validates them in that order. On success the returned
// request owns the card values (Authorize wipes them); on failure every
// plaintext is wiped here and the first failure in field order is returned.
func (a *API) decryptCard(r *http.Request, event *auditEvent, req authorizationRequest) (authorize.Request, card.Expiry, error) {
	fields := []struct{ name, text string }{{fieldPAN, req.Card.PAN}, {fieldExpiry, req.Card.Expiry}}
	if req.Card.CVV != "" {
		fields = append(fields, struct{ name, text string }{fieldCVV, req.Card.CVV})
	}
	results := make([]decrypt.Result, len(fields))
	errs := make([]error, len(fields))
	var wg sync.WaitGroup
	for i, f := range fields {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = a.decrypt(r, event, f.name, f.text)
		}()
	}
	wg.Wait()
	defer func() {
		for _, res := range results {
			res.Plaintext.Wipe()
		}
	}()
	event.scheme, event.keyID = string(results[0].Metadata.Scheme), results[0].Metadata.KeyID
	for _, err := range errs {
		if err != nil {
			return authorize.Request{}, card.Expiry{}, err
		}
	}

	var out authorize.Request
	pan, err := card.ValidatePAN(results[0].Plaintext)
	if err != nil {
		return out, card.Expiry{}, err
	}
	expiry, err := card.ParseExpiry(results[1].Plaintext, a.now(), a.cfg.ExpiryMaxYears)
	if err != nil {
		pan.Wipe()
		return out, card.Expiry{}, err
	}
	out.PAN, out.Expiry = pan, expiry
	if len(results) > 2 {
		cvv, err := card.ValidateCVV(results[2].Plaintext, pan.Brand())
		if err != nil {
			pan.Wipe()
			return authorize.Request{}, card.Expiry{}, err
		}
		out.CVV, out.HasCVV = cvv, true
	}
	return out, expiry, nil
}

func (a *API) getAuthorization(w http.ResponseWriter, r *http.Request) {
	key := chi.URLParam(r, "idempotencyKey")
	if !idempotencyKeyPattern.MatchString(key) {
		a.writeError(w, r, invalidRequest("the idempotency key in the path must be 1 to 128 characters of letters, digits, '.', '_', ':' or '-'"))
		return
	}
	rec, err := a.auth.Status(r.Context(), key)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	redact.SetContactID(r.Context(), rec.ContactID)
	writeJSON(w, http.StatusOK, authorizationBody(rec, nil))
}

// decrypt runs one decrypt with its metric and its own audit event, which
// names the request's client, contact and field. It only reads event, so
// decrypts of one request may run at the same time.
func (a *API) decrypt(r *http.Request, event *auditEvent, field, text string) (decrypt.Result, error) {
	start := time.Now()
	res, err := a.dec.Decrypt(r.Context(), text)
	outcome := "ok"
	if err != nil {
		outcome = outcomeCode(err)
	}
	if a.obs != nil {
		a.obs.Decrypted(string(res.Metadata.Scheme), outcome, time.Since(start))
	}
	a.audit.Info("card data decrypt",
		zap.String("event", "decrypt"),
		zap.String("request_id", event.requestID),
		zap.String("client", event.client),
		zap.String("contact_id", event.contactID),
		zap.String("field", field),
		zap.String("scheme", string(res.Metadata.Scheme)),
		zap.String("key_id", res.Metadata.KeyID),
		zap.String("suite", suiteText(res.Metadata)),
		zap.String("outcome", outcome),
		// A decrypt has no card fingerprint yet; the field is present and
		// empty so every audit event has the same fields.
		zap.String("card_fingerprint", ""),
	)
	return res, err
}

func suiteText(m decrypt.Metadata) string {
	if m.Suite == 0 {
		return ""
	}
	return m.Suite.String()
}

// outcomeCode returns the stable code of err for audit events and metrics.
func outcomeCode(err error) string {
	return toAPIError(err).Code
}

// auditEvent is one audit line about an access to card data (PCI DSS 10.2):
// who (client identity), which contact and request, which field, which key,
// the outcome, and a keyed card fingerprint; nothing that could rebuild the
// card.
type auditEvent struct {
	kind            string
	requestID       string
	client          string
	contactID       string
	field           string
	scheme          string
	keyID           string
	fingerprint     string
	idempotencyKey  string
	authorizationID string
}

func (a *API) newEvent(r *http.Request, kind, contactID, field string) *auditEvent {
	return &auditEvent{kind: kind, requestID: redact.RequestIDFrom(r.Context()), client: a.identity(r), contactID: contactID, field: field}
}

func (e *auditEvent) emit(log *zap.Logger, outcome string) {
	fields := []zap.Field{
		zap.String("event", e.kind),
		zap.String("request_id", e.requestID),
		zap.String("client", e.client),
		zap.String("contact_id", e.contactID),
		zap.String("field", e.field),
		zap.String("scheme", e.scheme),
		zap.String("key_id", e.keyID),
		zap.String("outcome", outcome),
		zap.String("card_fingerprint", e.fingerprint),
	}
	if e.idempotencyKey != "" {
		fields = append(fields, zap.String("idempotency_key", e.idempotencyKey), zap.String("authorization_id", e.authorizationID))
	}
	log.Info("card data "+e.kind, fields...)
}
