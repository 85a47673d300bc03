// Package benchparse reads the results that bench/run.sh collects: the text
// output of `go test -bench` and the JSON output of bench/node/bench.mjs, and
// summarizes repeated measurements by their median.
package benchparse

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// GoRun is one result line of `go test -bench`: the value of every unit on
// the line, such as "ns/op", "B/op" and "allocs/op".
type GoRun map[string]float64

// GoRunList holds the results of one benchmark over its counts, in output order.
type GoRunList []GoRun

// Values returns the values of unit over the counts that report it.
func (l GoRunList) Values(unit string) []float64 {
	out := make([]float64, 0, len(l))
	for _, r := range l {
		if v, ok := r[unit]; ok {
			out = append(out, v)
		}
	}
	return out
}

// GoRuns maps a benchmark name, without the -GOMAXPROCS suffix, to its results.
type GoRuns map[string]GoRunList

// Names returns the benchmark names in sorted order.
func (g GoRuns) Names() []string {
	names := make([]string, 0, len(g))
	for n := range g {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Normalize returns the header lines (goos, goarch, pkg, cpu) and the
// result lines of `go test -bench` output, one result per line, and drops
// everything else. Code under test that logs to stdout while a benchmark
// runs (local-kms does) splits a result line in two: the benchmark name,
// then the log text, then on a later line the iteration count and values.
// Normalize joins such a split result back onto its name.
func Normalize(text []byte) []byte {
	var out bytes.Buffer
	pending := ""
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
		case isHeader(fields[0]):
			out.WriteString(line + "\n")
			pending = ""
		case strings.HasPrefix(fields[0], "Benchmark"):
			if len(fields) >= 4 && isCount(fields[1]) {
				out.WriteString(line + "\n")
				pending = ""
			} else {
				pending = fields[0]
			}
		case pending != "" && len(fields) >= 3 && isCount(fields[0]):
			out.WriteString(pending + "\t" + strings.Join(fields, "\t") + "\n")
			pending = ""
		}
	}
	return out.Bytes()
}

func isHeader(field string) bool {
	switch field {
	case "goos:", "goarch:", "pkg:", "cpu:":
		return true
	}
	return false
}

func isCount(field string) bool {
	_, err := strconv.ParseInt(field, 10, 64)
	return err == nil
}

// ParseGo reads the results of `go test -bench` output after Normalize. A
// result line with an odd value/unit list is an error, because silently
// dropping it would skew the median.
func ParseGo(text []byte) (GoRuns, error) {
	runs := GoRuns{}
	lines := strings.Split(string(Normalize(text)), "\n")
	for _, line := range lines {
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		pairs := fields[2:]
		if len(pairs)%2 != 0 {
			return nil, fmt.Errorf("benchmark result %q has a value without a unit", line)
		}
		run := GoRun{}
		for i := 0; i < len(pairs); i += 2 {
			v, err := strconv.ParseFloat(pairs[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark result %q: invalid value %q for unit %q", line, pairs[i], pairs[i+1])
			}
			run[pairs[i+1]] = v
		}
		name := trimProcs(fields[0])
		runs[name] = append(runs[name], run)
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("no benchmark result lines found")
	}
	return runs, nil
}

// trimProcs removes the "-N" suffix that `go test` appends to a benchmark
// name when GOMAXPROCS is not 1.
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}

// NodeOutput is the JSON that bench/node/bench.mjs prints.
type NodeOutput struct {
	ESDK        string       `json:"esdk"`
	ESDKVersion string       `json:"esdk_version"`
	NodeVersion string       `json:"node_version"`
	Results     []NodeResult `json:"results"`
}

// NodeResult holds the rounds of one vector.
type NodeResult struct {
	Vector string      `json:"vector"`
	Bits   int         `json:"bits"`
	Rounds []NodeRound `json:"rounds"`
}

// NodeRound is one timed loop of bench.mjs.
type NodeRound struct {
	Ops        int     `json:"ops"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	// OpsPerCPUSec divides by the process CPU time rather than wall time, so
	// it is less sensitive to other processes on the machine.
	OpsPerCPUSec float64 `json:"ops_per_cpu_sec"`
}

// Summary is the centre and spread of repeated measurements.
type Summary struct {
	Median float64
	Min    float64
	Max    float64
	N      int
}

// Summarize returns the median, minimum and maximum of values. It returns a
// zero Summary for no values.
func Summarize(values []float64) Summary {
	if len(values) == 0 {
		return Summary{}
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	n := len(sorted)
	median := sorted[n/2]
	if n%2 == 0 {
		median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return Summary{Median: median, Min: sorted[0], Max: sorted[n-1], N: n}
}

// Spread returns the largest distance of any value from the median, as a
// fraction of the median.
func (s Summary) Spread() float64 {
	if s.Median == 0 {
		return 0
	}
	return math.Max(s.Median-s.Min, s.Max-s.Median) / s.Median
}

// String formats the median with the spread in percent, for example
// "412 ±3%".
func (s Summary) String() string {
	return fmt.Sprintf("%.0f ±%.0f%%", s.Median, 100*s.Spread())
}
