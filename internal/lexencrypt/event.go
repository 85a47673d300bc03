package lexencrypt

import (
	"encoding/json"

	"github.com/connect-secure-input/processor/internal/secret"
)

// The Lex V2 code hook event and response, as documented in the Amazon Lex V2
// developer guide ("AWS Lambda input event format for Lex V2" and "response
// format"). aws-lambda-go v1.55.1 has types for Lex V1 only, so the subset this
// function needs is declared here.
//
// The event types omit inputTranscript, interpretations, transcriptions and the
// originalValue and resolvedValues of slots on purpose, because each of them
// can contain the spoken card number. encoding/json skips a field that is not
// declared without copying it into a Go string.

// Invocation sources of a Lex V2 code hook.
const (
	SourceFulfillment = "FulfillmentCodeHook"
	SourceDialog      = "DialogCodeHook"
)

// Dialog action types and intent states this function returns.
const (
	DialogClose       = "Close"
	DialogElicitSlot  = "ElicitSlot"
	IntentFulfilled   = "Fulfilled"
	IntentFailed      = "Failed"
	IntentInProgress  = "InProgress"
	ContentPlainText  = "PlainText"
	slotShapeScalar   = "Scalar"
	maxSlotValueBytes = 64
)

// Event is the part of a Lex V2 code hook event that the fulfillment hook
// reads. Call Wipe when done: the slot values are card data.
type Event struct {
	MessageVersion   string       `json:"messageVersion"`
	InvocationSource string       `json:"invocationSource"`
	InputMode        string       `json:"inputMode"`
	SessionID        string       `json:"sessionId"`
	Bot              Bot          `json:"bot"`
	SessionState     SessionState `json:"sessionState"`
}

// Bot identifies the bot, alias and locale that sent the event.
type Bot struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	LocaleID  string `json:"localeId"`
	Version   string `json:"version"`
	AliasID   string `json:"aliasId"`
	AliasName string `json:"aliasName"`
}

// SessionState is the session's attributes and the active intent.
type SessionState struct {
	SessionAttributes map[string]string `json:"sessionAttributes"`
	Intent            Intent            `json:"intent"`
}

// Intent is the active intent and its slots. A slot that Lex has not filled
// is present with a null value, so a missing key and a nil *Slot mean the same.
type Intent struct {
	Name              string           `json:"name"`
	State             string           `json:"state"`
	ConfirmationState string           `json:"confirmationState"`
	Slots             map[string]*Slot `json:"slots"`
}

// Slot is one filled slot.
type Slot struct {
	Shape string     `json:"shape"`
	Value *SlotValue `json:"value"`
}

// SlotValue keeps the interpreted value as the raw JSON token (for example
// `"4111111111111111"`), so that the digits reach this package as bytes that
// can be wiped rather than as an immutable Go string.
type SlotValue struct {
	InterpretedValue json.RawMessage `json:"interpretedValue"`
}

// Wipe zeroes every slot value held by the event.
func (e *Event) Wipe() {
	for _, slot := range e.SessionState.Intent.Slots {
		if slot != nil && slot.Value != nil {
			secret.Zero(slot.Value.InterpretedValue)
			slot.Value.InterpretedValue = nil
		}
	}
}

// slotValue returns the raw interpreted value of the named slot, or nil when
// the slot is absent or unfilled. ok is false for a slot of another shape
// than Scalar (a list), which no card slot may be.
func (e *Event) slotValue(name string) (raw []byte, ok bool) {
	slot := e.SessionState.Intent.Slots[name]
	if slot == nil || slot.Value == nil {
		return nil, true
	}
	if slot.Shape != "" && slot.Shape != slotShapeScalar {
		return nil, false
	}
	return slot.Value.InterpretedValue, true
}

// Response is the Lex V2 code hook response.
type Response struct {
	SessionState ResponseState `json:"sessionState"`
	Messages     []Message     `json:"messages,omitempty"`
}

// ResponseState is the session state that Lex takes over from the response.
type ResponseState struct {
	SessionAttributes map[string]string `json:"sessionAttributes"`
	DialogAction      DialogAction      `json:"dialogAction"`
	Intent            ResponseIntent    `json:"intent"`
}

// DialogAction is the next step Lex takes.
type DialogAction struct {
	Type         string `json:"type"`
	SlotToElicit string `json:"slotToElicit,omitempty"`
}

// ResponseIntent is the intent as returned to Lex. Its slot map can only hold
// nulls (ClearedSlot has no fields), so a response cannot carry a slot value.
type ResponseIntent struct {
	Name              string                  `json:"name"`
	State             string                  `json:"state"`
	ConfirmationState string                  `json:"confirmationState,omitempty"`
	Slots             map[string]*ClearedSlot `json:"slots"`
}

// ClearedSlot is the type of every slot in a response. Only its nil value is
// used, which encodes as JSON null and marks the slot as empty for Lex.
type ClearedSlot struct{}

// Message is a message that Lex plays or shows before acting on the response.
type Message struct {
	ContentType string `json:"contentType"`
	Content     string `json:"content"`
}
