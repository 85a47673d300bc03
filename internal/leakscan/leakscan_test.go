package leakscan

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
)

func TestScanFindsEveryEncoding(t *testing.T) {
	const pan = "4111111111111111"
	canaries := []Canary{{Name: "pan", Digits: pan}}
	tests := map[string]string{
		"plain":         `{"msg":"card 4111111111111111 declined"}`,
		"spaced":        "card 4111 1111 1111 1111",
		"dashed":        "card 4111-1111-1111-1111",
		"separated":     "four one: 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
		"hex":           "blob=" + hex.EncodeToString([]byte(pan)),
		"base64":        "blob=" + base64.StdEncoding.EncodeToString([]byte(pan)),
		"base64 inside": "blob=" + base64.StdEncoding.EncodeToString([]byte(`{"pan":"`+pan+`"}`)),
		"base64url":     "blob=" + base64.URLEncoding.EncodeToString([]byte("xx"+pan)),
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Scan(name, []byte(text), canaries); len(got) == 0 {
				t.Errorf("no finding in %q", text)
			}
		})
	}
}

func TestScanIgnoresMaskedAndOtherDigits(t *testing.T) {
	canaries := []Canary{{Name: "pan", Digits: "4111111111111111"}, {Name: "cvv", Digits: "737"}}
	for _, text := range []string{
		`{"bin":"41111111","last4":"1111"}`,
		"411111******1111",
		"latency 17370 ms, port 57372",
		"took 0.737 s on 127.0.0.1:737",
		"4111111111111112",
	} {
		if got := Scan("t", []byte(text), canaries); len(got) != 0 {
			t.Errorf("false finding in %q: %v", text, got)
		}
	}
}

func TestScanFindsDelimitedCVV(t *testing.T) {
	canaries := []Canary{{Name: "cvv", Digits: "737"}}
	if got := Scan("t", []byte(`{"cvv":"737"}`), canaries); len(got) == 0 {
		t.Error("a quoted CVV was not found")
	}
}
