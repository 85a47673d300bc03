package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Timing of the drain test. The slow card responds after drainSlowDelay,
// well inside the request budget, so each slow authorization has a normal
// result (approved) and is in flight for seconds after SIGTERM.
const (
	drainSlowDelay    = 3 * time.Second
	drainBudget       = "5s"
	drainTimeout      = 10 * time.Second
	drainSlowRequests = 20
)

// exchange is one request of the drain test and what became of it.
type exchange struct {
	requestID string
	resp      Response
	err       error
	done      time.Time
}

// TestShutdownDrainsInFlight sends SIGTERM while slow authorizations (over
// HTTP/2 and HTTP/1.1) and a loop of validations are in flight. Every
// request the processor received gets its normal response. Readiness turns
// 503 and new connections are refused while the drain runs, and the process
// exits 0 within PROCESSOR_DRAIN_TIMEOUT.
func TestShutdownDrainsInFlight(t *testing.T) {
	p := StartProcessor(t, Options{Env: map[string]string{
		"PROCESSOR_REQUEST_BUDGET":       drainBudget,
		"PROCESSOR_SIMULATOR_SLOW_DELAY": drainSlowDelay.String(),
		"PROCESSOR_DRAIN_TIMEOUT":        drainTimeout.String(),
	}})
	clients := map[string]*Client{"h2": p.Client(t), "h1": p.ClientHTTP1(t)}
	expiry := p.EncryptDTMF(t, futureExpiry())
	pan := p.EncryptDTMF(t, panSlow)

	var wg sync.WaitGroup
	slow := make(chan exchange, drainSlowRequests)
	for i := range drainSlowRequests {
		protocol := []string{"h2", "h1"}[i%2]
		id := fmt.Sprintf("drain-slow-%s-%d", protocol, i)
		wg.Go(func() {
			resp, err := clients[protocol].Send(http.MethodPost, "/v1/authorizations",
				authorizationBody(id, 700, pan, expiry, ""), "X-Request-Id", id)
			slow <- exchange{requestID: id, resp: resp, err: err, done: time.Now()}
		})
	}

	var draining atomic.Bool
	validations := make(chan exchange, 10_000)
	cvv := map[string]any{"field": "cvv", "ciphertext": p.EncryptDTMF(t, cvvVisa)}
	for protocol, c := range clients {
		wg.Go(func() {
			for n := 0; !draining.Load(); n++ {
				id := fmt.Sprintf("drain-validation-%s-%d", protocol, n)
				resp, err := c.Send(http.MethodPost, "/v1/validations", cvv, "X-Request-Id", id)
				validations <- exchange{requestID: id, resp: resp, err: err, done: time.Now()}
				if err != nil {
					return
				}
			}
		})
	}

	// Each slow authorization is waiting for the gateway once both of its
	// ciphertexts (PAN and expiry) are decrypted.
	atGateway := waitFor(20*time.Second, func() bool {
		decrypts := map[string]int{}
		for _, l := range p.LogLines() {
			if l.String("event") == "decrypt" && strings.HasPrefix(l.String("request_id"), "drain-slow-") {
				decrypts[l.String("request_id")]++
			}
		}
		for _, n := range decrypts {
			if n < 2 {
				return false
			}
		}
		return len(decrypts) == drainSlowRequests
	})
	if !atGateway {
		t.Fatalf("the %d slow authorizations did not all reach the gateway:\n%s", drainSlowRequests, tail(p.Stderr(), 20))
	}

	draining.Store(true)
	p.Signal(t)
	signalled := time.Now()
	notReadyAt := waitForNotReady(t, p)
	refusedAt := waitForRefusal(t, p)

	select {
	case <-p.Done():
	case <-time.After(stopTimeout):
		p.Kill()
		t.Fatalf("the processor did not exit within %s of SIGTERM", stopTimeout)
	}
	elapsed := time.Since(signalled)
	wg.Wait()
	close(slow)
	close(validations)

	if code := p.ExitCode(); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	if elapsed >= drainTimeout {
		t.Errorf("the processor exited %s after SIGTERM, beyond PROCESSOR_DRAIN_TIMEOUT=%s", elapsed, drainTimeout)
	}

	firstSlowResponse := time.Now()
	for e := range slow {
		if e.err != nil {
			t.Errorf("%s failed: %v", e.requestID, e.err)
			continue
		}
		if e.resp.Status != http.StatusCreated || decodeAuthorization(t, e.resp).Status != "approved" {
			t.Errorf("%s = %d %s, want 201 approved", e.requestID, e.resp.Status, e.resp.Body)
		}
		if e.done.Before(firstSlowResponse) {
			firstSlowResponse = e.done
		}
	}
	if !notReadyAt.Before(firstSlowResponse) {
		t.Errorf("/readyz turned 503 at %s, after the first slow response at %s", notReadyAt.Format(time.StampMilli), firstSlowResponse.Format(time.StampMilli))
	}
	if !refusedAt.Before(firstSlowResponse) {
		t.Errorf("new connections were refused from %s, after the first slow response at %s", refusedAt.Format(time.StampMilli), firstSlowResponse.Format(time.StampMilli))
	}

	checkValidations(t, p, validations)
}

// waitForNotReady polls /readyz until it returns 503 and returns the time.
func waitForNotReady(t *testing.T, p *Processor) time.Time {
	t.Helper()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var last string
	ok := waitFor(drainSlowDelay, func() bool {
		resp, err := client.Get(p.OpsURL + "/readyz")
		if err != nil {
			last = err.Error()
			return false
		}
		resp.Body.Close()
		last = resp.Status
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	if !ok {
		t.Fatalf("/readyz did not return 503 during the drain; last response: %s", last)
	}
	return time.Now()
}

// waitForRefusal dials the API listener until the connection is refused and
// returns the time.
func waitForRefusal(t *testing.T, p *Processor) time.Time {
	t.Helper()
	var last error
	ok := waitFor(drainSlowDelay, func() bool {
		conn, err := net.DialTimeout("tcp", p.APIAddr, time.Second)
		if err == nil {
			conn.Close()
		}
		last = err
		return isConnectionRefused(err)
	})
	if !ok {
		t.Fatalf("new connections were still accepted during the drain (last dial: %v)", last)
	}
	return time.Now()
}

// checkValidations holds the validation loop to the drain's promise. A
// request that the processor received (its access-log line exists) got a
// normal response, and a request that failed never reached the processor.
func checkValidations(t *testing.T, p *Processor, validations <-chan exchange) {
	t.Helper()
	received := map[string]bool{}
	for _, l := range p.LogLines() {
		if l.Message() == "request" {
			received[l.String("request_id")] = true
		}
	}
	responded := 0
	for e := range validations {
		switch {
		case e.err == nil && (e.resp.Status != http.StatusOK || !strings.Contains(string(e.resp.Body), `"valid":true`)):
			t.Errorf("%s = %d %s, want 200 valid", e.requestID, e.resp.Status, e.resp.Body)
		case e.err == nil:
			responded++
		case received[e.requestID]:
			t.Errorf("%s reached the processor but failed: %v", e.requestID, e.err)
		}
	}
	if responded == 0 {
		t.Error("no validation got a response, so the loop did not run")
	}
}
