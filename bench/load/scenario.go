package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// connMode is the connection reuse policy of the load generator.
type connMode string

const (
	modeKeepAlive connMode = "keepalive"
	modeNewConn   connMode = "newconn"
	modeResume    connMode = "resume"
)

// maxResponseBody bounds the response bytes kept per result. The responses
// are a few hundred bytes.
const maxResponseBody = 4096

// sustainedShare is the share of the requested rate that must receive the
// expected response, with no errors, for a step to count as keeping up.
const sustainedShare = 0.95

// scenario is one endpoint under one connection mode.
type scenario struct {
	endpoint endpoint
	mode     connMode
}

func (s scenario) String() string { return string(s.endpoint) + ":" + string(s.mode) }

func parseScenarios(text string) ([]scenario, error) {
	var out []scenario
	for field := range strings.SplitSeq(text, ",") {
		e, m, ok := strings.Cut(strings.TrimSpace(field), ":")
		sc := scenario{endpoint(e), connMode(m)}
		if !ok || !slices.Contains([]endpoint{endpointValidate, endpointAuthorize}, sc.endpoint) ||
			!slices.Contains([]connMode{modeKeepAlive, modeNewConn, modeResume}, sc.mode) {
			return nil, fmt.Errorf("invalid scenario %q: want <validate|authorize>:<keepalive|newconn|resume>", field)
		}
		out = append(out, sc)
	}
	return out, nil
}

// stepResult is one fixed-rate step.
type stepResult struct {
	Scenario string `json:"scenario"`
	// Rate is the requested rate in requests per second.
	Rate     int     `json:"rate"`
	Seconds  float64 `json:"seconds"`
	Requests uint64  `json:"requests"`
	// OK counts the responses that expectedOutcome accepts, and Errors all others.
	OK          int            `json:"ok"`
	Errors      int            `json:"errors"`
	StatusCodes map[string]int `json:"status_codes"`
	ErrorSample []string       `json:"error_sample,omitempty"`
	// Throughput is OK responses per second of the step (attack plus wait).
	Throughput float64 `json:"throughput"`
	P50Millis  float64 `json:"p50_ms"`
	P99Millis  float64 `json:"p99_ms"`
	MaxMillis  float64 `json:"max_ms"`
	// ProcessorCPU and LoadGenCPU are CPU seconds per wall second (1.0 is
	// one core busy).
	ProcessorCPU float64 `json:"processor_cpu_cores"`
	LoadGenCPU   float64 `json:"loadgen_cpu_cores"`
	// PerCore is OK responses per CPU second of the processor.
	PerCore float64 `json:"ok_per_processor_cpu_second"`
	// CPUPressure is the share of the step in which some runnable task on
	// the machine waited for a CPU (/proc/pressure/cpu "some"), or -1 where
	// the kernel does not report it. It shows contention from every process,
	// this run's included.
	CPUPressure   float64 `json:"cpu_pressure_some"`
	RSSMaxKiB     int64   `json:"rss_max_kib"`
	RSSEndKiB     int64   `json:"rss_end_kib"`
	GoroutinesMax int     `json:"goroutines_max"`
	GoroutinesEnd int     `json:"goroutines_end"`
	SampleErrors  int     `json:"sample_errors,omitempty"`
	Sustained     bool    `json:"sustained"`
}

// newClient returns the HTTP client of one scenario, with the client
// certificate and the connection behaviour of mode. Every step of the
// scenario shares it, so keep-alive connections carry over from step to
// step. HTTP/2 is off because the Connect forwarder speaks HTTP/1.1.
func newClient(base *tls.Config, mode connMode, o options) *http.Client {
	cfg := base.Clone()
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		DialContext:     dialer.DialContext,
		TLSClientConfig: cfg,
		// An empty map turns off the HTTP/2 upgrade of TLS connections.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	switch mode {
	case modeKeepAlive:
		transport.MaxIdleConnsPerHost = int(o.maxWorkers)
	case modeNewConn:
		cfg.ClientSessionCache = nil
		cfg.SessionTicketsDisabled = true
		transport.DisableKeepAlives = true
	case modeResume:
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(int(o.maxWorkers))
		transport.DisableKeepAlives = true
	}
	return &http.Client{Transport: transport, Timeout: o.timeout}
}

// newAttacker returns a vegeta attacker on client. An attacker stops for
// good when its attack ends, so every attack needs a new one.
func newAttacker(client *http.Client, o options) *vegeta.Attacker {
	return vegeta.NewAttacker(vegeta.Client(client), vegeta.MaxWorkers(o.maxWorkers), vegeta.MaxBody(maxResponseBody))
}

// runScenario starts a fresh processor and runs the rate ladder of sc
// against it, then stops the processor and checks that it exited cleanly.
func runScenario(ctx context.Context, s *setup, o options, sc scenario, cards []card, rep *report) ([]stepResult, saturation, error) {
	sat := saturation{Scenario: sc.String()}
	p, err := s.start(ctx, "load-"+strings.ReplaceAll(sc.String(), ":", "-"))
	if err != nil {
		return nil, sat, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = p.stop()
		}
	}()

	tr, err := targeter(sc.endpoint, p.apiURL, "run"+time.Now().Format("150405"), cards)
	if err != nil {
		return nil, sat, err
	}
	if rep.Resumption == nil {
		resumed, err := checkResumption(ctx, s.clientTLS, p.apiURL, func() (*http.Request, error) {
			var t vegeta.Target
			if err := tr(&t); err != nil {
				return nil, err
			}
			return t.Request()
		})
		if err != nil {
			return nil, sat, err
		}
		rep.Resumption = &resumed
		fmt.Printf("TLS session resumption observed: %v\n", resumed)
	}

	rates := o.validateRates
	if sc.endpoint == endpointAuthorize {
		rates = o.authorizeRates
	}
	client := newClient(s.clientTLS, sc.mode, o)
	defer client.CloseIdleConnections()
	ops := &http.Client{Timeout: 2 * time.Second}
	fmt.Printf("== %s: warm-up %s at %d/s\n", sc, o.warmup, rates[0])
	for range newAttacker(client, o).Attack(tr, vegeta.ConstantPacer{Freq: rates[0], Per: time.Second}, o.warmup, "warmup") {
	}

	var steps []stepResult
	for _, rate := range rates {
		if err := ctx.Err(); err != nil {
			return steps, sat, err
		}
		time.Sleep(o.settle)
		res, err := runStep(ctx, newAttacker(client, o), tr, sc, rate, o.step, p, ops, o.sampleInterval)
		if err != nil {
			return steps, sat, err
		}
		steps = append(steps, res)
		printStep(res)
		if res.Sustained {
			sat.MaxSustainedRate = rate
		}
		if res.Throughput > sat.PeakThroughput {
			sat.PeakThroughput, sat.PeakPerCore = res.Throughput, res.PerCore
		}
		if !res.Sustained && o.stopAtSat {
			break
		}
	}
	stopped = true
	if err := p.stop(); err != nil {
		return steps, sat, fmt.Errorf("processor did not exit cleanly after SIGTERM: %w", err)
	}
	return steps, sat, nil
}

func targeter(e endpoint, apiURL, runID string, cards []card) (vegeta.Targeter, error) {
	if e == endpointAuthorize {
		return authorizeTargeter(apiURL, runID, cards), nil
	}
	return validateTargeter(apiURL, cards)
}

// runStep sends rate requests per second for d and measures the processor
// while it does.
func runStep(ctx context.Context, atk *vegeta.Attacker, tr vegeta.Targeter, sc scenario, rate int, d time.Duration,
	p *processor, ops *http.Client, sampleInterval time.Duration) (stepResult, error) {
	before, err := scrapeOps(ops, p.opsURL)
	if err != nil {
		return stepResult{}, err
	}
	selfBefore := selfCPU()
	pressureBefore, pressureOK := cpuPressureTotal()
	smp := startSampler(p, ops, sampleInterval)
	wallStart := time.Now()

	stopOnCancel := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stopOnCancel()
	var m vegeta.Metrics
	res := stepResult{Scenario: sc.String(), Rate: rate}
	errorSet := map[string]bool{}
	for r := range atk.Attack(tr, vegeta.ConstantPacer{Freq: rate, Per: time.Second}, d, sc.String()) {
		m.Add(r)
		if expectedOutcome(sc.endpoint, r) {
			res.OK++
			continue
		}
		res.Errors++
		if len(errorSet) < 5 {
			errorSet[describeFailure(r)] = true
		}
	}
	m.Close()
	wall := time.Since(wallStart)
	samples, sampleErrs := smp.stop()
	after, err := scrapeOps(ops, p.opsURL)
	if err != nil {
		return stepResult{}, err
	}

	res.Seconds = (m.Duration + m.Wait).Seconds()
	res.Requests = m.Requests
	res.StatusCodes = m.StatusCodes
	for e := range errorSet {
		res.ErrorSample = append(res.ErrorSample, e)
	}
	slices.Sort(res.ErrorSample)
	if res.Seconds > 0 {
		res.Throughput = float64(res.OK) / res.Seconds
	}
	res.P50Millis = millis(m.Latencies.P50)
	res.P99Millis = millis(m.Latencies.P99)
	res.MaxMillis = millis(m.Latencies.Max)
	cpu := after.cpuSeconds - before.cpuSeconds
	res.ProcessorCPU = cpu / wall.Seconds()
	res.LoadGenCPU = (selfCPU() - selfBefore).Seconds() / wall.Seconds()
	res.CPUPressure = -1
	if pressureAfter, ok := cpuPressureTotal(); ok && pressureOK {
		res.CPUPressure = (pressureAfter - pressureBefore).Seconds() / wall.Seconds()
	}
	if cpu > 0 {
		res.PerCore = float64(res.OK) / cpu
	}
	for _, s := range samples {
		res.RSSMaxKiB = max(res.RSSMaxKiB, s.RSSKiB)
		res.GoroutinesMax = max(res.GoroutinesMax, s.Goroutines)
	}
	if len(samples) > 0 {
		last := samples[len(samples)-1]
		res.RSSEndKiB, res.GoroutinesEnd = last.RSSKiB, last.Goroutines
	}
	res.SampleErrors = sampleErrs
	res.Sustained = res.Errors == 0 && res.Throughput >= sustainedShare*float64(rate)
	return res, nil
}

// describeFailure names an unexpected result by its transport error, or by
// its status and the error code of the response body. The rest of the body
// is left out: it is not needed to classify the failure.
func describeFailure(r *vegeta.Result) string {
	if r.Code == 0 {
		return r.Error
	}
	code := ""
	if i := bytes.Index(r.Body, []byte(`"code":"`)); i >= 0 {
		rest := r.Body[i+len(`"code":"`):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			code = " " + string(rest[:j])
		}
	}
	return fmt.Sprintf("HTTP %d%s", r.Code, code)
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
