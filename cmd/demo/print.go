package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// printer writes the demo's narration: sections, steps with timings, and
// indented details.
type printer struct{ out io.Writer }

func newPrinter(out io.Writer) *printer { return &printer{out: out} }

func (p *printer) title(text string) {
	fmt.Fprintf(p.out, "%s\n%s\n", text, strings.Repeat("=", len(text)))
}

func (p *printer) section(text string) { fmt.Fprintf(p.out, "\n%s\n", text) }

func (p *printer) step(text string, d time.Duration) {
	fmt.Fprintln(p.out, strings.TrimRight(fmt.Sprintf("  %-78s %8s", text, formatDuration(d)), " "))
}

func (p *printer) detail(format string, args ...any) {
	fmt.Fprintf(p.out, "      "+format+"\n", args...)
}

func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}
