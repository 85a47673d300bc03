package redact

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"go.uber.org/multierr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/connect-secure-input/processor/internal/secret"
)

func TestCoreMasksPANInMessage(t *testing.T) {
	tests := []struct {
		name      string
		message   string
		want      string
		wantCount int
	}{
		{"plain", "card " + visaPAN, "card " + visaMasked, 1},
		{"spaced", "card 4111 1111 1111 1111 was declined", "card " + visaMasked + " was declined", 1},
		{"dashed", "card 4111-1111-1111-1111", "card " + visaMasked, 1},
		{"inside a word", "pan:" + visaPAN + "!", "pan:" + visaMasked + "!", 1},
		{"12 digits", "501800000009", "501800**0009", 1},
		{"13 digits", "4222222222222", "422222***2222", 1},
		{"15 digits", amexPAN, amexMasked, 1},
		{"16 digits", masterPAN, masterMasked, 1},
		{"19 digits", "6221260000000000001", "622126*********0001", 1},
		{"two PANs", visaPAN + ", " + masterPAN, visaMasked + ", " + masterMasked, 2},
		{"luhn invalid", "order 4111111111111112", "order 4111111111111112", 0},
		{"short number", "retry 3 of 5 after 250 ms", "retry 3 of 5 after 250 ms", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, logs, counts := observed(t)
			logger.Info(tt.message)

			entry := onlyEntry(t, logs)
			if entry.Message != tt.want {
				t.Errorf("message = %q, want %q", entry.Message, tt.want)
			}
			counts.wantCounts(t, map[string]int{KindPANInMessage: tt.wantCount})
		})
	}
}

// textStringer is a fmt.Stringer whose text is chosen by the test.
type textStringer string

func (s textStringer) String() string { return string(s) }

// verboseError prints a longer text for %+v, like errors from
// github.com/pkg/errors, so zap adds an "errorVerbose" field.
type verboseError struct{ short, verbose string }

func (e verboseError) Error() string { return e.short }

func (e verboseError) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('+') {
		_, _ = fmt.Fprint(f, e.verbose)
		return
	}
	_, _ = fmt.Fprint(f, e.short)
}

// cardNote is an ObjectMarshaler that logs a PAN under a key that does not
// look sensitive, nested one level deep.
type cardNote struct{ text string }

func (n cardNote) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("text", n.text)
	return enc.AddObject("nested", zapcore.ObjectMarshalerFunc(func(inner zapcore.ObjectEncoder) error {
		inner.AddString("copy", n.text)
		return nil
	}))
}

func TestCoreMasksPANInFields(t *testing.T) {
	type order struct {
		Note    string `json:"note"`
		Numbers []int  `json:"numbers"`
	}
	tests := []struct {
		name      string
		field     zap.Field
		wantCount int
	}{
		{"string", zap.String("note", "paid with "+visaPAN), 1},
		{"spaced string", zap.String("note", "paid with 4111 1111 1111 1111"), 1},
		{"stringer", zap.Stringer("note", textStringer("card "+visaPAN)), 1},
		{"error", zap.Error(errors.New("gateway rejected " + visaPAN)), 1},
		{"wrapped error", zap.Error(fmt.Errorf("authorize: %w", errors.New("card "+visaPAN))), 1},
		{"verbose error", zap.Error(verboseError{short: "card " + visaPAN, verbose: "card " + visaPAN + "\nstack"}), 2},
		{"error group", zap.Error(multierr.Combine(errors.New("first "+visaPAN), errors.New("second "+masterPAN))), 2 + 2},
		{"errors", zap.Errors("errors", []error{errors.New(visaPAN), errors.New(masterPAN)}), 2},
		{"byte string", zap.ByteString("note", []byte("card "+visaPAN)), 1},
		{"binary", zap.Binary("raw", []byte(visaPAN)), 1},
		{"int64", zap.Int64("number", 4111111111111111), 1},
		{"uint64", zap.Uint64("number", 4111111111111111), 1},
		{"float64", zap.Float64("number", 4111111111111111), 1},
		{"strings", zap.Strings("notes", []string{"a", visaPAN}), 1},
		{"object", zap.Object("note", cardNote{text: visaPAN}), 2},
		{"inline", zap.Inline(cardNote{text: visaPAN}), 2},
		{"dict", zap.Dict("note", zap.String("text", visaPAN)), 1},
		{"any struct", zap.Any("order", order{Note: "card " + visaPAN}), 1},
		{"any number in struct", zap.Any("order", order{Numbers: []int{4111111111111111}}), 1},
		{"reflect map key", zap.Reflect("byCard", map[string]int{visaPAN: 1}), 1},
		{"any string", zap.Any("note", visaPAN), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, logs, counts := observed(t)
			logger.Info("event", tt.field)

			out := encoded(t, onlyEntry(t, logs))
			wantNoDigits(t, out, visaPAN, masterPAN)
			if !strings.Contains(out, visaMasked) && !strings.Contains(out, base64Of(visaMasked)) {
				t.Errorf("output lacks the masked PAN %q:\n%s", visaMasked, out)
			}
			counts.wantCounts(t, map[string]int{KindPANInField: tt.wantCount})
		})
	}
}

func TestCoreKeepsLuhnInvalidDigits(t *testing.T) {
	logger, logs, counts := observed(t)
	const orderID = "4111111111111112"
	logger.Info("order "+orderID, zap.String("order_id", orderID), zap.Int64("order_number", 4111111111111112))

	entry := onlyEntry(t, logs)
	if entry.Message != "order "+orderID {
		t.Errorf("message = %q, want it unchanged", entry.Message)
	}
	fields := entry.ContextMap()
	if fields["order_id"] != orderID {
		t.Errorf("order_id = %v, want %q", fields["order_id"], orderID)
	}
	if fields["order_number"] != int64(4111111111111112) {
		t.Errorf("order_number = %v (%T), want the int64 unchanged", fields["order_number"], fields["order_number"])
	}
	counts.wantCounts(t, nil)
}

func TestCoreDropsSensitiveKeys(t *testing.T) {
	keys := []string{
		"cvv", "CVV", "cvv2", "cvc", "CVC2", "cid", "csc", "pan", "PAN", "Pan",
		"card_number", "cardNumber", "CardNumber", "card-number", "CARD_NUMBER", "cardnumber",
		"creditCardNumber", "ccNumber", "primary_account_number",
		"ciphertext", "cipherText", "cipher_text", "encryptedCiphertext",
		"security_code", "securityCode", "card_verification_code",
		"expiry", "card_expiry", "exp_month", "expYear", "expiration_date", "exp_date",
		"plaintext", "pin", "card.pan", "user pan",
	}
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			logger, logs, counts := observed(t)
			logger.Info("event", zap.String(key, "123"))

			got := onlyEntry(t, logs).ContextMap()[key]
			if got != Redacted {
				t.Errorf("field %q = %v, want %q", key, got, Redacted)
			}
			counts.wantCounts(t, map[string]int{KindSensitiveField: 1})
		})
	}
}

func TestCoreDropsSensitiveKeysOfAnyType(t *testing.T) {
	tests := []struct {
		name  string
		field zap.Field
	}{
		{"int", zap.Int("cvv", 123)},
		{"int64", zap.Int64("pan", 4111111111111111)},
		{"bool", zap.Bool("cvc", true)},
		{"float", zap.Float64("cid", 1234)},
		{"byte string", zap.ByteString("ciphertext", []byte("AYADeJ..."))},
		{"binary", zap.Binary("ciphertext", []byte{1, 2, 3})},
		{"stringer", zap.Stringer("card_number", textStringer("4111"))},
		{"named error", zap.NamedError("pan", errors.New("4111"))},
		{"duration", zap.Duration("expiry", 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, logs, counts := observed(t)
			logger.Info("event", tt.field)

			got := onlyEntry(t, logs).ContextMap()[tt.field.Key]
			if got != Redacted {
				t.Errorf("field %q = %v, want %q", tt.field.Key, got, Redacted)
			}
			counts.wantCounts(t, map[string]int{KindSensitiveField: 1})
		})
	}
}

func TestCoreKeepsPlainAndDerivedKeys(t *testing.T) {
	keys := []string{
		"company", "span", "panic", "pandas", "decided", "incident", "expires_at", "expiration",
		"contact_id", "request_id", "idempotency_key", "key_id", "card_brand",
		"pan_last4", "panLast4", "pan_masked", "maskedPan", "cvvLength", "cvv_present", "cvc_check",
		"PROCESSOR_MAX_CIPHERTEXT_BYTES", "PROCESSOR_EXPIRY_MAX_YEARS",
		"card_number_masked", "pan_fingerprint", "ciphertext_size", "expiry_reason", "bin",
	}
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			logger, logs, counts := observed(t)
			logger.Info("event", zap.String(key, "visa"))

			if got := onlyEntry(t, logs).ContextMap()[key]; got != "visa" {
				t.Errorf("field %q = %v, want it kept", key, got)
			}
			counts.wantCounts(t, nil)
		})
	}
}

// maskedCard logs the fields a masked PAN may show, plus one it may not.
type maskedCard struct{ bin, last4, number string }

func (m maskedCard) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("brand", "visa")
	enc.AddString("bin", m.bin)
	enc.AddString("last4", m.last4)
	enc.AddInt("length", 16)
	enc.AddString("number", m.number)
	return nil
}

func TestCoreSensitiveObjectKeepsDerivedFields(t *testing.T) {
	logger, logs, counts := observed(t)
	logger.Info("event", zap.Object("pan", maskedCard{bin: "411111", last4: "1111", number: "4111 0000"}))

	got := decoded(t, onlyEntry(t, logs))["pan"].(map[string]any)
	want := map[string]any{"brand": "visa", "bin": "411111", "last4": "1111", "length": float64(16), "number": Redacted}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("pan.%s = %v, want %v", k, got[k], v)
		}
	}
	counts.wantCounts(t, map[string]int{KindSensitiveField: 1})
}

func TestCoreSensitiveNestedValues(t *testing.T) {
	type card struct {
		Number string `json:"number"`
		CVV    string `json:"cvv"`
		Brand  string `json:"brand"`
	}
	tests := []struct {
		name      string
		field     zap.Field
		wantKey   string
		wantCount map[string]int
	}{
		{"struct with cvv", zap.Any("card", card{Number: visaPAN, CVV: "123", Brand: "visa"}), `"cvv":"[REDACTED]"`,
			map[string]int{KindPANInField: 1, KindSensitiveField: 1}},
		{"map under pan", zap.Any("pan", map[string]string{"value": "4111"}), `"pan":{"value":"[REDACTED]"}`,
			map[string]int{KindSensitiveField: 1}},
		{"array under cvv", zap.Strings("cvv", []string{"123", "456"}), `"cvv":["[REDACTED]","[REDACTED]"]`,
			map[string]int{KindSensitiveField: 2}},
		{"dict with cvc", zap.Dict("payment", zap.String("cvc", "123")), `"payment":{"cvc":"[REDACTED]"}`,
			map[string]int{KindSensitiveField: 1}},
		{"objects in array under pan", zap.Objects("pan", []maskedCard{{number: "1"}}), `"number":"[REDACTED]"`,
			map[string]int{KindSensitiveField: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, logs, counts := observed(t)
			logger.Info("event", tt.field)

			out := encoded(t, onlyEntry(t, logs))
			if !strings.Contains(out, tt.wantKey) {
				t.Errorf("output lacks %s:\n%s", tt.wantKey, out)
			}
			wantNoDigits(t, out, visaPAN)
			counts.wantCounts(t, tt.wantCount)
		})
	}
}

func TestCoreSecretValueIsNotCounted(t *testing.T) {
	logger, logs, counts := observed(t)
	cvv := secret.Copy([]byte("123"))
	defer cvv.Wipe()
	logger.Info("event", zap.Object("cvv", cvv), zap.Stringer("pan", cvv), zap.Reflect("card_number", cvv))

	fields := decoded(t, onlyEntry(t, logs))
	object := fields["cvv"].(map[string]any)
	if object["value"] != Redacted || object["length"] != float64(3) {
		t.Errorf("cvv = %v, want the secret's mark and length", object)
	}
	if fields["pan"] != Redacted || fields["card_number"] != Redacted {
		t.Errorf("pan = %v, card_number = %v, want %q", fields["pan"], fields["card_number"], Redacted)
	}
	counts.wantCounts(t, nil)
}

func TestCoreWithFieldsScrubbedOnce(t *testing.T) {
	logger, logs, counts := observed(t)
	child := logger.With(zap.String("note", "card "+visaPAN), zap.String("cvv", "123"))
	for i := range 3 {
		child.Info("event", zap.Int("attempt", i))
	}

	entries := logs.TakeAll()
	if len(entries) != 3 {
		t.Fatalf("got %d entries, want 3", len(entries))
	}
	for _, entry := range entries {
		fields := entry.ContextMap()
		if fields["note"] != "card "+visaMasked {
			t.Errorf("note = %v, want %q", fields["note"], "card "+visaMasked)
		}
		if fields["cvv"] != Redacted {
			t.Errorf("cvv = %v, want %q", fields["cvv"], Redacted)
		}
	}
	counts.wantCounts(t, map[string]int{KindPANInField: 1, KindSensitiveField: 1})
}

func TestCoreSensitiveNamespace(t *testing.T) {
	logger, logs, counts := observed(t)
	logger.With(zap.Namespace("pan")).Info("event", zap.String("digits", "4111"), zap.String("last4", "1111"))
	logger.Info("event", zap.Namespace("cvv"), zap.String("value", "123"))

	entries := logs.TakeAll()
	if len(entries) != 2 {
		t.Fatalf("got %d entries, want 2", len(entries))
	}
	first := encoded(t, entries[0])
	if !strings.Contains(first, `"pan":{"digits":"[REDACTED]","last4":"1111"}`) {
		t.Errorf("namespace from With not dropped: %s", first)
	}
	second := encoded(t, entries[1])
	if !strings.Contains(second, `"cvv":{"value":"[REDACTED]"}`) {
		t.Errorf("namespace from Write not dropped: %s", second)
	}
	counts.wantCounts(t, map[string]int{KindSensitiveField: 2})
}

func TestCoreReflectEncodingError(t *testing.T) {
	logger, logs, _ := observed(t)
	logger.Info("event", zap.Reflect("channel", make(chan int)))

	fields := onlyEntry(t, logs).ContextMap()
	if _, ok := fields["channelError"]; !ok {
		t.Errorf("fields = %v, want a channelError field as zap writes for values it cannot encode", fields)
	}
}

func TestCoreWriteDirect(t *testing.T) {
	inner, logs := observer.New(zapcore.InfoLevel)
	counts := &scrubCounts{}
	c := WrapCore(inner, counts)

	if err := c.Write(zapcore.Entry{Level: zapcore.InfoLevel, Message: visaPAN}, []zap.Field{zap.String("cvv", "1")}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	entry := onlyEntry(t, logs)
	if entry.Message != visaMasked {
		t.Errorf("message = %q, want %q", entry.Message, visaMasked)
	}
	counts.wantCounts(t, map[string]int{KindPANInMessage: 1, KindSensitiveField: 1})
}

func TestCoreCheckRespectsLevels(t *testing.T) {
	debugCore, debugLogs := observer.New(zapcore.DebugLevel)
	warnCore, warnLogs := observer.New(zapcore.WarnLevel)
	c := WrapCore(zapcore.NewTee(debugCore, warnCore), nil)

	if ce := c.Check(zapcore.Entry{Level: zapcore.InfoLevel, Message: visaPAN}, nil); ce != nil {
		ce.Write()
	} else {
		t.Fatal("Check returned nil for an info entry that the debug core logs")
	}
	if debugLogs.Len() != 1 {
		t.Errorf("debug core got %d entries, want 1", debugLogs.Len())
	}
	if warnLogs.Len() != 0 {
		t.Errorf("warn core got %d entries for an info entry, want 0", warnLogs.Len())
	}
	if got := debugLogs.All()[0].Message; got != visaMasked {
		t.Errorf("message = %q, want %q", got, visaMasked)
	}

	if ce := WrapCore(warnCore, nil).Check(zapcore.Entry{Level: zapcore.InfoLevel}, nil); ce != nil {
		t.Error("Check returned an entry for a level the inner core disables")
	}
	if got := zapcore.LevelOf(WrapCore(warnCore, nil)); got != zapcore.WarnLevel {
		t.Errorf("LevelOf = %v, want warn", got)
	}
}

func TestCoreScrubsStackTrace(t *testing.T) {
	inner, logs := observer.New(zapcore.DebugLevel)
	counts := &scrubCounts{}
	c := WrapCore(inner, counts)
	entry := zapcore.Entry{Level: zapcore.ErrorLevel, Message: "failed", Stack: "main.charge(" + visaPAN + ")"}
	if err := c.Write(entry, nil); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if got := onlyEntry(t, logs).Stack; strings.Contains(got, visaPAN) {
		t.Errorf("stack = %q, want the PAN masked", got)
	}
	counts.wantCounts(t, map[string]int{KindPANInMessage: 1})
}

// BenchmarkCoreWriteAccessLine measures the redaction cost of one line shaped
// like the access log, into a JSON encoder that discards its output.
func BenchmarkCoreWriteAccessLine(b *testing.B) {
	inner := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zapcore.InfoLevel)
	logger := zap.New(WrapCore(inner, nil))
	fields := []zap.Field{
		zap.String("route", "/v1/authorizations/{idempotencyKey}"),
		zap.String("method", "POST"),
		zap.Int("status", 201),
		zap.Int("bytes", 312),
		zap.Float64("duration_ms", 412.5),
		zap.String("request_id", "0f8e2c1d9b7a45e6a1c3d5f7b9e1a3c5"),
		zap.String("contact_id", "8f0c5f6e-2b1a-4c3d-9e8f-0123456789ab"),
		zap.String("client", "spiffe://connect/forwarder"),
		zap.String("user_agent", "forwarder/1.0"),
	}
	b.ReportAllocs()
	for b.Loop() {
		logger.Info("request", fields...)
	}
}
