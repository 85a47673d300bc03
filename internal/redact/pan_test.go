package redact

import (
	"strconv"
	"testing"
)

func TestMaskPANs(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      string
		wantCount int
	}{
		{"12 digits", "501800000009", "501800**0009", 1},
		{"13 digits", "4222222222222", "422222***2222", 1},
		{"15 digits", "378282246310005", "378282*****0005", 1},
		{"16 digits", "4111111111111111", "411111******1111", 1},
		{"19 digits", "6221260000000000001", "622126*********0001", 1},
		{"spaced", "4111 1111 1111 1111", "411111******1111", 1},
		{"dashed", "4111-1111-1111-1111", "411111******1111", 1},
		{"amex spacing", "3782 822463 10005", "378282*****0005", 1},
		{"mixed separators", "4111 1111-1111 1111", "411111******1111", 1},
		{"inside text", "card 4111111111111111 declined", "card 411111******1111 declined", 1},
		{"glued to letters", "pan=4111111111111111;", "pan=411111******1111;", 1},
		{"after letters", "x4111111111111111y", "x411111******1111y", 1},
		{"two PANs", "4111111111111111 and 5555555555554444", "411111******1111 and 555555******4444", 1 + 1},
		{"two PANs one space", "4111111111111111 5555555555554444", "411111******1111 555555******4444", 1 + 1},
		{"leading short group", "ref 12 4111 1111 1111 1111", "ref 12 411111******1111", 1},
		{"trailing expiry", "4111 1111 1111 1111 12 27", "411111******1111 12 27", 1},
		{"luhn invalid", "4111111111111112", "4111111111111112", 0},
		{"luhn invalid spaced", "4111 1111 1111 1112", "4111 1111 1111 1112", 0},
		{"11 digits", "41111111116", "41111111116", 0},
		{"20 digit run", "41111111111111111111", "41111111111111111111", 0},
		{"two spaces split", "4111  1111  1111  1111", "4111  1111  1111  1111", 0},
		{"dot separators", "4111.1111.1111.1111", "4111.1111.1111.1111", 0},
		{"no digits", "nothing to see", "nothing to see", 0},
		{"empty", "", "", 0},
		{"iso time", "2025-03-01T12:00:00.000Z", "2025-03-01T12:00:00.000Z", 0},
		{"already masked", "411111******1111", "411111******1111", 0},
		{"multibyte around", "é4111111111111111€", "é411111******1111€", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n := maskPANs(tt.in)
			if got != tt.want {
				t.Errorf("maskPANs(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if n != tt.wantCount {
				t.Errorf("maskPANs(%q) count = %d, want %d", tt.in, n, tt.wantCount)
			}
		})
	}
}

// TestMaskPANsOverlappingWindow checks a chain where a window that is not
// the PAN ("12" plus the PAN's first three groups, 14 digits) also passes the
// Luhn check. Masking that window alone would leave the PAN's last group
// visible beside it.
func TestMaskPANsOverlappingWindow(t *testing.T) {
	pan := "4111 1111 1111 1111"
	var prefix string
	for p := 10; p < 100; p++ {
		candidate := strconv.Itoa(p) + " 4111 1111 1111"
		if luhnValid(candidate, chainOf(candidate)) {
			prefix = strconv.Itoa(p)
			break
		}
	}
	if prefix == "" {
		t.Fatal("no two-digit prefix makes a Luhn-valid 14-digit window")
	}
	in := prefix + " " + pan
	got, n := maskPANs(in)
	want := prefix + "4111********1111"
	if got != want {
		t.Errorf("maskPANs(%q) = %q, want %q", in, got, want)
	}
	if n != 1 {
		t.Errorf("maskPANs(%q) count = %d, want 1", in, n)
	}
}

func TestLuhnValid(t *testing.T) {
	tests := []struct {
		digits string
		want   bool
	}{
		{"4111111111111111", true},
		{"5555555555554444", true},
		{"378282246310005", true},
		{"4111111111111112", false},
		{"0", true},
		{"79927398713", true},
		{"79927398710", false},
	}
	for _, tt := range tests {
		t.Run(tt.digits, func(t *testing.T) {
			if got := luhnValid(tt.digits, chainOf(tt.digits)); got != tt.want {
				t.Errorf("luhnValid(%q) = %v, want %v", tt.digits, got, tt.want)
			}
		})
	}
}

func TestNewRequestIDNeverHoldsPAN(t *testing.T) {
	for range 2000 {
		id := newRequestID()
		if len(id) != 32 {
			t.Fatalf("newRequestID() = %q, want 32 hex digits", id)
		}
		if containsPAN(id) {
			t.Fatalf("newRequestID() = %q contains a PAN-like run", id)
		}
	}
}

// chainOf returns the digit groups of s, which must be one chain.
func chainOf(s string) []digitGroup {
	chains := digitChains(s)
	if len(chains) != 1 {
		panic("chainOf: input is not one chain: " + s)
	}
	return chains[0]
}

func TestMaskPANsKeepsUUIDs(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"key 11111111-2222-3333-4444-555555555555 loaded", "key 11111111-2222-3333-4444-555555555555 loaded"},
		{"contact=4111-1111-1111-1111", "contact=411111******1111"},
		{"ids 11111111-2222-3333-4444-555555555555,4111111111111111", "ids 11111111-2222-3333-4444-555555555555,411111******1111"},
	}
	for _, tt := range tests {
		if got, _ := maskPANs(tt.in); got != tt.want {
			t.Errorf("maskPANs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
