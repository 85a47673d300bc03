package card

import (
	"testing"
	"time"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseExpiry(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		now      string
		maxYears int
		wantCode string
		want     Expiry
	}{
		{"MMYY", "0828", "2026-12-04T20:00:00Z", 0, "", Expiry{8, 2028}},
		{"MMYYYY", "082028", "2026-12-04T20:00:00Z", 0, "", Expiry{8, 2028}},
		{"hash terminator", "0828#", "2026-12-04T20:00:00Z", 0, "", Expiry{8, 2028}},
		{"star terminator", "0828*", "2026-12-04T20:00:00Z", 0, "", Expiry{8, 2028}},
		{"current month", "1226", "2026-12-04T20:00:00Z", 0, "", Expiry{12, 2026}},

		// The month ends at midnight in UTC-12, which is noon UTC the next day.
		{"Feb 29 still valid in UTC-12", "0228", "2028-03-01T11:59:59.999Z", 0, "", Expiry{2, 2028}},
		{"Feb 29 ended in UTC-12", "0228", "2028-03-01T12:00:00Z", 0, CodeExpiryPast, Expiry{}},
		{"Feb 29 over in UTC+14 only", "0228", "2028-02-29T10:00:00Z", 0, "", Expiry{2, 2028}},
		{"leap day itself", "0228", "2028-02-29T00:00:00Z", 0, "", Expiry{2, 2028}},
		{"January over on leap day", "0128", "2028-02-29T00:00:00Z", 0, CodeExpiryPast, Expiry{}},
		{"Feb 28 in common year valid", "0229", "2029-03-01T11:59:59Z", 0, "", Expiry{2, 2029}},
		{"Feb 28 in common year ended", "0229", "2029-03-01T12:00:00Z", 0, CodeExpiryPast, Expiry{}},
		{"30-day month last second", "0430", "2030-05-01T11:59:59Z", 0, "", Expiry{4, 2030}},
		{"30-day month ended", "0430", "2030-05-01T12:00:00Z", 0, CodeExpiryPast, Expiry{}},
		{"31-day month last second", "0130", "2030-02-01T11:59:59Z", 0, "", Expiry{1, 2030}},
		{"December into new year", "1227", "2028-01-01T11:59:59Z", 0, "", Expiry{12, 2027}},
		{"December ended", "1227", "2028-01-01T12:00:00Z", 0, CodeExpiryPast, Expiry{}},
		{"local time zone converted", "0228", "2028-03-01T13:00:00+02:00", 0, "", Expiry{2, 2028}},
		{"last year", "1125", "2026-12-04T20:00:00Z", 0, CodeExpiryPast, Expiry{}},

		{"20 years ahead", "1246", "2026-06-15T00:00:00Z", 0, "", Expiry{12, 2046}},
		{"21 years ahead", "0147", "2026-06-15T00:00:00Z", 0, CodeExpiryTooFar, Expiry{}},
		{"new year already in UTC+14", "0147", "2026-12-31T10:00:00Z", 0, "", Expiry{1, 2047}},
		{"new year not yet in UTC+14", "0147", "2026-12-31T09:59:59Z", 0, CodeExpiryTooFar, Expiry{}},
		{"custom limit within", "0131", "2026-06-15T00:00:00Z", 5, "", Expiry{1, 2031}},
		{"custom limit exceeded", "0132", "2026-06-15T00:00:00Z", 5, CodeExpiryTooFar, Expiry{}},
		{"negative limit uses default", "1246", "2026-06-15T00:00:00Z", -1, "", Expiry{12, 2046}},
		{"two-digit year next century", "0101", "2099-06-15T00:00:00Z", 0, "", Expiry{1, 2101}},

		{"empty", "", "2026-12-04T20:00:00Z", 0, CodeExpiryFormat, Expiry{}},
		{"3 digits", "828", "2026-12-04T20:00:00Z", 0, CodeExpiryFormat, Expiry{}},
		{"5 digits", "08228", "2026-12-04T20:00:00Z", 0, CodeExpiryFormat, Expiry{}},
		{"slash", "08/28", "2026-12-04T20:00:00Z", 0, CodeExpiryFormat, Expiry{}},
		{"two terminators", "0828##", "2026-12-04T20:00:00Z", 0, CodeExpiryFormat, Expiry{}},
		{"month 00", "0028", "2026-12-04T20:00:00Z", 0, CodeExpiryMonth, Expiry{}},
		{"month 13", "1328", "2026-12-04T20:00:00Z", 0, CodeExpiryMonth, Expiry{}},
		{"month 99 long form", "992028", "2026-12-04T20:00:00Z", 0, CodeExpiryMonth, Expiry{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExpiry(value(tt.in), utc(tt.now), tt.maxYears)
			wantCode(t, err, tt.wantCode)
			if got != tt.want {
				t.Errorf("ParseExpiry(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestExpandYear(t *testing.T) {
	tests := []struct {
		yy, current, want int
	}{
		{28, 2026, 2028},
		{0, 2026, 2000},
		{76, 2026, 2076},
		{77, 2026, 1977},
		{1, 2099, 2101},
		{49, 2099, 2049},
		{48, 2099, 2148},
	}
	for _, tt := range tests {
		if got := expandYear(tt.yy, tt.current); got != tt.want {
			t.Errorf("expandYear(%02d, %d) = %d, want %d", tt.yy, tt.current, got, tt.want)
		}
	}
}
