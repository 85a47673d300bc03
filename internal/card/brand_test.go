package card

import "testing"

func TestParseBrand(t *testing.T) {
	tests := []struct {
		in     string
		want   Brand
		wantOK bool
	}{
		{"visa", Visa, true},
		{"mastercard", Mastercard, true},
		{"amex", Amex, true},
		{"discover", Discover, true},
		{"jcb", JCB, true},
		{"diners", DinersClub, true},
		{"unionpay", UnionPay, true},
		{"maestro", Maestro, true},
		{"unknown", Unknown, true},
		{" AMEX ", Amex, true},
		{"Visa", Visa, true},
		{"american express", Unknown, false},
		{"diners club", Unknown, false},
		{"", Unknown, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := ParseBrand(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseBrand(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestBrandOfIINEdges(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		want   Brand
	}{
		{"visa", "4", Visa},
		{"mastercard 51", "51", Mastercard},
		{"mastercard 55", "55", Mastercard},
		{"below mastercard 51", "50", Unknown},
		{"above mastercard 55", "56", Unknown},
		{"below mastercard 2221", "2220", Unknown},
		{"mastercard 2221", "2221", Mastercard},
		{"mastercard 2720", "2720", Mastercard},
		{"above mastercard 2720", "2721", Unknown},
		{"amex 34", "34", Amex},
		{"amex 37", "37", Amex},
		{"not amex 35", "35", Unknown},
		{"discover 6011", "6011", Discover},
		{"not discover 6012", "6012", Unknown},
		{"below discover 644", "643", Unknown},
		{"discover 644", "644", Discover},
		{"discover 649", "649", Discover},
		{"discover 65", "65", Discover},
		{"unionpay 622125", "622125", UnionPay},
		{"discover 622126", "622126", Discover},
		{"discover 622925", "622925", Discover},
		{"unionpay 622926", "622926", UnionPay},
		{"unionpay 62", "620000", UnionPay},
		{"unionpay 8100", "8100", UnionPay},
		{"unionpay 8171", "8171", UnionPay},
		{"above unionpay 8171", "8172", Unknown},
		{"below jcb 3528", "3527", Unknown},
		{"jcb 3528", "3528", JCB},
		{"jcb 3589", "3589", JCB},
		{"above jcb 3589", "3590", Unknown},
		{"diners 300", "300", DinersClub},
		{"diners 305", "305", DinersClub},
		{"not diners 306", "306", Unknown},
		{"diners 3095", "3095", DinersClub},
		{"diners 36", "36", DinersClub},
		{"diners 38", "38", DinersClub},
		{"diners 39", "39", DinersClub},
		{"maestro 5018", "5018", Maestro},
		{"maestro 5020", "5020", Maestro},
		{"maestro 5038", "5038", Maestro},
		{"maestro 5893", "5893", Maestro},
		{"maestro 6304", "6304", Maestro},
		{"maestro 6759", "6759", Maestro},
		{"maestro 6761", "6761", Maestro},
		{"maestro 6763", "6763", Maestro},
		{"not maestro 6764", "6764", Unknown},
		{"unassigned 9", "9", Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			digits := []byte(testPAN(t, tt.prefix, 16))
			if got := brandOf(digits); got != tt.want {
				t.Errorf("brandOf(%s...) = %q, want %q", tt.prefix, got, tt.want)
			}
		})
	}
}

// TestIINRangesSameLengthDisjoint guards the longest-prefix rule: two rows
// with the same prefix length that overlap would make the brand depend on
// the order of the table.
func TestIINRangesSameLengthDisjoint(t *testing.T) {
	for i, a := range iinRanges {
		if a.low > a.high {
			t.Errorf("row %d (%s): low %d above high %d", i, a.brand, a.low, a.high)
		}
		if a.prefixLen > maxPrefixLen {
			t.Errorf("row %d (%s): prefix length %d above maxPrefixLen %d", i, a.brand, a.prefixLen, maxPrefixLen)
		}
		for j, b := range iinRanges[i+1:] {
			if a.prefixLen == b.prefixLen && a.low <= b.high && b.low <= a.high {
				t.Errorf("rows %d (%s) and %d (%s) overlap at prefix length %d", i, a.brand, i+1+j, b.brand, a.prefixLen)
			}
		}
	}
}

func TestBrandsHaveRulesAndRanges(t *testing.T) {
	for _, b := range Brands {
		if b == Unknown {
			if _, ok := brandRules[b]; ok {
				t.Error("Unknown has a brand rule, so unlisted networks would be rejected")
			}
			continue
		}
		rule, ok := brandRules[b]
		if !ok {
			t.Errorf("%s has no brand rule", b)
			continue
		}
		for _, n := range rule.lengths {
			if n < MinPANLength || n > MaxPANLength {
				t.Errorf("%s allows length %d outside %d..%d", b, n, MinPANLength, MaxPANLength)
			}
		}
		found := false
		for _, r := range iinRanges {
			found = found || r.brand == b
		}
		if !found {
			t.Errorf("%s has no IIN range", b)
		}
	}
}
