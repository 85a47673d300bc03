package simulator

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/secret"
)

func TestRecordHoldsNoCardData(t *testing.T) {
	recordType := reflect.TypeFor[record]()
	for i := range recordType.NumField() {
		field := recordType.Field(i)
		if field.Type == reflect.TypeFor[secret.Value]() || field.Type == reflect.TypeFor[[]byte]() || field.Type == reflect.TypeFor[gateway.Card]() {
			t.Errorf("record field %s has type %s, which can hold card bytes", field.Name, field.Type)
		}
	}

	sim, err := New(Config{Now: func() time.Time { return time.Date(2026, time.June, 15, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	const pan = "4000000000009995"
	req := gateway.Request{
		Amount:         1050,
		Currency:       "USD",
		Card:           gateway.Card{PAN: secret.Copy([]byte(pan)), ExpiryMonth: 12, ExpiryYear: 2099, CVV: secret.Copy([]byte("734"))},
		IdempotencyKey: "key-retention",
	}
	if _, err := sim.Authorize(context.Background(), req); err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	for key, rec := range sim.byKey {
		dump := fmt.Sprintf("%+v", *rec)
		if strings.Contains(dump, pan) || strings.Contains(dump, pan[len(pan)-4:]) {
			t.Errorf("record %q contains card data", key)
		}
	}
	if req.Card.PAN.Wiped() {
		t.Error("Authorize wiped the caller's PAN; the caller owns it")
	}
}

// TestDocumentedCardTable holds docs/simulator.md to the card table in code,
// so the page cannot drift from what the simulator does.
func TestDocumentedCardTable(t *testing.T) {
	file, err := os.Open("../../../docs/simulator.md")
	if err != nil {
		t.Fatalf("open the simulator page: %v", err)
	}
	defer file.Close()

	documented := map[string][]string{}
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		cells := strings.Split(strings.Trim(scanner.Text(), "| "), "|")
		if len(cells) != 5 {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells[0]) >= 12 && strings.Trim(cells[0], "0123456789") == "" {
			documented[cells[0]] = cells[1:4]
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatalf("read the simulator page: %v", err)
	}

	if len(documented) != len(cardOutcomes) {
		t.Errorf("page documents %d cards, code has %d", len(documented), len(cardOutcomes))
	}
	for _, row := range cardOutcomes {
		want := []string{row.Origin, string(row.Outcome.Status), string(row.Outcome.DeclineCode)}
		got, ok := documented[row.PAN]
		if !ok {
			t.Errorf("card %s is missing from the page", row.PAN)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("card %s: page says %q, code says %q", row.PAN, got, want)
		}
	}
}

func TestCardTableNumbersAreLuhnValid(t *testing.T) {
	for _, row := range cardOutcomes {
		if !luhnValid([]byte(row.PAN)) {
			t.Errorf("card %s fails the Luhn check", row.PAN)
		}
	}
}

func TestLuhnValid(t *testing.T) {
	tests := []struct {
		pan  string
		want bool
	}{
		{"4242424242424242", true},
		{"4242424242424241", false},
		{"378282246310005", true},
		{"", false},
		{"42424242424242a2", false},
		{"4242424242424242/", false},
	}
	for _, tt := range tests {
		if got := luhnValid([]byte(tt.pan)); got != tt.want {
			t.Errorf("luhnValid(%q) = %v, want %v", tt.pan, got, tt.want)
		}
	}
}
