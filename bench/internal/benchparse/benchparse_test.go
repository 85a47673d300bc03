package benchparse

import (
	"testing"
)

func TestParseGo(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    map[string][]float64 // ns/op per count
		wantErr bool
	}{
		{
			name: "two counts with logs between",
			text: "goos: linux\npkg: x\nBenchmarkA \t 100\t 2000 ns/op\t 16 B/op\t 1 allocs/op\n" +
				"INFO local-kms log line\nBenchmarkA \t 100\t 3000 ns/op\t 16 B/op\t 1 allocs/op\nPASS\n",
			want: map[string][]float64{"BenchmarkA": {2000, 3000}},
		},
		{
			name: "procs suffix trimmed",
			text: "BenchmarkB-2   50   1.5e+06 ns/op\n",
			want: map[string][]float64{"BenchmarkB": {1.5e6}},
		},
		{
			name: "name with dash kept",
			text: "BenchmarkC/key-size   50   10 ns/op\n",
			want: map[string][]float64{"BenchmarkC/key-size": {10}},
		},
		{
			name: "header line without count ignored",
			text: "BenchmarkD fails here\nBenchmarkD  5  7 ns/op\n",
			want: map[string][]float64{"BenchmarkD": {7}},
		},
		{
			name: "result split by a log line",
			text: "BenchmarkK-2   \tINFO Key described: arn\n     500\t  2600 ns/op\t  2500 cpu-ns/op\n",
			want: map[string][]float64{"BenchmarkK": {2600}},
		},
		{
			name:    "log line between name-only line and a header",
			text:    "BenchmarkL   \tINFO log\npkg: other\n     500\t  9 ns/op\n",
			want:    map[string][]float64{},
			wantErr: true,
		},
		{
			name:    "value without unit",
			text:    "BenchmarkE  5  7 ns/op 9\n",
			wantErr: true,
		},
		{
			name:    "invalid value",
			text:    "BenchmarkF  5  seven ns/op\n",
			wantErr: true,
		},
		{
			name:    "no result lines",
			text:    "PASS\nok x 1s\n",
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runs, err := ParseGo([]byte(tc.text))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseGo: got nil error, want one; runs %v", runs)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseGo: %v", err)
			}
			if len(runs) != len(tc.want) {
				t.Errorf("benchmarks: got %v, want %v", runs.Names(), tc.want)
			}
			for name, want := range tc.want {
				got := runs[name].Values("ns/op")
				if len(got) != len(want) {
					t.Fatalf("%s ns/op: got %v, want %v", name, got, want)
				}
				for i := range want {
					if got[i] != want[i] {
						t.Errorf("%s ns/op[%d]: got %v, want %v", name, i, got[i], want[i])
					}
				}
			}
		})
	}
}

func TestNormalizeKeepsHeaders(t *testing.T) {
	in := "goos: linux\nINFO noise\npkg: example\nBenchmarkA \t 10\t 5 ns/op\nPASS\nok example 1s\n"
	want := "goos: linux\npkg: example\nBenchmarkA \t 10\t 5 ns/op\n"
	if got := string(Normalize([]byte(in))); got != want {
		t.Errorf("Normalize:\ngot  %q\nwant %q", got, want)
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		want   Summary
		spread float64
	}{
		{name: "empty", values: nil, want: Summary{}},
		{name: "odd count", values: []float64{3, 1, 2}, want: Summary{Median: 2, Min: 1, Max: 3, N: 3}, spread: 0.5},
		{name: "even count", values: []float64{4, 1, 2, 3}, want: Summary{Median: 2.5, Min: 1, Max: 4, N: 4}, spread: 0.6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Summarize(tc.values)
			if got != tc.want {
				t.Errorf("Summarize(%v): got %+v, want %+v", tc.values, got, tc.want)
			}
			if s := got.Spread(); s != tc.spread {
				t.Errorf("Spread: got %v, want %v", s, tc.spread)
			}
		})
	}
}

func TestSummarizeKeepsInput(t *testing.T) {
	values := []float64{3, 1, 2}
	Summarize(values)
	if values[0] != 3 || values[1] != 1 || values[2] != 2 {
		t.Errorf("Summarize reordered its input: %v", values)
	}
}
