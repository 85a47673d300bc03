package lexencrypt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/connect-secure-input/processor/internal/decrypt"
	"github.com/connect-secure-input/processor/internal/kmsesdk"
	"github.com/connect-secure-input/processor/internal/testkit/localkms"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, localkms.GoleakOptions()...)
}

// canaries are every card value in the event samples. None may appear in a
// response outside a ciphertext, nor in any log entry.
var canaries = []string{
	"4111111111111111", "378282246310005", "5555555555554444", "411111111111", "41111111",
	"0830", "1330", "1129", "7419", "741",
}

// panCanaries are the canaries long enough that base64 ciphertext text cannot
// contain them by chance.
var panCanaries = []string{"4111111111111111", "378282246310005", "5555555555554444", "411111111111", "41111111"}

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	payload, err := os.ReadFile(filepath.Join("..", "..", "testdata", "lex-events", name+".json"))
	if err != nil {
		t.Fatalf("read Lex event sample: %v", err)
	}
	return payload
}

func loadEvent(t *testing.T, name string) *Event {
	t.Helper()
	var event Event
	if err := json.Unmarshal(readSample(t, name), &event); err != nil {
		t.Fatalf("decode Lex event sample %s: %v", name, err)
	}
	return &event
}

// harness is a handler that encrypts under the local-kms payment key, the
// processor's decrypt path configured like the service, and the handler's logs.
type harness struct {
	handler   *Handler
	decrypter *decrypt.Decrypter
	logs      *observer.ObservedLogs
}

func newHarness(t *testing.T, cfg Config) harness {
	t.Helper()
	server := localkms.Start(t)
	server.SetEnv(t)
	ctx := context.Background()
	if cfg.KeyARN == "" {
		cfg.KeyARN = localkms.DefaultKeys().Payment
	}

	enc, err := NewEncryptor(ctx, cfg)
	if err != nil {
		t.Fatalf("NewEncryptor: %v", err)
	}
	core, logs := observer.New(zapcore.DebugLevel)

	keyring, err := kmsesdk.New(ctx, kmsesdk.Config{KeyARNs: []string{localkms.DefaultKeys().Payment}})
	if err != nil {
		t.Fatalf("kmsesdk.New: %v", err)
	}
	decrypter, err := decrypt.New(decrypt.Config{}, nil, keyring)
	if err != nil {
		t.Fatalf("decrypt.New: %v", err)
	}
	return harness{handler: NewHandler(enc, zap.New(core)), decrypter: decrypter, logs: logs}
}

// invoke runs the handler on a copy of the sample as the Lambda runtime
// would, checks that the payload was zeroed, and decodes the response.
func (h harness) invoke(t *testing.T, sample string) (*Response, []byte) {
	t.Helper()
	payload := readSample(t, sample)
	out, err := h.handler.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if !bytes.Equal(payload, make([]byte, len(payload))) {
		t.Error("the invocation payload is not zeroed after Invoke")
	}
	var resp Response
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("decode response: %v", err)
	}
	return &resp, out
}

func TestInvokeEventSamples(t *testing.T) {
	h := newHarness(t, Config{})

	tests := []struct {
		sample       string
		wantDialog   string
		wantElicit   string
		wantState    string
		wantStatus   string
		wantAttempts string
		// wantTokens maps each session attribute that must carry a
		// ciphertext to the digits it must decrypt to.
		wantTokens map[string]string
		wantSlots  []string
	}{
		{
			sample: "card-number-only", wantDialog: DialogClose, wantState: IntentFulfilled, wantStatus: StatusEncrypted,
			wantTokens: map[string]string{AttributeCardToken: "4111111111111111"},
			wantSlots:  []string{SlotCardNumber},
		},
		{
			sample: "all-fields", wantDialog: DialogClose, wantState: IntentFulfilled, wantStatus: StatusEncrypted,
			wantTokens: map[string]string{AttributeCardToken: "378282246310005", AttributeExpiryToken: "0830", AttributeCVVToken: "7419"},
			wantSlots:  []string{SlotCardNumber, SlotCardExpiry, SlotCardCVV},
		},
		{
			sample: "dtmf-grouped-digits", wantDialog: DialogClose, wantState: IntentFulfilled, wantStatus: StatusEncrypted,
			wantTokens: map[string]string{AttributeCardToken: "5555555555554444", AttributeExpiryToken: "1129"},
			wantSlots:  []string{SlotCardNumber, SlotCardExpiry, SlotCardCVV},
		},
		{
			sample: "pan-too-short", wantDialog: DialogElicitSlot, wantElicit: SlotCardNumber, wantState: IntentInProgress, wantAttempts: "1",
			wantSlots: []string{SlotCardNumber, SlotCardExpiry, SlotCardCVV},
		},
		{
			sample: "pan-with-words", wantDialog: DialogElicitSlot, wantElicit: SlotCardNumber, wantState: IntentInProgress, wantAttempts: "1",
			wantSlots: []string{SlotCardNumber, SlotCardExpiry, SlotCardCVV},
		},
		{
			sample: "pan-missing", wantDialog: DialogElicitSlot, wantElicit: SlotCardNumber, wantState: IntentInProgress, wantAttempts: "1",
			wantSlots: []string{SlotCardNumber, SlotCardExpiry, SlotCardCVV},
		},
		{
			sample: "expiry-month-13", wantDialog: DialogElicitSlot, wantElicit: SlotCardExpiry, wantState: IntentInProgress, wantAttempts: "1",
			wantSlots: []string{SlotCardNumber, SlotCardExpiry, SlotCardCVV},
		},
		{
			sample: "cvv-too-short", wantDialog: DialogElicitSlot, wantElicit: SlotCardCVV, wantState: IntentInProgress, wantAttempts: "1",
			wantSlots: []string{SlotCardNumber, SlotCardExpiry, SlotCardCVV},
		},
		{
			sample: "stale-token-reprompt", wantDialog: DialogElicitSlot, wantElicit: SlotCardNumber, wantState: IntentInProgress, wantAttempts: "2",
			wantSlots: []string{SlotCardNumber, SlotCardExpiry, SlotCardCVV},
		},
		{
			sample: "reprompts-spent", wantDialog: DialogClose, wantState: IntentFailed, wantStatus: StatusInvalid,
			wantSlots: []string{SlotCardNumber, SlotCardExpiry, SlotCardCVV},
		},
		{
			sample: "dialog-code-hook", wantDialog: DialogClose, wantState: IntentFailed, wantStatus: StatusFailed,
			wantSlots: []string{SlotCardNumber, SlotCardExpiry, SlotCardCVV},
		},
	}
	for _, tt := range tests {
		t.Run(tt.sample, func(t *testing.T) {
			resp, raw := h.invoke(t, tt.sample)
			state := resp.SessionState

			if state.DialogAction.Type != tt.wantDialog || state.DialogAction.SlotToElicit != tt.wantElicit {
				t.Errorf("dialog action = %+v, want type %q slot %q", state.DialogAction, tt.wantDialog, tt.wantElicit)
			}
			if state.Intent.State != tt.wantState {
				t.Errorf("intent state = %q, want %q", state.Intent.State, tt.wantState)
			}
			if state.Intent.Name == "" {
				t.Error("intent name is empty")
			}
			if got := state.SessionAttributes[AttributeStatus]; got != tt.wantStatus {
				t.Errorf("%s = %q, want %q", AttributeStatus, got, tt.wantStatus)
			}
			if got := state.SessionAttributes[AttributeAttempts]; got != tt.wantAttempts {
				t.Errorf("%s = %q, want %q", AttributeAttempts, got, tt.wantAttempts)
			}
			if got := state.SessionAttributes["paymentReference"]; got != "order-10442" {
				t.Errorf("the flow's session attribute paymentReference = %q, want it kept", got)
			}
			checkSlotsCleared(t, raw, tt.wantSlots)
			checkTokens(t, h.decrypter, state.SessionAttributes, tt.wantTokens)
			for _, canary := range panCanaries {
				if bytes.Contains(raw, []byte(canary)) {
					t.Errorf("the response contains card digits %s", canary)
				}
			}
		})
	}
}

// checkSlotsCleared reads the raw response so that a slot value in any form
// (not only what Response can decode) is caught.
func checkSlotsCleared(t *testing.T, raw []byte, want []string) {
	t.Helper()
	var generic struct {
		SessionState struct {
			Intent struct {
				Slots map[string]json.RawMessage `json:"slots"`
			} `json:"intent"`
		} `json:"sessionState"`
	}
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatalf("decode response: %v", err)
	}
	slots := generic.SessionState.Intent.Slots
	if len(slots) != len(want) {
		t.Errorf("response has %d slots, want %d (%v)", len(slots), len(want), want)
	}
	for _, name := range want {
		value, ok := slots[name]
		if !ok {
			t.Errorf("slot %s is missing from the response", name)
			continue
		}
		if string(value) != "null" {
			t.Errorf("slot %s is not null in the response", name)
		}
	}
}

func checkTokens(t *testing.T, d *decrypt.Decrypter, attributes map[string]string, want map[string]string) {
	t.Helper()
	for _, f := range Fields {
		token, present := attributes[f.Attribute]
		digits, wantToken := want[f.Attribute]
		if present != wantToken {
			t.Errorf("%s present = %v, want %v", f.Attribute, present, wantToken)
			continue
		}
		if !present {
			continue
		}
		res, err := d.Decrypt(context.Background(), token)
		if err != nil {
			t.Errorf("processor decrypt of %s: %v", f.Attribute, err)
			continue
		}
		if !bytes.Equal(res.Plaintext.Bytes(), []byte(digits)) {
			t.Errorf("%s decrypts to other digits than the slot held", f.Attribute)
		}
		res.Plaintext.Wipe()
		if res.Metadata.Scheme != decrypt.SchemeKMS || res.Metadata.Suite != 0x0578 || res.Metadata.FormatVersion != 2 {
			t.Errorf("%s metadata = %+v, want the KMS scheme, suite 0x0578, format 2", f.Attribute, res.Metadata)
		}
		if !strings.HasPrefix(token, "AgV4") {
			t.Errorf("%s starts %q, want AgV4 (format 2, suite 0x0578)", f.Attribute, token[:min(4, len(token))])
		}
	}
}

func TestInvokeLogsNoCardData(t *testing.T) {
	h := newHarness(t, Config{})
	samples := []string{
		"card-number-only", "all-fields", "dtmf-grouped-digits", "pan-too-short", "pan-with-words",
		"expiry-month-13", "cvv-too-short", "reprompts-spent", "dialog-code-hook",
	}
	for _, sample := range samples {
		h.invoke(t, sample)
	}

	entries := h.logs.All()
	if len(entries) != len(samples) {
		t.Errorf("logged %d entries for %d invocations, want one each", len(entries), len(samples))
	}
	for _, entry := range entries {
		text := entry.Message + " " + fmt.Sprint(entry.ContextMap())
		for _, canary := range canaries {
			if strings.Contains(text, canary) {
				t.Errorf("log entry %q contains card data %s", entry.Message, canary)
			}
		}
		if entry.ContextMap()["session_id"] != "b1f3c7de-2a4e-4c4a-8d8e-6a7f3c1b0e61" {
			t.Errorf("log entry %q lacks the session id", entry.Message)
		}
	}
}

func TestProcessorRejectsOtherContext(t *testing.T) {
	tests := []struct {
		name    string
		purpose string
		sample  string
	}{
		{name: "other purpose", purpose: "another-purpose", sample: "card-number-only"},
		{name: "intent not allowed", sample: "other-intent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{Purpose: tt.purpose})
			resp, _ := h.invoke(t, tt.sample)
			token := resp.SessionState.SessionAttributes[AttributeCardToken]
			if token == "" {
				t.Fatalf("no %s in the response; status %q", AttributeCardToken, resp.SessionState.SessionAttributes[AttributeStatus])
			}

			res, err := h.decrypter.Decrypt(context.Background(), token)
			res.Plaintext.Wipe()
			if code := decrypt.CodeOf(err); code != decrypt.CodeContextMismatch {
				t.Errorf("decrypt code = %q (%v), want %q", code, err, decrypt.CodeContextMismatch)
			}
		})
	}
}

func TestKMSFailureClosesAsFailed(t *testing.T) {
	// A loopback port that was just released refuses connections, which is
	// how an unreachable KMS endpoint looks to the SDK.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	enc, err := NewEncryptor(context.Background(), Config{
		KeyARN:      localkms.DefaultKeys().Payment,
		CallTimeout: time.Second,
		MaxAttempts: 1,
		AWSConfig: &aws.Config{
			Region:       localkms.Region,
			BaseEndpoint: aws.String(endpoint),
			Credentials:  credentials.NewStaticCredentialsProvider(localkms.AccessKeyID, localkms.SecretAccessKey, ""),
		},
	})
	if err != nil {
		t.Fatalf("NewEncryptor: %v", err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	h := harness{handler: NewHandler(enc, zap.New(core))}

	resp, raw := h.invoke(t, "all-fields")
	state := resp.SessionState
	if state.DialogAction.Type != DialogClose || state.Intent.State != IntentFailed {
		t.Errorf("dialog action %q, intent state %q; want Close and Failed", state.DialogAction.Type, state.Intent.State)
	}
	if got := state.SessionAttributes[AttributeStatus]; got != StatusFailed {
		t.Errorf("%s = %q, want %q", AttributeStatus, got, StatusFailed)
	}
	for _, f := range Fields {
		if _, ok := state.SessionAttributes[f.Attribute]; ok {
			t.Errorf("%s is set after a failed encryption", f.Attribute)
		}
	}
	checkSlotsCleared(t, raw, []string{SlotCardNumber, SlotCardExpiry, SlotCardCVV})

	errorsLogged := logs.FilterLevelExact(zapcore.ErrorLevel).All()
	if len(errorsLogged) != 1 {
		t.Fatalf("logged %d errors, want 1", len(errorsLogged))
	}
	text := fmt.Sprint(errorsLogged[0].ContextMap())
	if !strings.Contains(text, "field pan") {
		t.Errorf("error log %s does not name the field", text)
	}
	for _, canary := range panCanaries {
		if strings.Contains(text, canary) {
			t.Errorf("error log contains card data %s", canary)
		}
	}
}

func TestInvokeRejectsMalformedEvent(t *testing.T) {
	h := newHarness(t, Config{})
	tests := []struct {
		name    string
		payload string
		want    string
	}{
		{name: "truncated JSON", payload: `{"sessionState": {"intent": {"slots": {"CardNumber": {"value": {"interpretedValue": "4111111111111111"`, want: "malformed JSON"},
		{name: "syntax error", payload: `{"sessionState": 4111111111111111x}`, want: "malformed JSON at byte"},
		{name: "number for a string", payload: `{"sessionId": 4111111111111111}`, want: `field "sessionId" has the wrong JSON type`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := []byte(tt.payload)
			out, err := h.handler.Invoke(context.Background(), payload)
			if err == nil {
				t.Fatalf("Invoke returned %s, want an error", out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "4111") {
				t.Errorf("error %q quotes the input", err)
			}
			if !bytes.Equal(payload, make([]byte, len(payload))) {
				t.Error("the payload is not zeroed after a rejected event")
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	payment := localkms.DefaultKeys().Payment
	tests := []struct {
		name        string
		env         map[string]string
		wantPurpose string
		wantErr     string
	}{
		{name: "key and purpose", env: map[string]string{EnvKeyARN: payment, EnvPurpose: "payments-ivr"}, wantPurpose: "payments-ivr"},
		{name: "default purpose", env: map[string]string{EnvKeyARN: " " + payment + " "}, wantPurpose: DefaultPurpose},
		{name: "missing key", env: map[string]string{}, wantErr: "missing LEXENCRYPT_KMS_KEY_ARN"},
		{name: "alias ARN", env: map[string]string{EnvKeyARN: localkms.DefaultKeys().PaymentAlias}, wantErr: "want a full key ARN"},
		{name: "bare key id", env: map[string]string{EnvKeyARN: localkms.PaymentKeyID}, wantErr: "want a full key ARN"},
		{name: "purpose with a space", env: map[string]string{EnvKeyARN: payment, EnvPurpose: "connect secure"}, wantErr: "invalid LEXENCRYPT_PURPOSE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ConfigFromEnv(func(name string) string { return tt.env[name] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ConfigFromEnv: %v", err)
			}
			if cfg.KeyARN != payment {
				t.Errorf("KeyARN = %q, want %q", cfg.KeyARN, payment)
			}
			if got := cfg.withDefaults().Purpose; got != tt.wantPurpose {
				t.Errorf("purpose = %q, want %q", got, tt.wantPurpose)
			}
		})
	}
}
