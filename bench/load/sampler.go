package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// sample is one observation of the processor.
type sample struct {
	// At is the time since the sampler started.
	At time.Duration `json:"at_ns"`
	// RSSKiB is VmRSS from /proc/<pid>/status.
	RSSKiB int64 `json:"rss_kib"`
	// Goroutines is go_goroutines from the processor's /metrics.
	Goroutines int `json:"goroutines"`
}

// opsReading is the part of one /metrics scrape that the load run uses.
type opsReading struct {
	goroutines int
	// cpuSeconds is process_cpu_seconds_total: user plus system time.
	cpuSeconds float64
}

// readRSS returns the resident set size of pid in KiB, from the VmRSS line
// of /proc/<pid>/status.
func readRSS(pid int) (int64, error) {
	return readStatusKiB(pid, "VmRSS:")
}

// readPeakRSS returns the peak resident set size of pid in KiB (VmHWM).
func readPeakRSS(pid int) (int64, error) {
	return readStatusKiB(pid, "VmHWM:")
}

func readStatusKiB(pid int, field string) (int64, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, field)
		if !ok {
			continue
		}
		// The line reads "VmRSS:	   41236 kB".
		value, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
		return strconv.ParseInt(value, 10, 64)
	}
	return 0, fmt.Errorf("no %s line in %s", field, path)
}

// scrapeOps reads go_goroutines and process_cpu_seconds_total from the
// processor's Prometheus text exposition.
func scrapeOps(client *http.Client, opsURL string) (opsReading, error) {
	resp, err := client.Get(opsURL + "/metrics")
	if err != nil {
		return opsReading{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return opsReading{}, fmt.Errorf("GET %s/metrics: status %d", opsURL, resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return opsReading{}, err
	}

	var r opsReading
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "go_goroutines":
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return opsReading{}, fmt.Errorf("invalid go_goroutines value %q", value)
			}
			r.goroutines = int(v)
			found++
		case "process_cpu_seconds_total":
			if r.cpuSeconds, err = strconv.ParseFloat(value, 64); err != nil {
				return opsReading{}, fmt.Errorf("invalid process_cpu_seconds_total value %q", value)
			}
			found++
		}
	}
	if found != 2 {
		return opsReading{}, fmt.Errorf("GET %s/metrics: go_goroutines or process_cpu_seconds_total missing", opsURL)
	}
	return r, sc.Err()
}

// cpuPressureTotal returns the "some" total of /proc/pressure/cpu: the
// microseconds since boot in which at least one runnable task waited for a
// CPU. It returns false where the kernel has no pressure stall information.
func cpuPressureTotal() (time.Duration, bool) {
	data, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return 0, false
	}
	// The first line reads "some avg10=1.00 avg60=2.00 avg300=3.00 total=123".
	line, _, _ := strings.Cut(string(data), "\n")
	_, total, ok := strings.Cut(line, "total=")
	if !strings.HasPrefix(line, "some ") || !ok {
		return 0, false
	}
	us, err := strconv.ParseInt(strings.TrimSpace(total), 10, 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(us) * time.Microsecond, true
}

// selfCPU returns the CPU time (user plus system) this process has used, so
// the load generator's own share of the machine can be reported.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sampler records RSS and goroutines of the processor at a fixed interval
// until stopped.
type sampler struct {
	proc     *processor
	client   *http.Client
	interval time.Duration
	stopCh   chan struct{}
	done     chan struct{}

	mu      sync.Mutex
	samples []sample
	errs    int
}

func startSampler(proc *processor, client *http.Client, interval time.Duration) *sampler {
	s := &sampler{proc: proc, client: client, interval: interval, stopCh: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *sampler) run() {
	defer close(s.done)
	began := time.Now()
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	for {
		s.take(time.Since(began))
		select {
		case <-s.stopCh:
			return
		case <-ticker.C:
		}
	}
}

func (s *sampler) take(at time.Duration) {
	rss, errRSS := readRSS(s.proc.pid)
	ops, errOps := scrapeOps(s.client, s.proc.opsURL)
	s.mu.Lock()
	defer s.mu.Unlock()
	if errRSS != nil || errOps != nil {
		s.errs++
		return
	}
	s.samples = append(s.samples, sample{At: at, RSSKiB: rss, Goroutines: ops.goroutines})
}

// stop ends sampling and returns the samples and the number of failed reads.
func (s *sampler) stop() ([]sample, int) {
	close(s.stopCh)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples, s.errs
}
