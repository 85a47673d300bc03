package lexencrypt

import (
	"bytes"
	"testing"
)

func fieldBySlot(t *testing.T, slot string) Field {
	t.Helper()
	for _, f := range Fields {
		if f.Slot == slot {
			return f
		}
	}
	t.Fatalf("no field for slot %s", slot)
	return Field{}
}

func TestParseDigits(t *testing.T) {
	tests := []struct {
		name   string
		slot   string
		raw    string
		want   string
		wantOK bool
	}{
		{name: "pan 16 digits", slot: SlotCardNumber, raw: `"4111111111111111"`, want: "4111111111111111", wantOK: true},
		{name: "pan 13 digits", slot: SlotCardNumber, raw: `"4222222222222"`, want: "4222222222222", wantOK: true},
		{name: "pan 19 digits", slot: SlotCardNumber, raw: `"6011000990139424123"`, want: "6011000990139424123", wantOK: true},
		{name: "pan grouped by spaces", slot: SlotCardNumber, raw: `"4111 1111 1111 1111"`, want: "4111111111111111", wantOK: true},
		{name: "pan grouped by hyphens", slot: SlotCardNumber, raw: `"4111-1111-1111-1111"`, want: "4111111111111111", wantOK: true},
		{name: "pan 12 digits", slot: SlotCardNumber, raw: `"411111111111"`},
		{name: "pan 20 digits", slot: SlotCardNumber, raw: `"41111111111111111111"`},
		{name: "pan with a word", slot: SlotCardNumber, raw: `"4111 one 1111 1111 1111"`},
		{name: "pan with a JSON escape", slot: SlotCardNumber, raw: `"\u0034111111111111111"`},
		{name: "pan as a JSON number", slot: SlotCardNumber, raw: `4111111111111111`},
		{name: "pan as JSON null", slot: SlotCardNumber, raw: `null`},
		{name: "empty string", slot: SlotCardNumber, raw: `""`},
		{name: "overlong value", slot: SlotCardNumber, raw: `"` + string(bytes.Repeat([]byte(" "), 70)) + `4111111111111111"`},
		{name: "expiry MMYY", slot: SlotCardExpiry, raw: `"0830"`, want: "0830", wantOK: true},
		{name: "expiry December", slot: SlotCardExpiry, raw: `"1229"`, want: "1229", wantOK: true},
		{name: "expiry with a hyphen", slot: SlotCardExpiry, raw: `"08-30"`, want: "0830", wantOK: true},
		{name: "expiry month 00", slot: SlotCardExpiry, raw: `"0030"`},
		{name: "expiry month 13", slot: SlotCardExpiry, raw: `"1330"`},
		{name: "expiry with four-digit year", slot: SlotCardExpiry, raw: `"082030"`},
		{name: "expiry with a slash", slot: SlotCardExpiry, raw: `"08/30"`},
		{name: "cvv 3 digits", slot: SlotCardCVV, raw: `"741"`, want: "741", wantOK: true},
		{name: "cvv 4 digits", slot: SlotCardCVV, raw: `"7419"`, want: "7419", wantOK: true},
		{name: "cvv 2 digits", slot: SlotCardCVV, raw: `"74"`},
		{name: "cvv 5 digits", slot: SlotCardCVV, raw: `"74191"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.raw)
			before := bytes.Clone(raw)
			got, ok := parseDigits(raw, fieldBySlot(t, tt.slot))
			defer got.Wipe()
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if ok && !bytes.Equal(got.Bytes(), []byte(tt.want)) {
				t.Errorf("digits differ from %q (got %d digits)", tt.want, got.Len())
			}
			if !ok && got.Len() != 0 {
				t.Errorf("a rejected value returned %d digits", got.Len())
			}
			if !bytes.Equal(raw, before) {
				t.Error("parseDigits modified its input")
			}
		})
	}
}

func TestEventWipeZeroesSlotValues(t *testing.T) {
	event := loadEvent(t, "all-fields")
	var slotValues [][]byte
	for _, slot := range event.SessionState.Intent.Slots {
		slotValues = append(slotValues, slot.Value.InterpretedValue)
	}
	if len(slotValues) != 3 {
		t.Fatalf("decoded %d slot values, want 3", len(slotValues))
	}

	event.Wipe()
	for i, b := range slotValues {
		if len(b) == 0 {
			t.Errorf("slot value %d was empty before the wipe", i)
		}
		if !bytes.Equal(b, make([]byte, len(b))) {
			t.Errorf("slot value %d is not zeroed", i)
		}
	}
}
