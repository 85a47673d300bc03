package simulator

import (
	"bytes"
	"time"

	"github.com/connect-secure-input/processor/internal/gateway"
)

// Behavior is the way the simulated gateway responds.
type Behavior int

const (
	// Respond records the outcome and responds after Config.BaseLatency.
	Respond Behavior = iota
	// RespondSlowly records the outcome and responds after Config.SlowDelay.
	RespondSlowly
	// NeverRespond records the outcome and returns only when the caller's
	// context ends, with an outcome-unknown timeout error: the gateway
	// authorized, but its response never arrived.
	NeverRespond
	// FailUnavailable records nothing and returns a retryable
	// CodeUnavailable error after Config.BaseLatency, like an HTTP 503.
	FailUnavailable
	// LoseResponse records the outcome, then returns an outcome-unknown
	// timeout error after Config.BaseLatency, as if the connection dropped
	// after the gateway authorized. A repeat with the same idempotency key
	// returns the recorded outcome.
	LoseResponse
)

// Outcome is the simulator's decision for one authorization.
type Outcome struct {
	Behavior Behavior
	// Status is the recorded status for every behavior except
	// FailUnavailable: StatusApproved or StatusDeclined.
	Status      gateway.Status
	DeclineCode gateway.DeclineCode
}

// CardOutcome is one row of the card table.
type CardOutcome struct {
	// PAN is a public test card number. It is not card data of any person.
	PAN string
	// Origin names where the number comes from: "Stripe" for numbers from
	// Stripe's published test cards, "simulator" for numbers this package
	// chose (Luhn-valid, with no meaning at any real gateway).
	Origin  string
	Outcome Outcome
}

// AmountOutcome is one row of the amount table.
type AmountOutcome struct {
	// Amount is in minor units and matches with any card and currency.
	Amount  int64
	Outcome Outcome
}

// Stripe's numbers keep the decline that Stripe test mode returns for them,
// except 4000000000000002: Stripe returns generic_decline, and the simulator
// returns do_not_honor so that both codes have a card.
var cardOutcomes = []CardOutcome{
	{"4242424242424242", "Stripe", approved(Respond)},
	{"5555555555554444", "Stripe", approved(Respond)},
	{"4000000000000002", "Stripe", declined(gateway.DeclineDoNotHonor)},
	{"4000000000009995", "Stripe", declined(gateway.DeclineInsufficientFunds)},
	{"4000000000009987", "Stripe", declined(gateway.DeclineLostOrStolen)},
	{"4000000000009979", "Stripe", declined(gateway.DeclineLostOrStolen)},
	{"4000000000000069", "Stripe", declined(gateway.DeclineExpiredCard)},
	{"4000000000000127", "Stripe", declined(gateway.DeclineIncorrectCVC)},
	{"4000000000000119", "Stripe", declined(gateway.DeclineProcessingError)},
	{"4100000000000019", "Stripe", declined(gateway.DeclineFraudulent)},
	{"4000000000007007", "simulator", declined(gateway.DeclineCardNotSupported)},
	{"4000000000008021", "simulator", declined(gateway.DeclineInvalidExpiry)},
	{"4000000000008039", "simulator", declined(gateway.DeclineTryAgainLater)},
	{"4000000000008047", "simulator", declined(gateway.DeclineGeneric)},
	{"4000000000008054", "simulator", declined(gateway.DeclineAuthenticationRequired)},
	{"4000000000008005", "simulator", approved(NeverRespond)},
	{"4000000000008013", "simulator", approved(RespondSlowly)},
}

var amountOutcomes = []AmountOutcome{
	{9901, Outcome{Behavior: FailUnavailable}},
	{9902, approved(LoseResponse)},
}

// cardOutcomePANs holds the table's PANs as bytes, so matching compares
// bytes and never turns the caller's PAN into a string.
var cardOutcomePANs = func() [][]byte {
	pans := make([][]byte, len(cardOutcomes))
	for i, row := range cardOutcomes {
		pans[i] = []byte(row.PAN)
	}
	return pans
}()

// CardOutcomes returns a copy of the card table, for documentation and tests.
func CardOutcomes() []CardOutcome { return append([]CardOutcome(nil), cardOutcomes...) }

// AmountOutcomes returns a copy of the amount table.
func AmountOutcomes() []AmountOutcome { return append([]AmountOutcome(nil), amountOutcomes...) }

// outcomeFor chooses the outcome of req. The rules apply in order:
//
//  1. an amount from the amount table, with any card;
//  2. a PAN that fails the Luhn check: declined with incorrect_number;
//  3. an expiry month before the current one: declined with expired_card;
//  4. a PAN from the card table;
//  5. any other PAN: approved.
//
// It reads the PAN bytes in place and keeps nothing of them.
func outcomeFor(req gateway.Request, now time.Time) Outcome {
	for _, row := range amountOutcomes {
		if row.Amount == req.Amount {
			return row.Outcome
		}
	}

	pan := req.Card.PAN.Bytes()
	if !luhnValid(pan) {
		return declined(gateway.DeclineIncorrectNumber)
	}
	if expired(req.Card.ExpiryYear, req.Card.ExpiryMonth, now) {
		return declined(gateway.DeclineExpiredCard)
	}
	for i, testPAN := range cardOutcomePANs {
		if bytes.Equal(pan, testPAN) {
			return cardOutcomes[i].Outcome
		}
	}
	return approved(Respond)
}

func approved(b Behavior) Outcome {
	return Outcome{Behavior: b, Status: gateway.StatusApproved}
}

func declined(code gateway.DeclineCode) Outcome {
	return Outcome{Behavior: Respond, Status: gateway.StatusDeclined, DeclineCode: code}
}

// expired reports whether a card that is valid through the end of its expiry
// month has expired at now, in UTC.
func expired(year, month int, now time.Time) bool {
	now = now.UTC()
	return year < now.Year() || (year == now.Year() && month < int(now.Month()))
}

// luhnValid checks the Luhn (mod 10) check digit of an all-digit PAN.
func luhnValid(pan []byte) bool {
	if len(pan) == 0 {
		return false
	}
	sum := 0
	double := false
	for i := len(pan) - 1; i >= 0; i-- {
		digit := int(pan[i]) - '0'
		if digit < 0 || digit > 9 {
			return false
		}
		if double {
			digit *= 2
			if digit > 9 {
				digit -= 9
			}
		}
		sum += digit
		double = !double
	}
	return sum%10 == 0
}
