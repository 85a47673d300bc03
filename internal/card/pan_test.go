package card

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestValidatePAN(t *testing.T) {
	visa16 := testPAN(t, "4", 16)
	tests := []struct {
		name      string
		in        string
		wantCode  string
		wantBrand Brand
		wantLen   int
	}{
		{"visa 13 digits", testPAN(t, "4", 13), "", Visa, 13},
		{"visa 16 digits", visa16, "", Visa, 16},
		{"visa 19 digits", testPAN(t, "4", 19), "", Visa, 19},
		{"amex 15 digits", testPAN(t, "37", 15), "", Amex, 15},
		{"mastercard 2220 is unknown", testPAN(t, "2220", 16), "", Unknown, 16},
		{"mastercard 2221", testPAN(t, "2221", 16), "", Mastercard, 16},
		{"mastercard 2720", testPAN(t, "2720", 16), "", Mastercard, 16},
		{"mastercard 2721 is unknown", testPAN(t, "2721", 16), "", Unknown, 16},
		{"unionpay 622125", testPAN(t, "622125", 16), "", UnionPay, 16},
		{"discover 622126", testPAN(t, "622126", 16), "", Discover, 16},
		{"discover 622925", testPAN(t, "622925", 16), "", Discover, 16},
		{"unionpay 622926", testPAN(t, "622926", 16), "", UnionPay, 16},
		{"unionpay 19 digits", testPAN(t, "62", 19), "", UnionPay, 19},
		{"discover 6011 19 digits", testPAN(t, "6011", 19), "", Discover, 19},
		{"jcb 16 digits", testPAN(t, "3530", 16), "", JCB, 16},
		{"diners 14 digits", testPAN(t, "36", 14), "", DinersClub, 14},
		{"maestro 12 digits", testPAN(t, "6759", 12), "", Maestro, 12},
		{"unknown brand 16 digits", testPAN(t, "9", 16), "", Unknown, 16},
		{"hash terminator", visa16 + "#", "", Visa, 16},
		{"star terminator", visa16 + "*", "", Visa, 16},

		{"two terminators", visa16 + "##", CodePANNotDigits, "", 0},
		{"leading terminator", "#" + visa16, CodePANNotDigits, "", 0},
		{"spaces", visa16[:4] + " " + visa16[4:], CodePANNotDigits, "", 0},
		{"dash", visa16[:4] + "-" + visa16[4:], CodePANNotDigits, "", 0},
		{"letter", visa16[:15] + "a", CodePANNotDigits, "", 0},
		{"non-ASCII digit", visa16[:15] + "٣", CodePANNotDigits, "", 0},
		{"empty", "", CodePANLength, "", 0},
		{"terminator only", "#", CodePANLength, "", 0},
		{"11 digits", testPAN(t, "9", 11), CodePANLength, "", 0},
		{"20 digits", testPAN(t, "4", 20), CodePANLength, "", 0},
		{"luhn failure", wrongCheckDigit(t, visa16), CodePANLuhn, "", 0},
		{"adjacent swap", visa16[:1] + visa16[2:3] + visa16[1:2] + visa16[3:], CodePANLuhn, "", 0},
		{"visa 15 digits", testPAN(t, "4", 15), CodePANBrandLength, "", 0},
		{"amex 16 digits", testPAN(t, "34", 16), CodePANBrandLength, "", 0},
		{"mastercard 17 digits", testPAN(t, "51", 17), CodePANBrandLength, "", 0},
		{"discover 15 digits", testPAN(t, "65", 15), CodePANBrandLength, "", 0},
		{"diners 15 digits", testPAN(t, "36", 15), CodePANBrandLength, "", 0},
		{"unionpay 13 digits", testPAN(t, "62", 13), CodePANBrandLength, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pan, err := ValidatePAN(value(tt.in))
			wantCode(t, err, tt.wantCode)
			if tt.wantCode != "" {
				return
			}
			if pan.Brand() != tt.wantBrand {
				t.Errorf("Brand() = %q, want %q", pan.Brand(), tt.wantBrand)
			}
			if pan.Len() != tt.wantLen {
				t.Errorf("Len() = %d, want %d", pan.Len(), tt.wantLen)
			}
			if got := string(pan.Digits().Bytes()); got != strings.TrimRight(tt.in, "#*") {
				t.Errorf("Digits() = %q, want the input without its terminator", got)
			}
		})
	}
}

// TestAdjacentSwapCaseChangesDigits guards the "adjacent swap" case of
// TestValidatePAN, which tests nothing if the two swapped digits are equal.
func TestAdjacentSwapCaseChangesDigits(t *testing.T) {
	visa16 := testPAN(t, "4", 16)
	if visa16[1] == visa16[2] {
		t.Fatalf("digits 2 and 3 of %s are equal, so swapping them changes nothing", visa16)
	}
}

func TestInvalidMessageHasNoCardDigits(t *testing.T) {
	inputs := []string{
		testPAN(t, "4", 15),
		wrongCheckDigit(t, testPAN(t, "4", 16)),
		testPAN(t, "4", 16) + "x",
		testPAN(t, "4", 25),
	}
	for _, in := range inputs {
		_, err := ValidatePAN(value(in))
		if err == nil {
			t.Fatalf("ValidatePAN accepted a test input of %d characters", len(in))
		}
		if run := longestDigitRun(err.Error()); run > 2 {
			t.Errorf("error %q has a run of %d digits", err, run)
		}
	}
}

func TestValidatePANMasked(t *testing.T) {
	maestro12 := testPAN(t, "6759", 12)
	unionPay19 := testPAN(t, "62", 19)
	tests := []struct {
		name string
		pan  string
		want Masked
	}{
		{"12 digits shows BIN 6", maestro12, Masked{Maestro, maestro12[:6], maestro12[8:], 12}},
		{"15 digits shows BIN 6", "378282246310005", Masked{Amex, "378282", "0005", 15}},
		{"16 digits shows BIN 8", "4111111111111111", Masked{Visa, "41111111", "1111", 16}},
		{"19 digits shows BIN 8", unionPay19, Masked{UnionPay, unionPay19[:8], unionPay19[15:], 19}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pan, err := ValidatePAN(value(tt.pan))
			wantCode(t, err, "")
			if got := pan.Masked(); got != tt.want {
				t.Errorf("Masked() = %+v, want %+v", got, tt.want)
			}
			hidden := tt.want.Length - len(tt.want.BIN) - 4
			wantString := tt.want.BIN + strings.Repeat("*", hidden) + tt.want.Last4
			if got := pan.Masked().String(); got != wantString {
				t.Errorf("Masked().String() = %q, want %q", got, wantString)
			}
		})
	}
}

func TestPANOwnsCopyOfDigits(t *testing.T) {
	in := testPAN(t, "4", 16)
	backing := []byte(in + "#")
	raw := secretFrom(backing)
	pan, err := ValidatePAN(raw)
	wantCode(t, err, "")

	raw.Wipe()
	if !bytes.Equal(backing, make([]byte, len(backing))) {
		t.Fatalf("raw backing array after Wipe = %v, want zeros", backing)
	}
	if pan.Digits().Len() != 16 {
		t.Fatalf("PAN digits after wiping raw: Len() = %d, want 16", pan.Digits().Len())
	}

	digits := pan.Digits().Bytes()
	pan.Wipe()
	if !bytes.Equal(digits, make([]byte, 16)) {
		t.Errorf("PAN backing array after Wipe = %v, want zeros", digits)
	}
	if pan.Len() != 16 {
		t.Errorf("Len() after Wipe = %d, want 16", pan.Len())
	}
	if pan.Masked().Last4 != in[12:] {
		t.Errorf("Masked().Last4 after Wipe = %q, want %q", pan.Masked().Last4, in[12:])
	}
}

func TestPANPrintsMaskedForm(t *testing.T) {
	in := "4111111111111111"
	pan, err := ValidatePAN(value(in))
	wantCode(t, err, "")

	outputs := map[string]string{}
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%d"} {
		outputs["value "+verb] = fmt.Sprintf(verb, pan)
		outputs["pointer "+verb] = fmt.Sprintf(verb, &pan)
		outputs["struct "+verb] = fmt.Sprintf(verb, struct{ Card PAN }{pan})
	}
	encoded, err := json.Marshal(struct{ Card PAN }{pan})
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	outputs["json"] = string(encoded)

	core, logs := observer.New(zapcore.DebugLevel)
	zap.New(core).Info("card", zap.Object("pan", pan), zap.Any("any", pan))
	entry := logs.All()[0]
	line, err := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()).EncodeEntry(entry.Entry, entry.Context)
	if err != nil {
		t.Fatalf("EncodeEntry: %v", err)
	}
	outputs["zap"] = line.String()

	for name, out := range outputs {
		if strings.Contains(out, in) || strings.Contains(out, "3431313131313131") {
			t.Errorf("%s printed the PAN: %s", name, out)
		}
	}
	if got := fmt.Sprintf("%v", pan); got != "41111111****1111" {
		t.Errorf("%%v = %q, want the masked form", got)
	}
}
