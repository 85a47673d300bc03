package redact

import (
	"strings"
	"unicode"
)

// sensitiveWords are the key words that name card data, sensitive
// authentication data or ciphertext on their own.
var sensitiveWords = map[string]bool{
	"pan":        true,
	"cvv":        true,
	"cvv2":       true,
	"cvc":        true,
	"cvc2":       true,
	"cid":        true,
	"csc":        true,
	"cvn":        true,
	"pin":        true,
	"expiry":     true,
	"ciphertext": true,
	"plaintext":  true,
	"cardnumber": true,
	"cardnum":    true,
	"cardno":     true,
	"ccnumber":   true,
	"ccnum":      true,
}

// sensitivePairs are two consecutive key words that name card data together.
var sensitivePairs = map[[2]string]bool{
	{"card", "number"}:       true,
	{"card", "num"}:          true,
	{"card", "no"}:           true,
	{"cc", "number"}:         true,
	{"cc", "num"}:            true,
	{"account", "number"}:    true,
	{"security", "code"}:     true,
	{"cipher", "text"}:       true,
	{"plain", "text"}:        true,
	{"exp", "date"}:          true,
	{"exp", "month"}:         true,
	{"exp", "year"}:          true,
	{"expiration", "date"}:   true,
	{"expiration", "month"}:  true,
	{"expiration", "year"}:   true,
	{"verification", "code"}: true,
}

// sensitiveSubstrings catch keys written as one lower-case word
// ("creditcardnumber"). They are long enough not to occur inside unrelated
// words, unlike "pan" in "company".
var sensitiveSubstrings = []string{
	"cardnumber",
	"securitycode",
	"ciphertext",
	"plaintext",
	"accountnumber",
}

// derivedWords name a property of card data that may be logged: its masked
// form, BIN, last four, brand, keyed fingerprint, length, the outcome of a
// check on it, or a configured limit ("pan_last4", "cvvLength",
// "max_ciphertext_bytes").
var derivedWords = map[string]bool{
	"masked":      true,
	"mask":        true,
	"last4":       true,
	"bin":         true,
	"iin":         true,
	"brand":       true,
	"fingerprint": true,
	"hmac":        true,
	"hash":        true,
	"length":      true,
	"len":         true,
	"size":        true,
	"count":       true,
	"present":     true,
	"check":       true,
	"result":      true,
	"status":      true,
	"outcome":     true,
	"reason":      true,
	// Limits on card data are settings, such as PROCESSOR_MAX_CIPHERTEXT_BYTES
	// in the start-up configuration summary.
	"max":   true,
	"min":   true,
	"limit": true,
	"bytes": true,
}

// redactValue reports whether the value under a field key is dropped, given
// whether the object or array that contains it is itself under a dropped
// key.
//
// A key is dropped when it names card data, sensitive authentication data
// or ciphertext (sensitiveWords, sensitivePairs, sensitiveSubstrings), unless
// one of its words names a derived, non-sensitive property (derivedWords):
// "pan" and "cardNumber" are dropped, "pan_last4" and "cvvLength" are kept.
// Inside a dropped object every value is dropped unless its key has a
// derived word, so zap.Object("pan", maskedPAN) keeps its "bin" and "last4".
//
// Matching ignores case and splits the key into words at '_', '-', '.',
// spaces and camelCase boundaries, so "cardNumber", "card_number",
// "Card-Number" and "CARD_NUMBER" all match. Digits stay with the word before
// them ("cvv2", "last4").
//
// NOTE: a derived word exempts the whole key, so a caller that logs a raw
// CVV under "cvv_check" is not caught here. PAN scrubbing still applies to
// every value that is kept, whatever its key.
func redactValue(key string, insideSensitive bool) bool {
	words := splitKey(key)
	if hasDerivedWord(words) {
		return false
	}
	return insideSensitive || namesCardData(words)
}

func namesCardData(words []string) bool {
	for i, w := range words {
		if sensitiveWords[w] {
			return true
		}
		if i > 0 && sensitivePairs[[2]string{words[i-1], w}] {
			return true
		}
	}
	joined := strings.Join(words, "")
	for _, sub := range sensitiveSubstrings {
		if strings.Contains(joined, sub) {
			return true
		}
	}
	return false
}

func hasDerivedWord(words []string) bool {
	for _, w := range words {
		if derivedWords[w] {
			return true
		}
	}
	return false
}

// splitKey returns the lower-case words of a field key.
func splitKey(key string) []string {
	var (
		words []string
		word  []rune
	)
	flush := func() {
		if len(word) > 0 {
			words = append(words, strings.ToLower(string(word)))
			word = word[:0]
		}
	}
	runes := []rune(key)
	for i, r := range runes {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
			continue
		case unicode.IsUpper(r) && len(word) > 0:
			prev := runes[i-1]
			nextIsLower := i+1 < len(runes) && unicode.IsLower(runes[i+1])
			// "cardNumber" splits before N, and "PANMasked" splits before M
			// (the last capital of an acronym starts the next word).
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextIsLower) {
				flush()
			}
		}
		word = append(word, r)
	}
	flush()
	return words
}
