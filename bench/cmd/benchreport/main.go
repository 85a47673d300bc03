// Command benchreport turns the output of one bench/run.sh run into tables of
// operations per second per core. Each row is one RSA key size with the Go
// crypto floor, the service's decrypt, the JavaScript ESDK and the ratios that
// the performance targets are stated in. One table divides by process CPU
// time, the other by wall-clock time.
//
//	benchreport -go go-bench.log -normalized-out go-bench.txt node-1.json node-2.json ...
//
// The Go file holds `go test -bench` output of internal/decrypt and
// bench/cputime (any number of counts, run with GOMAXPROCS=1); each JSON file
// is the output of bench/node/bench.mjs. Every figure is the median over the
// counts or rounds with the largest deviation of one count from it, where
// benchstat would give a confidence interval.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/connect-secure-input/processor/bench/internal/benchparse"
)

// Targets of the DTMF decrypt at 2048 bits: at most this many times the
// floor's time per operation, and at least this many times the JavaScript
// ESDK's operations per second.
const (
	maxFloorRatio = 1.5
	minJSRatio    = 2.0
)

// keySize ties the Go benchmarks and the Node vector of one RSA key size.
// The wall-clock figures come from internal/decrypt, the CPU-time figures
// from bench/cputime, which runs the same operations.
type keySize struct {
	bits       int
	floor      string
	decrypt    string
	cpuFloor   string
	cpuDecrypt string
	nodeVector string
}

var keySizes = []keySize{
	{2048, "BenchmarkCryptoFloor2048", "BenchmarkDecryptConnect2048", "BenchmarkCPUCryptoFloor2048", "BenchmarkCPUDecryptConnect2048", "connect-2048-pan16"},
	{4096, "BenchmarkCryptoFloor4096", "BenchmarkDecryptConnect4096", "BenchmarkCPUCryptoFloor4096", "BenchmarkCPUDecryptConnect4096", "connect-4096-pan16"},
}

const kmsBenchmark = "BenchmarkDecryptKMS"

// clock selects which time an operations-per-second figure divides by.
type clock struct {
	title string
	// goFloor and goDecrypt return the Go benchmark names of a key size.
	goFloor, goDecrypt func(keySize) string
	goUnit             string
	node               func(benchparse.NodeRound) float64
}

var clocks = []clock{
	{
		title:     "per CPU-second of the process (user + system time, robust to other load)",
		goFloor:   func(k keySize) string { return k.cpuFloor },
		goDecrypt: func(k keySize) string { return k.cpuDecrypt },
		goUnit:    "cpu-ns/op",
		node:      func(r benchparse.NodeRound) float64 { return r.OpsPerCPUSec },
	},
	{
		title:     "per wall-clock second (Go with GOMAXPROCS=1, one Node process, slowed by other load)",
		goFloor:   func(k keySize) string { return k.floor },
		goDecrypt: func(k keySize) string { return k.decrypt },
		goUnit:    "ns/op",
		node:      func(r benchparse.NodeRound) float64 { return r.OpsPerSec },
	},
}

// row is one key size measured by one clock.
type row struct {
	bits               int
	floor, decrypt, js benchparse.Summary
}

func (r row) floorRatio() float64 { return r.floor.Median / r.decrypt.Median }
func (r row) jsRatio() float64    { return r.decrypt.Median / r.js.Median }

func main() {
	goFile := flag.String("go", "", "file with `go test -bench` output (required)")
	normalizedOut := flag.String("normalized-out", "", "file to write the Go results to, one per line, for benchstat (optional)")
	flag.Parse()
	if *goFile == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: benchreport -go go-bench.log [-normalized-out go-bench.txt] node.json [node.json ...]")
		os.Exit(2)
	}
	if err := run(os.Stdout, *goFile, *normalizedOut, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, goFile, normalizedOut string, nodeFiles []string) error {
	goText, err := os.ReadFile(goFile)
	if err != nil {
		return err
	}
	if normalizedOut != "" {
		if err := os.WriteFile(normalizedOut, benchparse.Normalize(goText), 0o644); err != nil {
			return err
		}
	}
	goRuns, err := benchparse.ParseGo(goText)
	if err != nil {
		return fmt.Errorf("%s: %w", goFile, err)
	}
	nodeRuns, err := readNode(nodeFiles)
	if err != nil {
		return err
	}

	var failures []error
	for _, c := range clocks {
		fmt.Fprintf(w, "ops/s %s\n", c.title)
		rows, err := measure(c, goRuns, nodeRuns)
		if err != nil {
			failures = append(failures, err)
		}
		if err := printRows(w, rows, c.goUnit == "ns/op", goRuns); err != nil {
			return err
		}
		printTargets(w, rows)
		fmt.Fprintln(w)
	}
	if err := printGo(w, goRuns); err != nil {
		return err
	}
	return errors.Join(failures...)
}

func readNode(files []string) (map[string][]benchparse.NodeRound, error) {
	runs := map[string][]benchparse.NodeRound{}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var out benchparse.NodeOutput
		if err := json.Unmarshal(data, &out); err != nil {
			return nil, fmt.Errorf("%s: invalid bench.mjs output: %w", name, err)
		}
		for _, r := range out.Results {
			runs[r.Vector] = append(runs[r.Vector], r.Rounds...)
		}
	}
	return runs, nil
}

// measure returns one row per key size for which every figure is present.
func measure(c clock, goRuns benchparse.GoRuns, nodeRuns map[string][]benchparse.NodeRound) ([]row, error) {
	var rows []row
	var missing []error
	for _, k := range keySizes {
		floor, errFloor := opsPerSec(goRuns, c.goFloor(k), c.goUnit)
		dec, errDec := opsPerSec(goRuns, c.goDecrypt(k), c.goUnit)
		rounds := nodeRuns[k.nodeVector]
		var errNode error
		if len(rounds) == 0 {
			errNode = fmt.Errorf("no Node rounds for vector %s", k.nodeVector)
		}
		if err := errors.Join(errFloor, errDec, errNode); err != nil {
			missing = append(missing, err)
			continue
		}
		js := make([]float64, 0, len(rounds))
		for _, r := range rounds {
			js = append(js, c.node(r))
		}
		rows = append(rows, row{bits: k.bits, floor: floor, decrypt: dec, js: benchparse.Summarize(js)})
	}
	return rows, errors.Join(missing...)
}

func printRows(w io.Writer, rows []row, withKMS bool, goRuns benchparse.GoRuns) error {
	table := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(table, "key\tfloor\tGo decrypt\tJS ESDK\tGo time / floor\tGo / JS\t")
	for _, r := range rows {
		fmt.Fprintf(table, "RSA-%d\t%s\t%s\t%s\t%.2fx\t%.2fx\t\n",
			r.bits, r.floor, r.decrypt, r.js, r.floorRatio(), r.jsRatio())
	}
	if withKMS {
		if kms, err := opsPerSec(goRuns, kmsBenchmark, "ns/op"); err == nil {
			fmt.Fprintf(table, "KMS (local-kms)\t-\t%s\t-\t-\t-\t\n", kms)
		}
	}
	return table.Flush()
}

// printTargets states whether the 2048-bit DTMF decrypt met each target.
func printTargets(w io.Writer, rows []row) {
	for _, r := range rows {
		if r.bits != 2048 {
			continue
		}
		fr := r.floorRatio()
		fmt.Fprintf(w, "target: RSA-2048 decrypt time within %.1fx of the floor: %.2fx, %s\n",
			maxFloorRatio, fr, verdict(fr <= maxFloorRatio, fr/maxFloorRatio))
		jr := r.jsRatio()
		fmt.Fprintf(w, "target: RSA-2048 decrypt at least %.1fx the JS ESDK ops/s: %.2fx, %s\n",
			minJSRatio, jr, verdict(jr >= minJSRatio, minJSRatio/jr))
	}
}

// printGo lists every Go benchmark with its medians.
func printGo(w io.Writer, goRuns benchparse.GoRuns) error {
	table := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(table, "Go benchmark (median)\tns/op\tcpu-ns/op\tB/op\tallocs/op\tcounts\t")
	for _, name := range goRuns.Names() {
		runs := goRuns[name]
		cpu := "-"
		if v := runs.Values("cpu-ns/op"); len(v) > 0 {
			cpu = fmt.Sprintf("%.0f", benchparse.Summarize(v).Median)
		}
		fmt.Fprintf(table, "%s\t%.0f\t%s\t%.0f\t%.0f\t%d\t\n", name,
			benchparse.Summarize(runs.Values("ns/op")).Median, cpu,
			benchparse.Summarize(runs.Values("B/op")).Median,
			benchparse.Summarize(runs.Values("allocs/op")).Median,
			len(runs))
	}
	return table.Flush()
}

// verdict returns "met", or "missed by" the factor by which the measured
// value falls short of its target.
func verdict(met bool, shortBy float64) string {
	if met {
		return "met"
	}
	return fmt.Sprintf("missed by a factor of %.2f", shortBy)
}

// opsPerSec converts a Go benchmark's time per operation in unit (ns/op or
// cpu-ns/op) over its counts into operations per second.
func opsPerSec(runs benchparse.GoRuns, name, unit string) (benchparse.Summary, error) {
	ns := runs[name].Values(unit)
	if len(ns) == 0 {
		return benchparse.Summary{}, fmt.Errorf("no %s result for %s in the Go output", unit, name)
	}
	ops := make([]float64, 0, len(ns))
	for _, v := range ns {
		ops = append(ops, 1e9/v)
	}
	return benchparse.Summarize(ops), nil
}
