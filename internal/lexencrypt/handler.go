// Package lexencrypt is the Lex V2 fulfillment code hook of pattern B (spoken
// card input). It reads the card slots of the intent, checks their shape,
// re-prompts (ElicitSlot) for a value of the wrong shape, and otherwise
// encrypts each value with the AWS Encryption SDK and a KMS keyring under the
// encryption context {"purpose": ..., "intent": <intent name>}. The base64
// ciphertexts go back to Lex as session attributes, which the contact flow
// hands to the forwarder. The intent is closed as fulfilled with every slot
// cleared, so no slot value leaves the function.
//
// NOTE: Lex delivers the event as JSON text, so the card digits arrive inside
// the invocation payload and nothing can stop them from being there. Handler
// keeps them as bytes from the payload onwards: it decodes only the fields it
// needs (never the transcript), parses the digits into wipeable buffers, and
// zeroes the payload, the decoded slot values and the digits before it
// returns.
package lexencrypt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"go.uber.org/zap"

	"github.com/connect-secure-input/processor/internal/secret"
)

// MaxReprompts is how many times one conversation re-prompts for a value of
// the wrong shape before the hook gives up and closes the intent as failed,
// so that a caller who cannot be understood reaches the flow's error path.
const MaxReprompts = 3

// Handler is the Lambda handler. It is safe for concurrent use.
type Handler struct {
	enc *Encryptor
	log *zap.Logger
}

var _ lambda.Handler = (*Handler)(nil)

// NewHandler returns a handler that encrypts with enc and logs to log (no
// logging when log is nil).
func NewHandler(enc *Encryptor, log *zap.Logger) *Handler {
	if log == nil {
		log = zap.NewNop()
	}
	return &Handler{enc: enc, log: log}
}

// Invoke implements lambda.Handler. It decodes the event from payload, then
// zeroes payload, which the Lambda runtime does not read after the handler
// returns (aws-lambda-go v1.55.1 resets and pools the buffer).
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	defer secret.Zero(payload)

	var event Event
	err := json.Unmarshal(payload, &event)
	defer event.Wipe()
	if err != nil {
		// The runtime logs a returned error, so it names only the kind of
		// problem and its offset, never the input around it.
		h.logger(ctx, &event).Error("invalid Lex event rejected", zap.String("reason", describeJSONError(err)))
		return nil, fmt.Errorf("invalid Lex V2 event: %s", describeJSONError(err))
	}
	return json.Marshal(h.Handle(ctx, &event))
}

// Handle builds the response to one code hook event. It never returns a slot value: the
// response carries only session attributes (ciphertexts, status, attempt
// count), a dialog action, the intent with its slots cleared, and a fixed
// message. The caller wipes the event.
func (h *Handler) Handle(ctx context.Context, event *Event) *Response {
	log := h.logger(ctx, event)
	intent := event.SessionState.Intent

	if event.InvocationSource != SourceFulfillment {
		log.Error("code hook invocation rejected: enable only the fulfillment code hook for this function",
			zap.String("invocation_source", event.InvocationSource))
		return closeIntent(event, IntentFailed, StatusFailed, nil, messageFailed)
	}
	if intent.Name == "" {
		log.Error("Lex event without an intent name rejected")
		return closeIntent(event, IntentFailed, StatusFailed, nil, messageFailed)
	}

	values, bad := readFields(event)
	defer wipeAll(values)
	if bad != nil {
		return h.reprompt(log, event, *bad)
	}

	tokens, err := h.encryptAll(ctx, intent.Name, values)
	if err != nil {
		log.Error("failed to encrypt card fields", zap.Error(err))
		return closeIntent(event, IntentFailed, StatusFailed, nil, messageFailed)
	}
	names := make([]string, 0, len(values))
	for _, v := range values {
		names = append(names, v.field.Name)
	}
	log.Info("encrypted card fields", zap.Strings("fields", names))
	return closeIntent(event, IntentFulfilled, StatusEncrypted, tokens, "")
}

// fieldValue is one parsed card field.
type fieldValue struct {
	field  Field
	digits secret.Value
}

// readFields parses every card slot in Fields order. It stops at the first
// field whose slot is required but empty, or whose value has the wrong shape,
// and returns that field as bad. The caller wipes values in either case.
func readFields(event *Event) (values []fieldValue, bad *Field) {
	for i := range Fields {
		f := Fields[i]
		raw, ok := event.slotValue(f.Slot)
		if ok && raw == nil {
			if f.Required {
				return values, &f
			}
			continue
		}
		digits, ok := parseDigits(raw, f)
		if !ok {
			return values, &f
		}
		values = append(values, fieldValue{field: f, digits: digits})
	}
	return values, nil
}

func wipeAll(values []fieldValue) {
	for _, v := range values {
		v.digits.Wipe()
	}
}

// encryptAll encrypts every parsed field and returns the session attributes
// that carry the ciphertexts.
func (h *Handler) encryptAll(ctx context.Context, intent string, values []fieldValue) (map[string]string, error) {
	tokens := make(map[string]string, len(values))
	for _, v := range values {
		token, err := h.enc.Encrypt(ctx, intent, v.digits)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", v.field.Name, err)
		}
		tokens[v.field.Attribute] = token
	}
	return tokens, nil
}

// reprompt elicits the slot of f again with its value cleared, or closes the
// intent as failed once MaxReprompts re-prompts were spent.
func (h *Handler) reprompt(log *zap.Logger, event *Event, f Field) *Response {
	attempts := repromptCount(event.SessionState.SessionAttributes)
	if attempts >= MaxReprompts {
		log.Warn("card capture failed after the maximum re-prompts", zap.String("field", f.Name), zap.Int("reprompts", attempts))
		return closeIntent(event, IntentFailed, StatusInvalid, nil, messageInvalid)
	}
	log.Info("re-prompt for card field", zap.String("field", f.Name), zap.Int("reprompts", attempts+1))

	attributes := baseAttributes(event)
	attributes[AttributeAttempts] = strconv.Itoa(attempts + 1)
	return &Response{
		SessionState: ResponseState{
			SessionAttributes: attributes,
			DialogAction:      DialogAction{Type: DialogElicitSlot, SlotToElicit: f.Slot},
			Intent:            clearedIntent(event, IntentInProgress),
		},
		Messages: []Message{{ContentType: ContentPlainText, Content: repromptMessages[f.Slot]}},
	}
}

// repromptCount reads the re-prompt counter this function wrote earlier in
// the conversation. A missing or unreadable value counts as zero.
func repromptCount(attributes map[string]string) int {
	n, err := strconv.Atoi(attributes[AttributeAttempts])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// closeIntent ends the conversation with the intent in state and the capture
// status for the contact flow. message, when not empty, is played first.
func closeIntent(event *Event, state, status string, tokens map[string]string, message string) *Response {
	attributes := baseAttributes(event)
	maps.Copy(attributes, tokens)
	attributes[AttributeStatus] = status
	resp := &Response{
		SessionState: ResponseState{
			SessionAttributes: attributes,
			DialogAction:      DialogAction{Type: DialogClose},
			Intent:            clearedIntent(event, state),
		},
	}
	if message != "" {
		resp.Messages = []Message{{ContentType: ContentPlainText, Content: message}}
	}
	return resp
}

// baseAttributes copies the event's session attributes without the ones this
// function owns, so a token from an earlier attempt never outlives a
// re-prompt or a failure.
func baseAttributes(event *Event) map[string]string {
	attributes := make(map[string]string, len(event.SessionState.SessionAttributes)+len(Fields)+2)
	maps.Copy(attributes, event.SessionState.SessionAttributes)
	for _, f := range Fields {
		delete(attributes, f.Attribute)
	}
	delete(attributes, AttributeStatus)
	delete(attributes, AttributeAttempts)
	return attributes
}

// clearedIntent returns the event's intent in state with every slot it had
// set to null.
func clearedIntent(event *Event, state string) ResponseIntent {
	intent := event.SessionState.Intent
	slots := make(map[string]*ClearedSlot, len(intent.Slots))
	for name := range intent.Slots {
		slots[name] = nil
	}
	return ResponseIntent{Name: intent.Name, State: state, ConfirmationState: intent.ConfirmationState, Slots: slots}
}

// Messages played to the caller. They are fixed text and never quote input.
const (
	messageInvalid = "Sorry, I could not take your card details."
	messageFailed  = "Sorry, something went wrong while taking your card details."
)

var repromptMessages = map[string]string{
	SlotCardNumber: "Sorry, I did not get the whole card number. Please say or key in the 13 to 19 digits on the front of your card.",
	SlotCardExpiry: "Sorry, I did not get the expiry date. Please say or key in the month and the year as four digits.",
	SlotCardCVV:    "Sorry, I did not get the security code. Please say or key in the 3 or 4 digit code on your card.",
}

// logger returns h.log with the ids of this invocation: the Lambda request
// id, the Lex session id (the Amazon Connect contact id when Connect calls the
// bot), the intent and the bot alias.
func (h *Handler) logger(ctx context.Context, event *Event) *zap.Logger {
	fields := []zap.Field{
		zap.String("session_id", event.SessionID),
		zap.String("intent", event.SessionState.Intent.Name),
		zap.String("bot_alias_id", event.Bot.AliasID),
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		fields = append(fields, zap.String("request_id", lc.AwsRequestID))
	}
	return h.log.With(fields...)
}

// describeJSONError names a decoding failure by kind and offset only:
// encoding/json's own messages quote a character of the input.
func describeJSONError(err error) string {
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset)
	}
	// UnmarshalTypeError.Value is left out: for a number it holds the
	// number itself, which could be a card number sent as a JSON number.
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("field %q has the wrong JSON type, want %s", typeErr.Field, typeErr.Type)
	}
	return "malformed JSON"
}
