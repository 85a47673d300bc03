package card

import (
	"errors"
	"strings"
	"testing"

	"github.com/connect-secure-input/processor/internal/secret"
)

// testPAN returns a Luhn-valid PAN of length digits that starts with prefix.
// The filler digits cycle through 1..9 so that the PAN is not mostly zeros.
func testPAN(t testing.TB, prefix string, length int) string {
	t.Helper()
	if len(prefix) >= length {
		t.Fatalf("testPAN: prefix %q does not fit in %d digits", prefix, length)
	}
	var sb strings.Builder
	sb.WriteString(prefix)
	for i := 0; sb.Len() < length-1; i++ {
		sb.WriteByte(byte('1' + i%9))
	}
	body := sb.String()
	return body + string(rune('0'+checkDigit(body)))
}

// checkDigit computes the Luhn check digit of body. It is written apart from
// luhnValid so that the tests do not check the code against itself.
func checkDigit(body string) int {
	sum := 0
	for i := 0; i < len(body); i++ {
		d := int(body[len(body)-1-i] - '0')
		// The check digit will sit right of body, so the rightmost digit of
		// body is doubled.
		if i%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return (10 - sum%10) % 10
}

// value wraps s in a secret.Value with a backing array of its own.
func value(s string) secret.Value {
	return secret.Copy([]byte(s))
}

// wantCode fails the test unless err is an *Invalid with code want, or nil
// when want is "".
func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	var inv *Invalid
	if !errors.As(err, &inv) {
		t.Fatalf("err = %v (%T), want *Invalid with code %s", err, err, want)
	}
	if inv.Code != want {
		t.Fatalf("code = %s, want %s (message %q)", inv.Code, want, inv.Message)
	}
}

// longestDigitRun returns the length of the longest run of ASCII digits in s.
func longestDigitRun(s string) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

// secretFrom hands b to a secret.Value, so the test can watch the backing
// array that Wipe must zero.
func secretFrom(b []byte) secret.Value {
	return secret.New(b)
}

// wrongCheckDigit returns pan with its last digit replaced by the next one
// modulo 10, which fails the Luhn check.
func wrongCheckDigit(t testing.TB, pan string) string {
	t.Helper()
	last := pan[len(pan)-1] - '0'
	return pan[:len(pan)-1] + string(rune('0'+(last+1)%10))
}

// asInvalid is errors.As for *Invalid, usable where testing.T is not.
func asInvalid(err error, target **Invalid) bool {
	return errors.As(err, target)
}
