package redact

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"pgregory.net/rapid"
)

// surroundingText draws text that may hold digits, spaces, dashes, letters
// and multi-byte characters, so that PANs meet digit groups and separators
// around them.
func surroundingText() *rapid.Generator[string] {
	return rapid.StringOf(rapid.SampledFrom([]rune("0123456789  --abcxyz:=/.,é€\t")))
}

// luhnPAN draws a Luhn-valid run of 12 to 19 digits.
func luhnPAN() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		n := rapid.IntRange(minPANDigits, maxPANDigits).Draw(t, "length")
		digits := make([]byte, n)
		for i := range n - 1 {
			digits[i] = byte('0' + rapid.IntRange(0, 9).Draw(t, "digit"))
		}
		for check := byte('0'); check <= '9'; check++ {
			digits[n-1] = check
			if luhnValid(string(digits), []digitGroup{{start: 0, end: n}}) {
				break
			}
		}
		return string(digits)
	})
}

// layout draws the PAN's written form: contiguous, or with one space or
// dash between some of its digits.
func layout(t *rapid.T, pan string) string {
	var b strings.Builder
	for i := range len(pan) {
		b.WriteByte(pan[i])
		if i < len(pan)-1 {
			b.WriteString(rapid.SampledFrom([]string{"", "", "", " ", "-"}).Draw(t, "separator"))
		}
	}
	return b.String()
}

// nonDigit draws the character that separates the PAN from the surrounding
// text. A digit there would make the PAN part of a longer digit run, which
// is out of the scanner's scope.
func nonDigit() *rapid.Generator[string] {
	return rapid.SampledFrom([]string{" ", "-", "a", ":", "=", "é", "\n"})
}

func TestPropertyLuhnValidPANNeverSurvives(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pan := luhnPAN().Draw(t, "pan")
		text := surroundingText().Draw(t, "before") + nonDigit().Draw(t, "left") +
			layout(t, pan) +
			nonDigit().Draw(t, "right") + surroundingText().Draw(t, "after")

		inner, logs := observer.New(zapcore.DebugLevel)
		counts := &scrubCounts{}
		logger := zap.New(WrapCore(inner, counts))
		logger.Info(text, zap.String("note", text), zap.Strings("notes", []string{text}))

		entries := logs.All()
		if len(entries) != 1 {
			t.Fatalf("got %d entries, want 1", len(entries))
		}
		enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{MessageKey: "msg"})
		buf, err := enc.EncodeEntry(entries[0].Entry, entries[0].Context)
		if err != nil {
			t.Fatalf("encoding: %v", err)
		}
		out := buf.String()
		buf.Free()

		// Separators are removed before searching, so the PAN is found in
		// any layout, also one that spans the masked part and its
		// neighbours.
		flat := strings.NewReplacer(" ", "", "-", "").Replace(out)
		if strings.Contains(flat, pan) {
			t.Fatalf("PAN %s survived in %q", pan, out)
		}
		if counts.get(KindPANInMessage) < 1 || counts.get(KindPANInField) < 2 {
			t.Fatalf("scrub counts = %v, want at least one for the message and one per field", counts.counts)
		}
	})
}
