package redact

import (
	"regexp"
	"strings"
)

// PAN lengths in digits that the scanner masks: ISO/IEC 7812 allows at most
// 19, and the shortest PANs in use (Maestro) have 12.
const (
	minPANDigits = 12
	maxPANDigits = 19
)

// Digits of a masked run that stay visible: the first six (the BIN) and the
// last four. Every run has at least 12 digits, so at least two are hidden.
const (
	visibleLeading  = 6
	visibleTrailing = 4
)

// digitGroup is a maximal run of ASCII digits in a text, as byte offsets.
type digitGroup struct {
	start, end int
}

func (g digitGroup) len() int { return g.end - g.start }

// maskPANs returns s with every PAN-like run replaced by its first six
// digits, one '*' per hidden digit and its last four digits, and the number
// of runs it replaced.
//
// A PAN-like run is 12 to 19 ASCII digits that pass the Luhn check, written
// either contiguously or as groups separated by one space or one dash
// ("4111 1111 1111 1111", "4111-1111-1111-1111"). A run matches only at group
// boundaries, so "12 4111 1111 1111 1111" masks the PAN whether or not the
// leading "12" belongs to it. Separators inside a masked run are dropped, so
// the output has one '*' per hidden digit and no spacing that hints at the
// original layout.
//
// Runs that fail the Luhn check pass through unchanged: they are not card
// numbers, and masking them would mangle order ids, timestamps and other
// long numbers. So do single digit runs longer than 19 digits, non-ASCII
// digits, and digits split by anything other than one space or one dash
// (two spaces, dots, slashes, letters). Runs inside a UUID in its canonical
// 8-4-4-4-12 form also pass: Connect Key IDs and contact ids are UUIDs, and
// an all-digit one ("...-4444-555555555555") would otherwise be masked as a
// card number and mislead the operator who reads it.
func maskPANs(s string) (string, int) {
	if countDigits(s) < minPANDigits {
		return s, 0
	}
	uuids := uuidPattern.FindAllStringSubmatchIndex(s, -1)

	var (
		out      strings.Builder
		copied   int // bytes of s already written to out
		replaced int
	)
	for _, chain := range digitChains(s) {
		for _, span := range maskedSpans(s, chain) {
			if insideAny(span, uuids) {
				continue
			}
			if replaced == 0 {
				out.Grow(len(s))
			}
			out.WriteString(s[copied:span.start])
			writeMasked(&out, s[span.start:span.end])
			copied = span.end
			replaced++
		}
	}
	if replaced == 0 {
		return s, 0
	}
	out.WriteString(s[copied:])
	return out.String(), replaced
}

// uuidPattern matches a UUID in canonical form, not inside a longer hex or
// digit run.
var uuidPattern = regexp.MustCompile(`(?:^|[^0-9A-Fa-f-])([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})(?:$|[^0-9A-Fa-f-])`)

// insideAny reports whether span lies within one of the UUIDs, given as
// FindAllStringSubmatchIndex results whose submatch 1 is the UUID itself.
func insideAny(span byteSpan, matches [][]int) bool {
	for _, m := range matches {
		if span.start >= m[2] && span.end <= m[3] {
			return true
		}
	}
	return false
}

// containsPAN reports whether maskPANs would change s.
func containsPAN(s string) bool {
	_, n := maskPANs(s)
	return n > 0
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
		}
	}
	return n
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// digitChains splits the digit runs of s into chains: sequences of digit
// groups where each group follows the previous one after exactly one space
// or dash.
func digitChains(s string) [][]digitGroup {
	var (
		chains [][]digitGroup
		chain  []digitGroup
	)
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		group := digitGroup{start: start, end: i}
		if len(chain) > 0 && !joinedBySeparator(s, chain[len(chain)-1], group) {
			chains = append(chains, chain)
			chain = nil
		}
		chain = append(chain, group)
	}
	if len(chain) > 0 {
		chains = append(chains, chain)
	}
	return chains
}

func joinedBySeparator(s string, prev, next digitGroup) bool {
	return next.start == prev.end+1 && (s[prev.end] == ' ' || s[prev.end] == '-')
}

// byteSpan is a half-open range of byte offsets into a text.
type byteSpan struct {
	start, end int
}

// maskedSpans returns the spans of s to mask within one chain, in order. Every
// window of consecutive groups with 12 to 19 digits in total that passes the
// Luhn check is marked, and overlapping windows merge into one span. The
// window that is the real PAN is always marked, so every window that shares
// a group with it joins its span. The visible digits of that span (its first
// six and last four) therefore include at most the PAN's BIN and last four.
// Masking overlapping windows one by one could leave the rest of a PAN
// visible next to a masked part. Windows that only touch stay apart, so two
// PANs in a row keep their own BIN and last four.
func maskedSpans(s string, chain []digitGroup) []byteSpan {
	var spans []byteSpan
	for i := range chain {
		digits := 0
		for j := i; j < len(chain); j++ {
			digits += chain[j].len()
			if digits > maxPANDigits {
				break
			}
			if digits < minPANDigits || !luhnValid(s, chain[i:j+1]) {
				continue
			}
			span := byteSpan{start: chain[i].start, end: chain[j].end}
			if n := len(spans); n > 0 && span.start < spans[n-1].end {
				spans[n-1].end = max(spans[n-1].end, span.end)
				continue
			}
			spans = append(spans, span)
		}
	}
	return spans
}

// luhnValid reports whether the digits of groups, read in order, pass the
// Luhn check (ISO/IEC 7812-1 annex B).
func luhnValid(s string, groups []digitGroup) bool {
	sum, double := 0, false
	for g := len(groups) - 1; g >= 0; g-- {
		for i := groups[g].end - 1; i >= groups[g].start; i-- {
			d := int(s[i] - '0')
			if double {
				d *= 2
				if d > 9 {
					d -= 9
				}
			}
			sum += d
			double = !double
		}
	}
	return sum%10 == 0
}

// writeMasked writes the digits of run with all but the first six and the
// last four replaced by '*'. Separators in run are dropped.
func writeMasked(out *strings.Builder, run string) {
	total := countDigits(run)
	seen := 0
	for i := 0; i < len(run); i++ {
		c := run[i]
		if !isDigit(c) {
			continue
		}
		if seen < visibleLeading || seen >= total-visibleTrailing {
			out.WriteByte(c)
		} else {
			out.WriteByte('*')
		}
		seen++
	}
}
