package simhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/gateway/simulator"
	"github.com/connect-secure-input/processor/internal/secret"
)

// Timeouts of the server. The write timeout lets the longest call finish.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = MaxCallDuration + 10*time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
)

// Server is a running simulator server.
type Server struct {
	// URL is the base URL, such as "http://127.0.0.1:41234".
	URL string

	sim      *simulator.Simulator
	listener net.Listener
	server   *http.Server
	// stopCalls cancels the context of every request, so Close ends the
	// calls that wait for a never-responding card.
	stopCalls context.CancelFunc
	served    chan struct{}
	serveErr  error

	mu     sync.Mutex
	closed bool
	calls  sync.WaitGroup
	// conns counts open connections. Close waits for them, because a
	// connection's goroutine can outlive its handler by the half second
	// that net/http waits before closing after a rejected body.
	conns sync.WaitGroup
}

// Serve listens on addr, which must be a loopback address such as
// "127.0.0.1:0", and serves sim until Close. Port 0 picks a free port, and
// the URL field names the port chosen.
func Serve(addr string, sim *simulator.Simulator) (*Server, error) {
	if sim == nil {
		return nil, errors.New("simhttp: simulator is nil")
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("simhttp: listen address %q is not host:port: %w", addr, err)
	}
	if !loopbackHost(host) {
		return nil, fmt.Errorf("simhttp: listen address %q is not a loopback address: the simulator server is test only, use 127.0.0.1:0", addr)
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("simhttp: listen on %s: %w", addr, err)
	}

	base, stopCalls := context.WithCancel(context.Background())
	s := &Server{
		URL:       "http://" + listener.Addr().String(),
		sim:       sim,
		listener:  listener,
		stopCalls: stopCalls,
		served:    make(chan struct{}),
	}
	s.server = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnState:         s.trackConn,
		// Logging stays off: a server log line could quote a request.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(s.served)
		if err := s.server.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = fmt.Errorf("simhttp: serve on %s: %w", s.URL, err)
		}
	}()
	return s, nil
}

// Simulator returns the simulator the server serves.
func (s *Server) Simulator() *simulator.Simulator { return s.sim }

// Done returns a channel that is closed when the server has stopped.
func (s *Server) Done() <-chan struct{} { return s.served }

// Close ends the calls in progress (their callers see an outcome-unknown
// timeout), stops the server and waits for its handlers to return. It
// returns the error that stopped the server early, if any, and is safe to
// call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()

	s.stopCalls()
	_ = s.server.Close()
	// Serve has returned, so no connection is added after this point.
	<-s.served
	s.calls.Wait()
	s.conns.Wait()
	return s.serveErr
}

func (s *Server) trackConn(_ net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		s.conns.Add(1)
	case http.StateClosed, http.StateHijacked:
		s.conns.Done()
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathAuthorize, s.authorize)
	mux.HandleFunc("POST "+PathVoid, s.void)
	mux.HandleFunc("POST "+PathLookup, s.lookup)
	mux.HandleFunc("GET "+PathStats, s.stats)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.startCall() {
			http.Error(w, "simulator server is closing", http.StatusServiceUnavailable)
			return
		}
		defer s.calls.Done()
		mux.ServeHTTP(w, r)
	})
}

// startCall counts a handler in s.calls unless Close has begun. The check
// and the Add share the lock, so no Add runs after Close starts waiting.
func (s *Server) startCall() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.calls.Add(1)
	return true
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, gateway.OpAuthorize)
	if !ok {
		return
	}
	defer secret.Zero(body)

	var in authorizeRequest
	err := json.Unmarshal(body, &in)
	// The decoded card bytes are owned here and wiped on every way out,
	// a body that failed to decode half-way included.
	pan, cvv := ownedValue(in.Card.PAN), ownedValue(in.Card.CVV)
	defer pan.Wipe()
	defer cvv.Wipe()
	if err != nil {
		// The decoder's message is left out: it can quote the input.
		writeInvalid(w, gateway.OpAuthorize, "request body is not a JSON authorize request")
		return
	}

	ctx, cancel, ok := callContext(w, r, gateway.OpAuthorize)
	if !ok {
		return
	}
	defer cancel()
	result, err := s.sim.Authorize(ctx, gateway.Request{
		Amount:   in.Amount,
		Currency: in.Currency,
		Card: gateway.Card{
			PAN:         pan,
			ExpiryMonth: in.Card.ExpiryMonth,
			ExpiryYear:  in.Card.ExpiryYear,
			CVV:         cvv,
		},
		IdempotencyKey:    in.IdempotencyKey,
		ContactID:         in.ContactID,
		MerchantReference: in.MerchantReference,
		MOTO:              in.MOTO,
		CaptureMode:       gateway.CaptureMode(in.CaptureMode),
	})
	writeOutcome(w, result, err)
}

func (s *Server) void(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, gateway.OpVoid)
	if !ok {
		return
	}
	var in voidRequest
	if err := json.Unmarshal(body, &in); err != nil {
		writeInvalid(w, gateway.OpVoid, "request body is not a JSON void request")
		return
	}
	ctx, cancel, ok := callContext(w, r, gateway.OpVoid)
	if !ok {
		return
	}
	defer cancel()
	result, err := s.sim.Void(ctx, gateway.VoidRequest{GatewayReference: in.GatewayReference, IdempotencyKey: in.IdempotencyKey})
	writeOutcome(w, result, err)
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, gateway.OpLookup)
	if !ok {
		return
	}
	var in lookupRequest
	if err := json.Unmarshal(body, &in); err != nil {
		writeInvalid(w, gateway.OpLookup, "request body is not a JSON lookup request")
		return
	}
	ctx, cancel, ok := callContext(w, r, gateway.OpLookup)
	if !ok {
		return
	}
	defer cancel()
	result, err := s.sim.Lookup(ctx, in.IdempotencyKey)
	writeOutcome(w, result, err)
}

func (s *Server) stats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Stats{Authorizations: s.sim.Authorizations(), Voids: s.sim.Voids()})
}

// readBody reads the whole request body, at most MaxBodyBytes. On failure
// it writes the error response and returns false.
func readBody(w http.ResponseWriter, r *http.Request, op gateway.Op) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err == nil {
		return body, true
	}
	secret.Zero(body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeJSON(w, http.StatusRequestEntityTooLarge, wireError{
			Code: string(gateway.CodeInvalidRequest), Op: string(op),
			Detail: fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes),
		})
		return nil, false
	}
	writeInvalid(w, op, "request body could not be read")
	return nil, false
}

// callContext returns the context of one simulator call: the request's,
// ended after the client's timeout header or MaxCallDuration, whichever is
// first. On an invalid header it writes the error response and returns
// false.
func callContext(w http.ResponseWriter, r *http.Request, op gateway.Op) (context.Context, context.CancelFunc, bool) {
	timeout := MaxCallDuration
	if text := r.Header.Get(TimeoutHeader); text != "" {
		ms, err := strconv.ParseInt(text, 10, 64)
		if err != nil || ms < 1 {
			writeInvalid(w, op, fmt.Sprintf("header %s must be a positive number of milliseconds, got %q", TimeoutHeader, text))
			return nil, nil, false
		}
		timeout = min(timeout, time.Duration(ms)*time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	return ctx, cancel, true
}

// writeOutcome writes a simulator call's result, or its *gateway.Error with
// an HTTP status that follows the error code.
func writeOutcome(w http.ResponseWriter, result gateway.Result, err error) {
	if err == nil {
		writeJSON(w, http.StatusOK, toWireResult(result))
		return
	}
	var gwErr *gateway.Error
	if !errors.As(err, &gwErr) {
		writeJSON(w, http.StatusInternalServerError, wireError{Code: string(gateway.CodeGatewayError), Detail: "simulator returned an error that is not a gateway error"})
		return
	}
	writeJSON(w, statusOf(gwErr.Code), toWireError(gwErr))
}

func statusOf(code gateway.ErrorCode) int {
	switch code {
	case gateway.CodeNotFound:
		return http.StatusNotFound
	case gateway.CodeInvalidRequest:
		return http.StatusBadRequest
	case gateway.CodeIdempotencyConflict:
		return http.StatusConflict
	case gateway.CodeTimeout:
		return http.StatusGatewayTimeout
	case gateway.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

func writeInvalid(w http.ResponseWriter, op gateway.Op, detail string) {
	writeJSON(w, http.StatusBadRequest, wireError{Code: string(gateway.CodeInvalidRequest), Op: string(op), Detail: detail})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	encoded, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		encoded = []byte(`{"code":"gateway_error","detail":"response could not be encoded"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(encoded)
}

// ownedValue hands b to a secret.Value, or returns the zero Value for an
// empty b, which gateway.Card reads as "no CVV collected".
func ownedValue(b []byte) secret.Value {
	if len(b) == 0 {
		return secret.Value{}
	}
	return secret.New(b)
}
