package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// printStep prints one step as it finishes, so a long run shows progress.
func printStep(r stepResult) {
	verdict := "kept up"
	if !r.Sustained {
		verdict = "did not keep up"
	}
	fmt.Printf("%-20s %4d/s: ok %6.1f/s, errors %d, p50 %.1f ms, p99 %.1f ms, max %.1f ms, processor %.2f cores (%.0f ok per CPU-s), load generator %.2f cores, CPU pressure %s, RSS max %.1f MiB, goroutines max %d: %s\n",
		r.Scenario, r.Rate, r.Throughput, r.Errors, r.P50Millis, r.P99Millis, r.MaxMillis,
		r.ProcessorCPU, r.PerCore, r.LoadGenCPU, pressure(r.CPUPressure), mib(r.RSSMaxKiB), r.GoroutinesMax, verdict)
	if len(r.ErrorSample) > 0 {
		fmt.Printf("    failures: %s\n", strings.Join(r.ErrorSample, "; "))
	}
}

// printReport prints the whole run as Markdown tables.
func printReport(w io.Writer, rep *report, o options) {
	fmt.Fprintf(w, "\n## Load run, %s, %s\n\n", rep.Started.Format(time.RFC3339), rep.Elapsed.Round(time.Second))
	fmt.Fprintf(w, "load average before %s, after %s; processor built with FIPS 140-3 module: %v; simulator latency %s; step %s; extra processor environment: %q\n\n",
		rep.LoadAvgBefore, rep.LoadAvgAfter, rep.FIPS, rep.SimulatorLatency, o.step, rep.ProcessorEnv)

	if len(rep.Startup) > 0 {
		ready := make([]float64, 0, len(rep.Startup))
		var idle []string
		for _, s := range rep.Startup {
			ready = append(ready, s.ReadyMillis)
			idle = append(idle, fmt.Sprintf("%.1f", mib(s.IdleRSSKiB)))
		}
		sorted := slices.Clone(ready)
		slices.Sort(sorted)
		fmt.Fprintf(w, "start-up, exec to /readyz 200 (%d runs): median %.1f ms, max %.1f ms; each: %s ms; idle RSS MiB: %s\n\n",
			len(ready), sorted[len(sorted)/2], sorted[len(sorted)-1], joinFloats(ready, "%.1f"), strings.Join(idle, ", "))
	}
	if rep.Resumption != nil {
		fmt.Fprintf(w, "TLS session resumption on a new connection: %v\n\n", *rep.Resumption)
	}

	fmt.Fprintln(w, "| scenario | rate/s | ok/s | errors | p50 ms | p99 ms | max ms | processor cores | ok per processor CPU-s | load generator cores | CPU pressure | RSS max MiB | goroutines max | kept up |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, r := range rep.Steps {
		fmt.Fprintln(w, stepRow(r))
	}

	fmt.Fprintln(w, "\n| scenario | highest rate kept up | peak ok/s | ok per processor CPU-s at the peak |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: |")
	for _, s := range rep.Saturation {
		fmt.Fprintf(w, "| %s | %d | %.1f | %.0f |\n", s.Scenario, s.MaxSustainedRate, s.PeakThroughput, s.PeakPerCore)
	}

	latency, err := time.ParseDuration(rep.SimulatorLatency)
	if err == nil {
		var lines []string
		for _, r := range rep.Steps {
			if strings.HasPrefix(r.Scenario, string(endpointAuthorize)+":") && r.Sustained {
				lines = append(lines, fmt.Sprintf("| %s | %d | %.1f | %.1f |", r.Scenario, r.Rate, r.P50Millis, r.P50Millis-millis(latency)))
			}
		}
		if len(lines) > 0 {
			fmt.Fprintf(w, "\n| authorization scenario | rate/s | p50 ms | p50 minus the %s gateway latency, ms |\n| --- | ---: | ---: | ---: |\n", latency)
			fmt.Fprintln(w, strings.Join(lines, "\n"))
		}
	}

	if s := rep.Soak; s != nil {
		fmt.Fprintf(w, "\nsoak %s at %d/s for %.0f s: %d requests, %d errors, worst window p99 %.1f ms; RSS %.1f MiB after warm-up, %.1f MiB at the end; goroutines %d then %d; clean exit after SIGTERM: %v\n\n",
			s.Scenario, s.Rate, s.Seconds, s.Requests, s.Errors, s.WorstP99Millis, mib(s.StartRSSKiB), mib(s.EndRSSKiB), s.StartGoroutines, s.EndGoroutines, s.ProcessorCleanExit)
		fmt.Fprintln(w, "| window | rate/s | ok/s | errors | p50 ms | p99 ms | max ms | processor cores | CPU pressure | RSS end MiB | goroutines end |")
		fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for i, r := range s.Windows {
			fmt.Fprintf(w, "| %d | %d | %.1f | %d | %.1f | %.1f | %.1f | %.2f | %s | %.1f | %d |\n",
				i+1, r.Rate, r.Throughput, r.Errors, r.P50Millis, r.P99Millis, r.MaxMillis, r.ProcessorCPU, pressure(r.CPUPressure), mib(r.RSSEndKiB), r.GoroutinesEnd)
		}
	}
	fmt.Fprintln(w)
}

func stepRow(r stepResult) string {
	kept := "yes"
	if !r.Sustained {
		kept = "no"
	}
	return fmt.Sprintf("| %s | %d | %.1f | %d | %.1f | %.1f | %.1f | %.2f | %.0f | %.2f | %s | %.1f | %d | %s |",
		r.Scenario, r.Rate, r.Throughput, r.Errors, r.P50Millis, r.P99Millis, r.MaxMillis,
		r.ProcessorCPU, r.PerCore, r.LoadGenCPU, pressure(r.CPUPressure), mib(r.RSSMaxKiB), r.GoroutinesMax, kept)
}

// pressure formats a CPU pressure share as a percentage, or "n/a".
func pressure(share float64) string {
	if share < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*share)
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func joinFloats(values []float64, format string) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = fmt.Sprintf(format, v)
	}
	return strings.Join(parts, ", ")
}
