// Package leakscan looks for card numbers and CVVs in captured output: the
// demo and the leak test run the real service with canary cards and scan
// every byte it wrote (logs, responses, metrics) for them.
package leakscan

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Canary is a secret value that must never appear in output, such as a test
// PAN or CVV.
type Canary struct {
	Name   string
	Digits string
}

// Finding is one occurrence of a canary in the scanned data.
type Finding struct {
	Canary  string
	Variant string
	Source  string
	Offset  int
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: canary %s found as %s at byte %d", f.Source, f.Canary, f.Variant, f.Offset)
}

// variant is one encoding of a canary to look for.
type variant struct {
	name    string
	pattern []byte
}

// variants returns the encodings the scan looks for: the digits plain,
// grouped by four with spaces or dashes, separated by single spaces (as a
// speech transcript would be), as hex, and as base64 in each of the three
// byte alignments a value can take inside a longer base64 text (only the
// characters that do not depend on the neighbouring bytes are matched).
func variants(digits string) []variant {
	out := []variant{{"plain", []byte(digits)}}
	if len(digits) > 4 {
		out = append(out,
			variant{"spaced in groups of four", []byte(group(digits, " "))},
			variant{"dashed in groups of four", []byte(group(digits, "-"))},
			variant{"separated digits", []byte(strings.Join(strings.Split(digits, ""), " "))},
		)
	}
	out = append(out,
		variant{"hex", []byte(hex.EncodeToString([]byte(digits)))},
		variant{"HEX", []byte(strings.ToUpper(hex.EncodeToString([]byte(digits))))},
	)
	for shift := 0; shift < 3; shift++ {
		padded := append(bytes.Repeat([]byte{0}, shift), digits...)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			encoded := enc.EncodeToString(padded)
			// Drop the characters that mix in the neighbouring bytes: the
			// first ceil(shift*8/6) characters and the last group.
			start := (shift*8 + 5) / 6
			end := len(encoded) - 4
			if end-start >= 4 {
				name := "base64"
				if enc == base64.URLEncoding {
					name = "base64url"
				}
				out = append(out, variant{fmt.Sprintf("%s (alignment %d)", name, shift), []byte(encoded[start:end])})
			}
		}
	}
	return out
}

func group(digits, sep string) string {
	var parts []string
	for i := 0; i < len(digits); i += 4 {
		parts = append(parts, digits[i:min(i+4, len(digits))])
	}
	return strings.Join(parts, sep)
}

// Scan returns every occurrence of every canary variant in data. A short
// canary (a CVV) is matched only plain and as hex/base64 of itself when it is
// delimited by non-digits, because three digits occur everywhere by chance.
func Scan(source string, data []byte, canaries []Canary) []Finding {
	var findings []Finding
	for _, c := range canaries {
		for _, v := range variants(c.Digits) {
			for off := 0; ; {
				i := bytes.Index(data[off:], v.pattern)
				if i < 0 {
					break
				}
				at := off + i
				off = at + 1
				if len(c.Digits) < 8 && !delimited(data, at, len(v.pattern)) {
					continue
				}
				findings = append(findings, Finding{Canary: c.Name, Variant: v.name, Source: source, Offset: at})
			}
		}
	}
	return findings
}

// delimited reports whether the match at data[at:at+n] has no letter,
// digit, '.' or ':' on either side, so that a short canary is not found
// inside a number such as "0.737" or an address such as ":737".
func delimited(data []byte, at, n int) bool {
	isWord := func(b byte) bool {
		return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '.' || b == ':'
	}
	if at > 0 && isWord(data[at-1]) {
		return false
	}
	if end := at + n; end < len(data) && isWord(data[end]) {
		return false
	}
	return true
}
