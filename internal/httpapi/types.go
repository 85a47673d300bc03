package httpapi

import (
	"time"

	"github.com/connect-secure-input/processor/internal/authorize"
	"github.com/connect-secure-input/processor/internal/card"
	"github.com/connect-secure-input/processor/internal/store"
)

// The request and response bodies, matching api/openapi.yaml. Ciphertexts
// are strings: they are not card data, and the decrypt package reads them as
// base64 text.

type validationRequest struct {
	Field      string `json:"field"`
	Ciphertext string `json:"ciphertext"`
	Brand      string `json:"brand,omitempty"`
	ContactID  string `json:"contactId,omitempty"`
}

type validationResponse struct {
	Valid  bool         `json:"valid"`
	Field  string       `json:"field"`
	Reason string       `json:"reason,omitempty"`
	Card   *cardSummary `json:"card,omitempty"`
	Expiry *expiryBody  `json:"expiry,omitempty"`
	CVV    *cvvSummary  `json:"cvv,omitempty"`
}

type cardSummary struct {
	Brand  string `json:"brand"`
	BIN    string `json:"bin"`
	Last4  string `json:"last4"`
	Length int    `json:"length"`
}

type expiryBody struct {
	Month int `json:"month"`
	Year  int `json:"year"`
}

type cvvSummary struct {
	Length int `json:"length"`
}

type authorizationRequest struct {
	IdempotencyKey string        `json:"idempotencyKey"`
	ContactID      string        `json:"contactId"`
	Amount         amountBody    `json:"amount"`
	Card           encryptedCard `json:"card"`
	Reference      string        `json:"reference,omitempty"`
}

type amountBody struct {
	Value    int64  `json:"value"`
	Currency string `json:"currency"`
}

type encryptedCard struct {
	PAN    string `json:"pan"`
	Expiry string `json:"expiry"`
	CVV    string `json:"cvv,omitempty"`
}

type authorizationResponse struct {
	ID                string           `json:"id"`
	IdempotencyKey    string           `json:"idempotencyKey"`
	Status            authorize.Status `json:"status"`
	DeclineCode       string           `json:"declineCode,omitempty"`
	AuthorizationCode string           `json:"authorizationCode,omitempty"`
	GatewayReference  string           `json:"gatewayReference,omitempty"`
	FailureReason     string           `json:"failureReason,omitempty"`
	Card              authorizedCard   `json:"card"`
	Amount            amountBody       `json:"amount"`
	CreatedAt         time.Time        `json:"createdAt"`
}

// authorizedCard is the masked card of an authorization. Expiry is present
// only in the answer to the request that carried the card: records keep no
// expiry date, so replays and status lookups omit it.
type authorizedCard struct {
	Brand  string      `json:"brand"`
	BIN    string      `json:"bin"`
	Last4  string      `json:"last4"`
	Expiry *expiryBody `json:"expiry,omitempty"`
}

func summarize(m card.Masked) *cardSummary {
	return &cardSummary{Brand: string(m.Brand), BIN: m.BIN, Last4: m.Last4, Length: m.Length}
}

func authorizationBody(rec store.Record, expiry *expiryBody) authorizationResponse {
	return authorizationResponse{
		ID:                rec.ID,
		IdempotencyKey:    rec.IdempotencyKey,
		Status:            authorize.StatusOf(rec),
		DeclineCode:       rec.DeclineCode,
		AuthorizationCode: rec.AuthorizationCode,
		GatewayReference:  rec.GatewayReference,
		FailureReason:     rec.FailureReason,
		Card:              authorizedCard{Brand: rec.Card.Brand, BIN: rec.Card.BIN, Last4: rec.Card.Last4, Expiry: expiry},
		Amount:            amountBody{Value: rec.Amount, Currency: rec.Currency},
		CreatedAt:         rec.CreatedAt,
	}
}
