// Package service profiles one validation request through the whole service
// in one process: the same service.New and Run as cmd/processor (through
// internal/testkit/processortest), over mTLS on 127.0.0.1 with a reused
// connection. The CPU profile of BenchmarkValidateKeepAlive shows where a
// request spends time beyond the decrypt, which the load run cannot show
// because the processor binary serves no profiling endpoint.
//
//	GOMAXPROCS=1 go test -run '^$' -bench . -cpuprofile cpu.out ./bench/service
//
// The client's side of TLS and JSON runs in the same process, so it is part
// of the profile and of cpu-ns/op. Read the server's share from the profile.
package service

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/connect-secure-input/processor/internal/testkit/processortest"
)

func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startValidation starts a processor with the log level of a deployment
// (info), so the access log is written, and returns a function that posts
// the committed 2048-bit Connect PAN vector to /v1/validations and checks
// the response. All posts share one keep-alive connection.
func startValidation(b *testing.B) func() {
	b.Helper()
	p := processortest.Start(b, processortest.Options{
		Env:       map[string]string{"PROCESSOR_LOG_LEVEL": "info"},
		LogOutput: io.Discard,
	})
	v := p.Manifest.Vector(b, "connect-2048-pan16")
	body, err := json.Marshal(map[string]string{"field": "pan", "ciphertext": string(v.Input(b)), "contactId": "bench-service"})
	if err != nil {
		b.Fatal(err)
	}
	url := p.URL + "/v1/validations"
	post := func() {
		resp, err := p.Client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		respBody, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || !bytes.Contains(respBody, []byte(`"valid":true`)) {
			b.Fatalf("POST /v1/validations: status %d, want 200 with valid true", resp.StatusCode)
		}
	}
	// The first request opens the connection, outside the measured loop.
	post()
	return post
}

// measure runs op in a b.Loop and reports the process CPU time per
// operation as "cpu-ns/op".
func measure(b *testing.B, op func()) {
	b.Helper()
	b.ReportAllocs()
	start := processCPU(b)
	n := 0
	for b.Loop() {
		op()
		n++
	}
	b.ReportMetric(float64(processCPU(b)-start)/float64(n), "cpu-ns/op")
}

// BenchmarkValidateKeepAlive sends one validation after the other, with no
// pause, so the process never idles.
func BenchmarkValidateKeepAlive(b *testing.B) {
	post := startValidation(b)
	measure(b, post)
}

// pacedInterval spaces the requests of BenchmarkValidatePaced: 100 requests
// per second, as at the 100/s step of the load run.
const pacedInterval = 10 * time.Millisecond

// BenchmarkValidatePaced sends one validation per tick of pacedInterval, so
// the process idles between requests as it does under a fixed-rate load.
// Comparing its cpu-ns/op with BenchmarkValidateKeepAlive shows what the
// idle gaps cost. Its ns/op is the interval, not the latency.
func BenchmarkValidatePaced(b *testing.B) {
	post := startValidation(b)
	ticker := time.NewTicker(pacedInterval)
	defer ticker.Stop()
	measure(b, func() {
		<-ticker.C
		post()
	})
}
