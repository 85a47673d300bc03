package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// soakResult is a long run at a fixed rate, reported window by window.
type soakResult struct {
	Scenario string  `json:"scenario"`
	Rate     int     `json:"rate"`
	Seconds  float64 `json:"seconds"`
	// StartRSSKiB is VmRSS after the warm-up, before the first window;
	// EndRSSKiB is VmRSS after the last window.
	StartRSSKiB        int64        `json:"start_rss_kib"`
	EndRSSKiB          int64        `json:"end_rss_kib"`
	StartGoroutines    int          `json:"start_goroutines"`
	EndGoroutines      int          `json:"end_goroutines"`
	Requests           uint64       `json:"requests"`
	Errors             int          `json:"errors"`
	WorstP99Millis     float64      `json:"worst_window_p99_ms"`
	Windows            []stepResult `json:"windows"`
	ProcessorCleanExit bool         `json:"processor_clean_exit"`
}

// runSoak sends validate:keepalive requests at rate for o.soak on a fresh
// processor, in windows of o.soakWindow, and records memory and goroutines
// at the start and the end.
func runSoak(ctx context.Context, s *setup, o options, rate int, cards []card) (*soakResult, error) {
	sc := scenario{endpointValidate, modeKeepAlive}
	res := &soakResult{Scenario: sc.String(), Rate: rate}
	p, err := s.start(ctx, "soak")
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = p.stop()
		}
	}()
	tr, err := validateTargeter(p.apiURL, cards)
	if err != nil {
		return nil, err
	}
	client := newClient(s.clientTLS, sc.mode, o)
	defer client.CloseIdleConnections()
	ops := &http.Client{Timeout: 2 * time.Second}

	fmt.Printf("== soak: %s at %d/s for %s (warm-up %s)\n", sc, rate, o.soak, o.warmup)
	for range newAttacker(client, o).Attack(tr, vegeta.ConstantPacer{Freq: rate, Per: time.Second}, o.warmup, "warmup") {
	}
	if res.StartRSSKiB, err = readRSS(p.pid); err != nil {
		return nil, err
	}
	start, err := scrapeOps(ops, p.opsURL)
	if err != nil {
		return nil, err
	}
	res.StartGoroutines = start.goroutines

	began := time.Now()
	for remaining := o.soak; remaining > 0; remaining -= o.soakWindow {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		w, err := runStep(ctx, newAttacker(client, o), tr, sc, rate, min(o.soakWindow, remaining), p, ops, 5*time.Second)
		if err != nil {
			return res, err
		}
		printStep(w)
		res.Windows = append(res.Windows, w)
		res.Requests += w.Requests
		res.Errors += w.Errors
		res.WorstP99Millis = max(res.WorstP99Millis, w.P99Millis)
	}
	res.Seconds = time.Since(began).Seconds()
	if res.EndRSSKiB, err = readRSS(p.pid); err != nil {
		return res, err
	}
	end, err := scrapeOps(ops, p.opsURL)
	if err != nil {
		return res, err
	}
	res.EndGoroutines = end.goroutines
	stopped = true
	if err := p.stop(); err != nil {
		return res, fmt.Errorf("processor did not exit cleanly after SIGTERM: %w", err)
	}
	res.ProcessorCleanExit = true
	return res, nil
}
