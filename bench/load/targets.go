package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/connect-secure-input/processor/internal/testkit/connectcrypt"
)

// Public test card data. The simulator approves this PAN.
const (
	testPAN    = "4111111111111111"
	testExpiry = "1230"
	testCVV    = "123"
	// amountMinor is the authorized amount in cents.
	amountMinor = 4599
)

// endpoint is the API operation a scenario calls.
type endpoint string

const (
	endpointValidate  endpoint = "validate"
	endpointAuthorize endpoint = "authorize"
)

// card is the ciphertexts of one captured card, made ahead of the run.
type card struct {
	PAN    string `json:"pan"`
	Expiry string `json:"expiry"`
	CVV    string `json:"cvv"`
}

// makeCards encrypts n cards under the 2048-bit test key exactly as Amazon
// Connect's Store customer input block does. Every ciphertext is distinct
// (random data keys, IVs and signing keys), as in production.
func makeCards(ctx context.Context, keysDir string, keys []connectKey, n int) ([]card, error) {
	var key *connectKey
	for i := range keys {
		if keys[i].Bits == 2048 {
			key = &keys[i]
			break
		}
	}
	if key == nil {
		return nil, fmt.Errorf("no configured 2048-bit Connect key in %s", keysDir)
	}
	pemBytes, err := os.ReadFile(filepath.Join(keysDir, key.PublicKey))
	if err != nil {
		return nil, err
	}
	pub, err := connectcrypt.ParsePublicKeyPEM(key.KeyID, pemBytes)
	if err != nil {
		return nil, err
	}
	cards := make([]card, n)
	for i := range cards {
		fields := []struct {
			out    *string
			digits string
		}{{&cards[i].PAN, testPAN}, {&cards[i].Expiry, testExpiry}, {&cards[i].CVV, testCVV}}
		for _, f := range fields {
			if *f.out, err = connectcrypt.EncryptDTMF(ctx, []byte(f.digits), pub); err != nil {
				return nil, fmt.Errorf("encrypt test card %d: %w", i, err)
			}
		}
	}
	return cards, nil
}

var jsonHeader = http.Header{"Content-Type": []string{"application/json"}}

// validateTargeter returns a targeter of POST /v1/validations that cycles
// through the PAN ciphertexts of cards. The bodies are encoded once.
func validateTargeter(apiURL string, cards []card) (vegeta.Targeter, error) {
	bodies := make([][]byte, len(cards))
	for i, c := range cards {
		body, err := json.Marshal(map[string]string{
			"field":      "pan",
			"ciphertext": c.PAN,
			"contactId":  fmt.Sprintf("bench-load-validate-%d", i),
		})
		if err != nil {
			return nil, err
		}
		bodies[i] = body
	}
	var next atomic.Uint64
	url := apiURL + "/v1/validations"
	return func(t *vegeta.Target) error {
		i := next.Add(1) - 1
		t.Method, t.URL, t.Header = http.MethodPost, url, jsonHeader
		t.Body = bodies[i%uint64(len(bodies))]
		return nil
	}, nil
}

// authorizeTargeter returns a targeter of POST /v1/authorizations that
// cycles through cards with a new idempotency key on every request, so that
// each request is a new authorization rather than a replay. runID keeps the
// keys of one run apart from those of an earlier run on the same process.
func authorizeTargeter(apiURL, runID string, cards []card) vegeta.Targeter {
	var next atomic.Uint64
	url := apiURL + "/v1/authorizations"
	return func(t *vegeta.Target) error {
		i := next.Add(1) - 1
		contactID := fmt.Sprintf("bench-%s-%d", runID, i)
		body, err := json.Marshal(map[string]any{
			"idempotencyKey": contactID + ":1",
			"contactId":      contactID,
			"amount":         map[string]any{"value": amountMinor, "currency": "USD"},
			"card":           cards[i%uint64(len(cards))],
			"reference":      "bench-load",
		})
		if err != nil {
			return err
		}
		t.Method, t.URL, t.Header, t.Body = http.MethodPost, url, jsonHeader, body
		return nil
	}
}

// expectedOutcome reports whether a result is the response the endpoint
// returns for a valid card: 200 with "valid":true for a validation, 201 with
// "status":"approved" for an authorization.
func expectedOutcome(e endpoint, r *vegeta.Result) bool {
	if r.Error != "" {
		return false
	}
	switch e {
	case endpointValidate:
		return r.Code == http.StatusOK && bytes.Contains(r.Body, []byte(`"valid":true`))
	case endpointAuthorize:
		return r.Code == http.StatusCreated && bytes.Contains(r.Body, []byte(`"status":"approved"`))
	}
	return false
}
