package card

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestValidateCVV(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		brand    Brand
		wantCode string
		wantLen  int
	}{
		{"visa 3 digits", "123", Visa, "", 3},
		{"mastercard 3 digits", "000", Mastercard, "", 3},
		{"amex 4 digits", "1234", Amex, "", 4},
		{"discover 3 digits", "123", Discover, "", 3},
		{"jcb 3 digits", "123", JCB, "", 3},
		{"diners 3 digits", "123", DinersClub, "", 3},
		{"unionpay 3 digits", "123", UnionPay, "", 3},
		{"maestro 3 digits", "123", Maestro, "", 3},
		{"unknown 3 digits", "123", Unknown, "", 3},
		{"unknown 4 digits", "1234", Unknown, "", 4},
		{"hash terminator", "123#", Visa, "", 3},
		{"star terminator", "1234*", Amex, "", 4},

		{"amex 3 digits", "123", Amex, CodeCVVLengthForBrand, 0},
		{"visa 4 digits", "1234", Visa, CodeCVVLengthForBrand, 0},
		{"mastercard 4 digits", "1234", Mastercard, CodeCVVLengthForBrand, 0},
		{"empty", "", Visa, CodeCVVFormat, 0},
		{"2 digits", "12", Unknown, CodeCVVFormat, 0},
		{"5 digits", "12345", Unknown, CodeCVVFormat, 0},
		{"letter", "12a", Visa, CodeCVVFormat, 0},
		{"space", "1 23", Unknown, CodeCVVFormat, 0},
		{"two terminators", "123##", Visa, CodeCVVFormat, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cvv, err := ValidateCVV(value(tt.in), tt.brand)
			wantCode(t, err, tt.wantCode)
			if cvv.Len() != tt.wantLen {
				t.Errorf("Len() = %d, want %d", cvv.Len(), tt.wantLen)
			}
		})
	}
}

func TestCVVOwnsCopyAndWipes(t *testing.T) {
	raw := secretFrom([]byte("4321#"))
	cvv, err := ValidateCVV(raw, Amex)
	wantCode(t, err, "")
	raw.Wipe()
	if got := string(cvv.Digits().Bytes()); got != "4321" {
		t.Fatalf("Digits() after wiping raw = %q, want 4321", got)
	}

	digits := cvv.Digits().Bytes()
	cvv.Wipe()
	if !bytes.Equal(digits, make([]byte, 4)) {
		t.Errorf("CVV backing array after Wipe = %v, want zeros", digits)
	}
	if cvv.Len() != 0 {
		t.Errorf("Len() after Wipe = %d, want 0", cvv.Len())
	}
}

func TestCVVPrintsNoDigits(t *testing.T) {
	cvv, err := ValidateCVV(value("4321"), Amex)
	wantCode(t, err, "")
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%x"} {
		if out := fmt.Sprintf(verb, cvv); strings.Contains(out, "4321") || strings.Contains(out, "34333231") {
			t.Errorf("%s printed the code: %s", verb, out)
		}
	}
}
