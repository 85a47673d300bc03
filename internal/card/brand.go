package card

import "strings"

// Brand is a card network, named by the lower-case word the API uses.
type Brand string

// The brands the IIN table recognizes. Unknown is a PAN that passes every
// generic check but matches no range in the table.
const (
	Visa       Brand = "visa"
	Mastercard Brand = "mastercard"
	Amex       Brand = "amex"
	Discover   Brand = "discover"
	JCB        Brand = "jcb"
	DinersClub Brand = "diners"
	UnionPay   Brand = "unionpay"
	Maestro    Brand = "maestro"
	Unknown    Brand = "unknown"
)

// Brands lists every brand in a fixed order, Unknown last.
var Brands = []Brand{Visa, Mastercard, Amex, Discover, JCB, DinersClub, UnionPay, Maestro, Unknown}

// ParseBrand returns the brand named by an API brand hint such as "amex". It
// ignores case and surrounding spaces, and returns false for any other word.
func ParseBrand(s string) (Brand, bool) {
	word := Brand(strings.ToLower(strings.TrimSpace(s)))
	for _, b := range Brands {
		if b == word {
			return b, true
		}
	}
	return Unknown, false
}

// brandRule is the set of limits a brand places on a PAN and its security code.
type brandRule struct {
	name      string // display name for messages
	lengths   []int  // allowed PAN lengths in digits
	cvvLength int    // digits of the card security code (CVV, CVC or CID)
}

// brandRules holds the PAN lengths and security-code length of each brand.
// Lengths are the union of the sources listed above iinRanges, so a length
// that any of them allows is accepted: rejecting a real card costs the
// caller the payment, while accepting a wrong length only costs a gateway
// decline.
var brandRules = map[Brand]brandRule{
	Visa:       {name: "Visa", lengths: []int{13, 16, 18, 19}, cvvLength: 3},
	Mastercard: {name: "Mastercard", lengths: []int{16, 19}, cvvLength: 3},
	Amex:       {name: "American Express", lengths: []int{15}, cvvLength: 4},
	Discover:   {name: "Discover", lengths: []int{16, 19}, cvvLength: 3},
	JCB:        {name: "JCB", lengths: []int{16, 17, 18, 19}, cvvLength: 3},
	DinersClub: {name: "Diners Club", lengths: []int{14, 16, 19}, cvvLength: 3},
	UnionPay:   {name: "UnionPay", lengths: []int{14, 15, 16, 17, 18, 19}, cvvLength: 3},
	Maestro:    {name: "Maestro", lengths: []int{12, 13, 14, 15, 16, 17, 18, 19}, cvvLength: 3},
}

// iinRange is one row of the IIN table: every PAN whose first prefixLen
// digits, read as a number, lie in [low, high] belongs to brand.
type iinRange struct {
	prefixLen int
	low, high int
	brand     Brand
}

// iinRanges maps issuer identification number (IIN) prefixes to brands.
// When ranges overlap, the one with the longest prefix wins, so the
// Discover range 622126-622925 (UnionPay cards co-branded with Discover)
// takes precedence over UnionPay's 62.
//
// Sources, read on 2026-12-04:
//   - braintree/credit-card-type, src/lib/card-types.ts (patterns, lengths
//     and security-code sizes of each brand);
//   - Worldpay CNP API, "Appendix B - Credit Card Number Formats"
//     (Mastercard 222100-272099, Visa and Mastercard 16 or 19 digits);
//   - Vantiv "Credit Card Number Formats" 2.2 (Discover 622126-622925,
//     Diners Club 300000-306000 and 309500-309600 on the Discover network);
//   - iinbase.com (Maestro 5018, 5020, 5038, 6304, 6759, 6761, 6763).
//
// Maestro 5893 and 6762 fall inside the broader Maestro ranges of
// credit-card-type (56-59 and 67). The table keeps narrow Maestro ranges
// because credit-card-type's catch-all "6" would hide unknown brands.
var iinRanges = []iinRange{
	{1, 4, 4, Visa},

	{2, 51, 55, Mastercard},
	{4, 2221, 2720, Mastercard},

	{2, 34, 34, Amex},
	{2, 37, 37, Amex},

	{4, 6011, 6011, Discover},
	{3, 644, 649, Discover},
	{2, 65, 65, Discover},
	{6, 622126, 622925, Discover},

	{4, 3528, 3589, JCB},

	{3, 300, 305, DinersClub},
	{4, 3095, 3095, DinersClub},
	{2, 36, 36, DinersClub},
	{2, 38, 39, DinersClub},

	{2, 62, 62, UnionPay},
	{4, 8100, 8171, UnionPay},

	{4, 5018, 5018, Maestro},
	{4, 5020, 5020, Maestro},
	{4, 5038, 5038, Maestro},
	{4, 5893, 5893, Maestro},
	{4, 6304, 6304, Maestro},
	{4, 6759, 6759, Maestro},
	{4, 6761, 6763, Maestro},
}

// maxPrefixLen is the longest prefix any row of iinRanges reads.
const maxPrefixLen = 6

// brandOf returns the brand of a PAN from its leading digits. digits must
// contain only ASCII digits; fewer than maxPrefixLen digits match only the
// rows they are long enough for.
func brandOf(digits []byte) Brand {
	best, bestLen := Unknown, 0
	for _, r := range iinRanges {
		if r.prefixLen > len(digits) || r.prefixLen <= bestLen {
			continue
		}
		prefix := leadingNumber(digits, r.prefixLen)
		if prefix >= r.low && prefix <= r.high {
			best, bestLen = r.brand, r.prefixLen
		}
	}
	return best
}

// leadingNumber reads the first n digits of digits as a decimal number.
func leadingNumber(digits []byte, n int) int {
	v := 0
	for _, d := range digits[:n] {
		v = v*10 + int(d-'0')
	}
	return v
}

// displayName returns the brand's name for messages.
func (b Brand) displayName() string {
	if rule, ok := brandRules[b]; ok {
		return rule.name
	}
	return "unknown-brand"
}
