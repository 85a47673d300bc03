// Command load drives the real processor binary over mutual TLS at fixed
// request rates and reports latency, errors, throughput per core, memory and
// goroutines, the start-up time and an optional soak. Run it from the
// repository root:
//
//	go run ./bench/load -out .cache/load.json
//
// It builds cmd/processor as the container image does (static, FIPS 140-3
// module on), starts it on 127.0.0.1 with a throw-away CA, the committed
// test-only Connect keys and the simulator gateway, and aims
// github.com/tsenart/vegeta at it with a client certificate. Every scenario
// gets a fresh processor, whose rates rise step by step until the processor
// no longer keeps up (the saturation point). The load generator and the
// processor share this machine's cores, and the report shows the CPU time
// of each.
//
// Scenarios are <endpoint>:<connection mode>. Endpoints: validate (POST
// /v1/validations with a DTMF PAN ciphertext) and authorize (POST
// /v1/authorizations with PAN, expiry and CVV ciphertexts and a new
// idempotency key per request). Modes: keepalive (connections reused),
// newconn (a new TCP connection and a full TLS handshake per request) and
// resume (a new connection per request with TLS session resumption).
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command-line settings.
type options struct {
	root           string
	scenarios      []scenario
	validateRates  []int
	authorizeRates []int
	step           time.Duration
	warmup         time.Duration
	settle         time.Duration
	latency        time.Duration
	maxWorkers     uint64
	timeout        time.Duration
	startupRuns    int
	soak           time.Duration
	soakWindow     time.Duration
	soakFraction   float64
	soakRate       int
	stopAtSat      bool
	fips           bool
	cards          int
	sampleInterval time.Duration
	out            string
	keep           bool
	// processorEnv is added to every processor's environment, for trying
	// runtime settings such as GOGC or GOMEMLIMIT.
	processorEnv []string
}

func main() {
	opts, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func parseFlags() (options, error) {
	var o options
	var scenarios, validateRates, authorizeRates, processorEnv string
	flag.StringVar(&o.root, "root", "", "repository root (default: the nearest parent folder with go.mod)")
	flag.StringVar(&scenarios, "scenarios", "validate:keepalive,validate:newconn,authorize:keepalive,authorize:newconn",
		"comma-separated <endpoint>:<mode>; endpoints validate, authorize; modes keepalive, newconn, resume")
	flag.StringVar(&validateRates, "validate-rates", "50,100,150,200,250,300,350,400,500", "request rates of the validate steps (requests per second, ascending)")
	flag.StringVar(&authorizeRates, "authorize-rates", "20,40,60,80,100,120,140,170", "request rates of the authorize steps (requests per second, ascending)")
	flag.DurationVar(&o.step, "step", 10*time.Second, "duration of each rate step")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "unrecorded load at the first rate before a scenario's steps")
	flag.DurationVar(&o.settle, "settle", time.Second, "pause between steps")
	flag.DurationVar(&o.latency, "simulator-latency", 20*time.Millisecond, "fixed latency of the simulator gateway (PROCESSOR_SIMULATOR_LATENCY)")
	flag.Uint64Var(&o.maxWorkers, "max-workers", 256, "maximum requests in flight from the load generator")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout of one request")
	flag.IntVar(&o.startupRuns, "startup-runs", 5, "processor starts to time from exec to /readyz 200 (0 skips)")
	flag.DurationVar(&o.soak, "soak", 0, "soak duration with validate:keepalive (0 skips the soak)")
	flag.DurationVar(&o.soakWindow, "soak-window", time.Minute, "length of each reported window of the soak")
	flag.Float64Var(&o.soakFraction, "soak-fraction", 0.7, "soak rate as a fraction of the validate:keepalive saturation throughput")
	flag.IntVar(&o.soakRate, "soak-rate", 0, "soak rate in requests per second; overrides -soak-fraction")
	flag.BoolVar(&o.stopAtSat, "stop-at-saturation", true, "end a scenario's ladder after its first step that does not keep up")
	flag.BoolVar(&o.fips, "fips", true, "build the processor with Go's FIPS 140-3 module (GOFIPS140=v1.0.0), as the container image is")
	flag.IntVar(&o.cards, "cards", 32, "distinct pre-made card ciphertext sets to cycle through")
	flag.DurationVar(&o.sampleInterval, "sample-interval", 500*time.Millisecond, "interval of RSS and goroutine samples")
	flag.StringVar(&o.out, "out", "", "file for the full results as JSON (optional)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder with certificates and processor logs")
	flag.StringVar(&processorEnv, "processor-env", "", "comma-separated NAME=VALUE added to the processor's environment, for example GOMEMLIMIT=48MiB")
	flag.Parse()

	var err error
	if o.scenarios, err = parseScenarios(scenarios); err != nil {
		return o, err
	}
	if o.validateRates, err = parseRates(validateRates); err != nil {
		return o, fmt.Errorf("-validate-rates: %w", err)
	}
	if o.authorizeRates, err = parseRates(authorizeRates); err != nil {
		return o, fmt.Errorf("-authorize-rates: %w", err)
	}
	if o.processorEnv, err = parseEnv(processorEnv); err != nil {
		return o, fmt.Errorf("-processor-env: %w", err)
	}
	if o.cards < 1 {
		return o, fmt.Errorf("-cards must be at least 1, got %d", o.cards)
	}
	if o.soak > 0 && o.soakRate == 0 && !slices.Contains(o.scenarios, scenario{endpointValidate, modeKeepAlive}) {
		return o, errors.New("-soak needs -soak-rate, or validate:keepalive in -scenarios to measure saturation")
	}
	if o.root == "" {
		if o.root, err = findRoot(); err != nil {
			return o, err
		}
	}
	return o, nil
}

func parseRates(text string) ([]int, error) {
	var rates []int
	for field := range strings.SplitSeq(text, ",") {
		rate, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || rate < 1 {
			return nil, fmt.Errorf("invalid rate %q: want a positive integer", field)
		}
		if len(rates) > 0 && rate <= rates[len(rates)-1] {
			return nil, fmt.Errorf("rates must ascend, got %d after %d", rate, rates[len(rates)-1])
		}
		rates = append(rates, rate)
	}
	return rates, nil
}

func parseEnv(text string) ([]string, error) {
	if text == "" {
		return nil, nil
	}
	var env []string
	for field := range strings.SplitSeq(text, ",") {
		name, _, ok := strings.Cut(field, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("invalid entry %q: want NAME=VALUE", field)
		}
		env = append(env, field)
	}
	return env, nil
}

// findRoot returns the nearest folder at or above the working directory
// that contains go.mod.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found above the working directory: run from the repository or pass -root")
		}
		dir = parent
	}
}

// report is everything one run measured, as written to -out.
type report struct {
	Started          time.Time     `json:"started"`
	LoadAvgBefore    string        `json:"load_average_before"`
	LoadAvgAfter     string        `json:"load_average_after"`
	FIPS             bool          `json:"fips"`
	ProcessorEnv     []string      `json:"processor_env,omitempty"`
	SimulatorLatency string        `json:"simulator_latency"`
	Startup          []startupRun  `json:"startup"`
	Resumption       *bool         `json:"tls_resumption_observed,omitempty"`
	Steps            []stepResult  `json:"steps"`
	Saturation       []saturation  `json:"saturation"`
	Soak             *soakResult   `json:"soak,omitempty"`
	Elapsed          time.Duration `json:"elapsed_ns"`
}

// startupRun is one processor start.
type startupRun struct {
	ReadyMillis float64 `json:"ready_ms"`
	// IdleRSSKiB is VmRSS right after the first /readyz 200.
	IdleRSSKiB int64 `json:"idle_rss_kib"`
}

// saturation is the capacity one scenario reached.
type saturation struct {
	Scenario string `json:"scenario"`
	// MaxSustainedRate is the highest step rate that kept up without errors.
	MaxSustainedRate int `json:"max_sustained_rate"`
	// PeakThroughput is the highest rate of expected responses of any step.
	PeakThroughput float64 `json:"peak_throughput"`
	// PeakPerCore is PeakThroughput's step divided by the processor's CPU
	// seconds per second in it.
	PeakPerCore float64 `json:"peak_per_processor_core"`
}

func run(ctx context.Context, o options) error {
	began := time.Now()
	rep := &report{Started: began.UTC(), LoadAvgBefore: loadAverage(), FIPS: o.fips, SimulatorLatency: o.latency.String(), ProcessorEnv: o.processorEnv}

	dir, err := os.MkdirTemp("", "processor-load-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Printf("temporary folder (kept): %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	fmt.Printf("load average before: %s\n", rep.LoadAvgBefore)
	binary, err := buildProcessor(ctx, o.root, dir, o.fips)
	if err != nil {
		return err
	}
	s, err := newSetup(o.root, dir, binary, o.latency)
	if err != nil {
		return err
	}
	s.env = append(s.env, o.processorEnv...)

	if err := measureStartup(ctx, s, o, rep); err != nil {
		return err
	}

	fmt.Printf("encrypting %d test cards as Connect does\n", o.cards)
	cards, err := makeCards(ctx, s.keysDir, s.keys, o.cards)
	if err != nil {
		return err
	}

	for _, sc := range o.scenarios {
		if err := ctx.Err(); err != nil {
			return err
		}
		steps, sat, err := runScenario(ctx, s, o, sc, cards, rep)
		rep.Steps = append(rep.Steps, steps...)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", sc, err)
		}
		rep.Saturation = append(rep.Saturation, sat)
	}

	if o.soak > 0 {
		rate := o.soakRate
		if rate == 0 {
			for _, sat := range rep.Saturation {
				if sat.Scenario == (scenario{endpointValidate, modeKeepAlive}).String() {
					rate = int(o.soakFraction * sat.PeakThroughput)
				}
			}
		}
		if rate < 1 {
			return errors.New("soak rate is below 1 request per second; pass -soak-rate")
		}
		if rep.Soak, err = runSoak(ctx, s, o, rate, cards); err != nil {
			return fmt.Errorf("soak: %w", err)
		}
	}

	rep.LoadAvgAfter = loadAverage()
	rep.Elapsed = time.Since(began)
	printReport(os.Stdout, rep, o)
	if o.out != "" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.out, append(data, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Printf("results: %s\n", o.out)
	}
	return nil
}

// measureStartup starts and stops the processor o.startupRuns times and
// records the time from exec to /readyz 200 and the idle RSS.
func measureStartup(ctx context.Context, s *setup, o options, rep *report) error {
	for i := range o.startupRuns {
		p, err := s.start(ctx, fmt.Sprintf("startup-%d", i+1))
		if err != nil {
			return err
		}
		rss, errRSS := readRSS(p.pid)
		if err := p.stop(); err != nil {
			return fmt.Errorf("stop after start-up run %d: %w", i+1, err)
		}
		if errRSS != nil {
			return errRSS
		}
		run := startupRun{ReadyMillis: float64(p.readyAfter.Microseconds()) / 1e3, IdleRSSKiB: rss}
		rep.Startup = append(rep.Startup, run)
		fmt.Printf("start-up %d: ready after %.1f ms, idle RSS %.1f MiB\n", i+1, run.ReadyMillis, float64(rss)/1024)
	}
	return nil
}

// checkResumption sends two requests on new connections with a session
// cache and reports whether the second TLS handshake resumed the first
// session.
func checkResumption(ctx context.Context, base *tls.Config, apiURL string, target func() (*http.Request, error)) (bool, error) {
	cfg := base.Clone()
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	var resumed bool
	for range 2 {
		req, err := target()
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req.WithContext(ctx))
		if err != nil {
			return false, fmt.Errorf("resumption check against %s: %w", apiURL, err)
		}
		resp.Body.Close()
		if resp.TLS == nil {
			return false, errors.New("resumption check: response without TLS state")
		}
		resumed = resp.TLS.DidResume
	}
	return resumed, nil
}

// loadAverage returns the first three fields of /proc/loadavg.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(data))
	return strings.Join(fields[:min(3, len(fields))], " ")
}
