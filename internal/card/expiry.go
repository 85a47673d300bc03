package card

import (
	"fmt"
	"time"

	"github.com/connect-secure-input/processor/internal/secret"
)

// DefaultMaxYearsAhead is the maximum number of years between the current
// year and an expiry year, used when ParseExpiry gets zero or a negative
// limit. It catches keying errors such as 0260 for 0226.
const DefaultMaxYearsAhead = 20

// The two ends of the time zones in use on Earth. Baker Island keeps UTC-12,
// so a month lasts longest there. The Line Islands (Kiribati) keep UTC+14,
// so a new year starts there first.
var (
	lastZoneToLeaveMonth = time.FixedZone("UTC-12", -12*60*60)
	firstZoneToEnterYear = time.FixedZone("UTC+14", 14*60*60)
)

// Expiry is a card's expiry month (1 to 12) and four-digit year.
type Expiry struct {
	Month int `json:"month"`
	Year  int `json:"year"`
}

// ParseExpiry checks the expiry date a caller keyed: MMYY, or MMYYYY, with
// one optional trailing '#' or '*'.
//
// A card is valid through the last day of its expiry month. That day is
// judged in UTC-12, the last time zone to leave the month, so no card is
// rejected while its month still runs anywhere on Earth. The too-far check
// counts years from the current year in UTC+14, the first zone to enter a
// new year, for the same reason. A two-digit year is read in the century
// that puts it within 50 years of the current year.
func ParseExpiry(raw secret.Value, now time.Time, maxYearsAhead int) (Expiry, error) {
	if maxYearsAhead <= 0 {
		maxYearsAhead = DefaultMaxYearsAhead
	}

	digits := stripTerminator(raw.Bytes())
	if !allDigits(digits) || (len(digits) != 4 && len(digits) != 6) {
		return Expiry{}, invalid(CodeExpiryFormat,
			"The expiry date must be 4 digits (MMYY) or 6 digits (MMYYYY).")
	}

	month := leadingNumber(digits, 2)
	if month < 1 || month > 12 {
		return Expiry{}, invalid(CodeExpiryMonth, "The expiry month must be from 01 to 12.")
	}

	year := leadingNumber(digits[2:], len(digits)-2)
	if len(digits) == 4 {
		year = expandYear(year, now.In(lastZoneToLeaveMonth).Year())
	}
	e := Expiry{Month: month, Year: year}

	if !now.Before(e.end()) {
		return Expiry{}, invalid(CodeExpiryPast, "The card has expired: its expiry month has ended.")
	}
	if e.Year-now.In(firstZoneToEnterYear).Year() > maxYearsAhead {
		return Expiry{}, invalid(CodeExpiryTooFar, fmt.Sprintf(
			"The expiry year is more than %d years ahead, so it was probably mistyped.", maxYearsAhead))
	}
	return e, nil
}

// end returns the first instant at which the card is expired everywhere:
// midnight starting the month after its expiry month, in UTC-12.
func (e Expiry) end() time.Time {
	// time.Date normalizes month 13 to January of the next year.
	return time.Date(e.Year, time.Month(e.Month)+1, 1, 0, 0, 0, 0, lastZoneToLeaveMonth)
}

// expandYear returns the four-digit year ending in the two digits yy that is
// within 50 years of current. When yy is exactly 50 years both back and
// ahead, it returns the earlier year.
func expandYear(yy, current int) int {
	year := current - current%100 + yy
	switch {
	case year < current-50:
		year += 100
	case year > current+50:
		year -= 100
	}
	return year
}
