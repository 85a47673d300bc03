package card

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// rangesOf returns the IIN table rows of brand.
func rangesOf(brand Brand) []iinRange {
	var rows []iinRange
	for _, r := range iinRanges {
		if r.brand == brand {
			rows = append(rows, r)
		}
	}
	return rows
}

// validPANOf generates Luhn-valid PANs of brand with a length the brand
// allows. Unknown PANs start with 9, which no IIN range covers.
func validPANOf(brand Brand) *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		var prefix string
		lengths := []int{12, 13, 14, 15, 16, 17, 18, 19}
		if brand == Unknown {
			prefix = "9"
		} else {
			row := rapid.SampledFrom(rangesOf(brand)).Draw(t, "iin range")
			prefix = fmt.Sprintf("%0*d", row.prefixLen, rapid.IntRange(row.low, row.high).Draw(t, "iin"))
			lengths = brandRules[brand].lengths
		}
		length := rapid.SampledFrom(lengths).Draw(t, "length")
		middle := rapid.StringOfN(rapid.RuneFrom([]rune("0123456789")), length-1-len(prefix), length-1-len(prefix), -1).Draw(t, "middle")
		body := prefix + middle
		return body + string(rune('0'+checkDigit(body)))
	}).Filter(func(pan string) bool {
		// A UnionPay draw inside 622126-622925 is a Discover PAN.
		return brandOf([]byte(pan)) == brand
	})
}

func TestPropertyValidPANAccepted(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		brand := rapid.SampledFrom(Brands).Draw(t, "brand")
		in := validPANOf(brand).Draw(t, "pan")

		pan, err := ValidatePAN(value(in))
		if err != nil {
			t.Fatalf("ValidatePAN rejected a valid %s PAN of %d digits: %v", brand, len(in), err)
		}
		if pan.Brand() != brand {
			t.Fatalf("Brand() = %q, want %q", pan.Brand(), brand)
		}
	})
}

func TestPropertySingleDigitChangeFailsLuhn(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		brand := rapid.SampledFrom(Brands).Draw(t, "brand")
		in := []byte(validPANOf(brand).Draw(t, "pan"))
		pos := rapid.IntRange(0, len(in)-1).Draw(t, "position")
		shift := rapid.IntRange(1, 9).Draw(t, "shift")
		in[pos] = '0' + (in[pos]-'0'+byte(shift))%10

		_, err := ValidatePAN(value(string(in)))
		var inv *Invalid
		if !asInvalid(err, &inv) || inv.Code != CodePANLuhn {
			t.Fatalf("changing digit %d of a %s PAN gave err = %v, want %s", pos, brand, err, CodePANLuhn)
		}
	})
}

func TestPropertyMaskingShowsOnlyBINAndLast4(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		brand := rapid.SampledFrom(Brands).Draw(t, "brand")
		in := validPANOf(brand).Draw(t, "pan")
		pan, err := ValidatePAN(value(in))
		if err != nil {
			t.Fatalf("ValidatePAN: %v", err)
		}
		checkMasked(t, in, pan)
	})
}

// TestPropertyAnyInputRevealsNothing feeds arbitrary bytes and digit strings,
// valid or not, and checks every output: errors carry no run of more than
// two digits, and an accepted PAN shows only its BIN and last four digits.
func TestPropertyAnyInputRevealsNothing(t *testing.T) {
	digitsWithNoise := rapid.Custom(func(t *rapid.T) string {
		s := rapid.StringOfN(rapid.RuneFrom([]rune("0123456789")), 0, 24, -1).Draw(t, "digits")
		return s + rapid.SampledFrom([]string{"", "#", "*", "##", "x", " "}).Draw(t, "suffix")
	})
	anyBytes := rapid.Custom(func(t *rapid.T) string {
		return string(rapid.SliceOfN(rapid.Byte(), 0, 24).Draw(t, "bytes"))
	})
	rapid.Check(t, func(t *rapid.T) {
		in := rapid.OneOf(digitsWithNoise, anyBytes).Draw(t, "input")
		pan, err := ValidatePAN(value(in))
		if err != nil {
			if run := longestDigitRun(err.Error()); run > 2 {
				t.Fatalf("error %q has a run of %d digits", err, run)
			}
			return
		}
		checkMasked(t, strings.TrimRight(in, "#*"), pan)
	})
}

// checkMasked fails unless every printed form of pan shows at most the BIN
// and the last four digits of digits.
func checkMasked(t *rapid.T, digits string, pan PAN) {
	n := len(digits)
	m := pan.Masked()
	binLen := BINLength(n)
	if m.BIN != digits[:binLen] || m.Last4 != digits[n-4:] || m.Length != n {
		t.Fatalf("Masked() = %+v for a PAN of %d digits, want its first %d and last 4 digits", m, n, binLen)
	}
	if hidden := n - binLen - 4; hidden < 2 {
		t.Fatalf("a PAN of %d digits keeps only %d digits hidden", n, hidden)
	}

	want := m.BIN + strings.Repeat("*", n-binLen-4) + m.Last4
	encoded, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	outputs := []string{
		m.String(), pan.String(), fmt.Sprintf("%v", pan), fmt.Sprintf("%+v", pan), fmt.Sprintf("%#v", pan),
		fmt.Sprintf("%v", struct{ P PAN }{pan}), string(encoded),
	}
	for _, out := range outputs[:5] {
		if out != want {
			t.Fatalf("printed PAN = %q, want %q", out, want)
		}
	}
	for _, out := range outputs {
		if strings.Contains(out, digits) {
			t.Fatalf("output %q contains the whole PAN", out)
		}
		if run := longestDigitRun(out); run > binLen {
			t.Fatalf("output %q has a run of %d digits, more than the BIN's %d", out, run, binLen)
		}
	}
}
