package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/connect-secure-input/processor/internal/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// defaultTestDatabaseURL is the local server that tests use unless
// PROCESSOR_TEST_DATABASE_URL names another one.
const defaultTestDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

const startServerHint = "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start" +
	" (or point PROCESSOR_TEST_DATABASE_URL at a server you started)"

func testDatabaseURL() string {
	if u := os.Getenv("PROCESSOR_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return defaultTestDatabaseURL
}

// connect opens a plain connection to databaseURL for test set-up, closed
// at the end of the test. It fails the test, with a hint on starting the
// server, when PostgreSQL is not reachable.
func connect(t *testing.T, databaseURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatalf("PostgreSQL at %s is not reachable: %v\n%s", redact(databaseURL), err, startServerHint)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := conn.Close(ctx); err != nil {
			t.Errorf("close set-up connection: %v", err)
		}
	})
	return conn
}

func redact(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "(unparsable test database URL)"
	}
	return u.Redacted()
}

// newSchema creates an empty schema with a random name, dropped at the end
// of the test, and returns the test database URL with search_path and
// application_name both set to that name. Sessions opened with the URL
// create and find their tables in the schema, and pg_stat_activity shows
// them under the name.
func newSchema(t *testing.T) (schemaURL, name string) {
	t.Helper()
	base := testDatabaseURL()
	admin := connect(t, base)

	random := make([]byte, 6)
	_, _ = rand.Read(random)
	name = "processor_test_" + hex.EncodeToString(random)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("PROCESSOR_TEST_DATABASE_URL must be a postgres:// URL: %v", err)
	}
	query := u.Query()
	query.Set("search_path", name)
	query.Set("application_name", name)
	u.RawQuery = query.Encode()
	return u.String(), name
}

// openStore opens a Store on databaseURL with opts and closes it at the end
// of the test.
func openStore(t *testing.T, databaseURL string, opts Options) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, databaseURL, opts)
	if err != nil {
		t.Fatalf("Open: %v\n%s", err, startServerHint)
	}
	t.Cleanup(s.Close)
	return s
}

func testRecord(key string) store.Record {
	return store.Record{
		IdempotencyKey: key,
		ID:             "auth-" + key,
		Fingerprint:    "fp-" + key,
		Amount:         2500,
		Currency:       "GBP",
		Card:           store.MaskedCard{Brand: "mastercard", BIN: "555555", Last4: "4444"},
		Phase:          store.PhaseStarted,
		Owner:          "task-a",
		LeaseUntil:     time.Now().Add(time.Minute),
	}
}

// wantUnavailable fails the test unless err wraps store.ErrUnavailable.
func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("err = %v, want it to wrap %v", err, store.ErrUnavailable)
	}
}

// tcpProxy forwards loopback TCP connections to a target address, so a
// test can cut a store's connections without touching the shared server.
type tcpProxy struct {
	listener net.Listener
	target   string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen for the proxy: %v", err)
	}
	p := &tcpProxy{listener: listener, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Go(p.serve)
	t.Cleanup(p.Close)
	return p
}

// Addr returns the proxy's listening address.
func (p *tcpProxy) Addr() string {
	return p.listener.Addr().String()
}

func (p *tcpProxy) serve() {
	for {
		client, err := p.listener.Accept()
		if err != nil {
			return
		}
		server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			_ = client.Close()
			continue
		}
		if !p.track(client, server) {
			return
		}
		p.wg.Go(func() { p.pipe(client, server) })
		p.wg.Go(func() { p.pipe(server, client) })
	}
}

// track records the pair of connections, or closes them and returns false
// when the proxy is closed.
func (p *tcpProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range conns {
			_ = c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies from src to dst until either side fails, then closes both so
// the other direction ends too.
func (p *tcpProxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}

// Close stops accepting, cuts every forwarded connection and waits for the
// proxy's goroutines. New connections to its address are then refused.
func (p *tcpProxy) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		_ = p.listener.Close()
		for c := range p.conns {
			_ = c.Close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}
