package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/connect-secure-input/processor/internal/store"
	"github.com/connect-secure-input/processor/internal/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		schemaURL, _ := newSchema(t)
		return openStore(t, schemaURL, Options{})
	})
}

func TestClaimRaceAcrossTwoStores(t *testing.T) {
	schemaURL, _ := newSchema(t)
	stores := []*Store{openStore(t, schemaURL, Options{}), openStore(t, schemaURL, Options{})}

	const claimers = 50
	created := make([]bool, claimers)
	errs := make([]error, claimers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range claimers {
		wg.Go(func() {
			rec := testRecord("key-1")
			rec.Owner = fmt.Sprintf("task-%d", i)
			<-start
			_, created[i], errs[i] = stores[i%2].Claim(context.Background(), rec)
		})
	}
	close(start)
	wg.Wait()

	winners := 0
	for i := range claimers {
		if errs[i] != nil {
			t.Fatalf("claimer %d: %v", i, errs[i])
		}
		if created[i] {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("%d claims created the record, want 1", winners)
	}
}

func TestLoadMigrationsEmbedded(t *testing.T) {
	migrations, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}
	if len(migrations) == 0 {
		t.Fatalf("no migrations embedded")
	}
	for i, m := range migrations {
		if m.version != i+1 {
			t.Errorf("migration %s has version %d, want %d (versions run from 1 without gaps)", m.name, m.version, i+1)
		}
	}
}

func TestLoadMigrationsRejects(t *testing.T) {
	tests := []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"name without version", fstest.MapFS{"m/create.sql": {Data: []byte("SELECT 1")}}, "does not match"},
		{"upper-case name", fstest.MapFS{"m/0001_Create.sql": {Data: []byte("SELECT 1")}}, "does not match"},
		{"shared version", fstest.MapFS{
			"m/0001_create.sql": {Data: []byte("SELECT 1")},
			"m/0001_alter.sql":  {Data: []byte("SELECT 1")},
		}, "share version 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadMigrations(tc.files, "m")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// appliedMigrations returns the versions listed in schema_migrations of the
// schema that schemaURL selects.
func appliedMigrations(t *testing.T, schemaURL string) []int32 {
	t.Helper()
	conn := connect(t, schemaURL)
	rows, err := conn.Query(context.Background(), "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatalf("query schema_migrations: %v", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return versions
}

func wantAllApplied(t *testing.T, schemaURL string) {
	t.Helper()
	migrations, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}
	var want []int32
	for _, m := range migrations {
		want = append(want, int32(m.version))
	}
	if got := appliedMigrations(t, schemaURL); !slices.Equal(got, want) {
		t.Errorf("schema_migrations versions = %v, want %v", got, want)
	}
}

func TestOpenTwiceMigratesOnce(t *testing.T) {
	schemaURL, _ := newSchema(t)
	first := openStore(t, schemaURL, Options{})
	if _, _, err := first.Claim(context.Background(), testRecord("key-1")); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	first.Close()

	second := openStore(t, schemaURL, Options{})
	wantAllApplied(t, schemaURL)
	if _, err := second.Get(context.Background(), "key-1"); err != nil {
		t.Errorf("Get after the second Open: %v", err)
	}
}

func TestOpenConcurrentOnFreshSchema(t *testing.T) {
	schemaURL, _ := newSchema(t)
	const openers = 4
	stores := make([]*Store, openers)
	errs := make([]error, openers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range openers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			<-start
			stores[i], errs[i] = Open(ctx, schemaURL, Options{})
		})
	}
	close(start)
	wg.Wait()

	for i := range openers {
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
			continue
		}
		t.Cleanup(stores[i].Close)
	}
	wantAllApplied(t, schemaURL)
}

func TestOpenRejectsInvalidURL(t *testing.T) {
	const password = "s3cret-password"
	tests := []struct {
		name string
		url  string
	}{
		{"bad pool size", "postgres://user:" + password + "@127.0.0.1:5432/test?pool_max_conns=many"},
		{"bad escape", "postgres://user:" + password + "@127.0.0.1:5432/te%zzst"},
		{"bad key value", "host=127.0.0.1 password=" + password + " port=notaport"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(context.Background(), tc.url, Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want an error")
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error shows the password: %v", err)
			}
			if errors.Is(err, store.ErrUnavailable) {
				t.Errorf("err = %v wraps %v, want a configuration error", err, store.ErrUnavailable)
			}
		})
	}
}

func TestOpenRejectsNegativeOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"connect timeout", Options{ConnectTimeout: -time.Second}},
		{"query timeout", Options{QueryTimeout: -time.Second}},
		{"max conns", Options{MaxConns: -1}},
		{"migration timeout", Options{MigrationTimeout: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(context.Background(), testDatabaseURL(), tc.opts)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%+v) succeeded, want an error", tc.opts)
			}
		})
	}
}

func TestPoolConfigAppliesOptions(t *testing.T) {
	config, err := poolConfig("postgres://u@127.0.0.1:5432/db?connect_timeout=60&pool_max_conns=50", Options{
		ConnectTimeout: 3 * time.Second, QueryTimeout: 1500 * time.Millisecond, MaxConns: 7,
	})
	if err != nil {
		t.Fatalf("poolConfig: %v", err)
	}
	if config.MaxConns != 7 {
		t.Errorf("MaxConns = %d, want 7", config.MaxConns)
	}
	if config.ConnConfig.ConnectTimeout != 3*time.Second {
		t.Errorf("ConnectTimeout = %s, want 3s", config.ConnConfig.ConnectTimeout)
	}
	params := config.ConnConfig.RuntimeParams
	if params["statement_timeout"] != "1500" {
		t.Errorf("statement_timeout = %q, want 1500", params["statement_timeout"])
	}
	if params["application_name"] != DefaultApplicationName {
		t.Errorf("application_name = %q, want %q", params["application_name"], DefaultApplicationName)
	}

	fromURL, err := poolConfig("postgres://u@127.0.0.1:5432/db?statement_timeout=9000&application_name=worker", Options{QueryTimeout: time.Second})
	if err != nil {
		t.Fatalf("poolConfig: %v", err)
	}
	if got := fromURL.ConnConfig.RuntimeParams["statement_timeout"]; got != "9000" {
		t.Errorf("statement_timeout set in the URL = %q, want 9000", got)
	}
	if got := fromURL.ConnConfig.RuntimeParams["application_name"]; got != "worker" {
		t.Errorf("application_name set in the URL = %q, want worker", got)
	}
}

// refusedAddr returns a loopback address on which nothing listens.
func refusedAddr(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := listener.Addr().String()
	if err := listener.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return addr
}

// adminURL returns schemaURL with the application_name "admin", so that
// set-up sessions are not mistaken for the store's.
func adminURL(t *testing.T, schemaURL string) string {
	t.Helper()
	u, err := url.Parse(schemaURL)
	if err != nil {
		t.Fatalf("parse schema URL: %v", err)
	}
	query := u.Query()
	query.Set("application_name", "admin")
	u.RawQuery = query.Encode()
	return u.String()
}

// withHost returns databaseURL with its host and port replaced by addr.
func withHost(t *testing.T, databaseURL, addr string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatalf("parse database URL: %v", err)
	}
	u.Host = addr
	return u.String()
}

func TestOpenUnreachable(t *testing.T) {
	databaseURL := withHost(t, testDatabaseURL(), refusedAddr(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, databaseURL, Options{ConnectTimeout: 2 * time.Second})
	if err == nil {
		s.Close()
		t.Fatalf("Open succeeded on a refused address")
	}
	wantUnavailable(t, err)
}

func TestProxyClosedGivesUnavailable(t *testing.T) {
	schemaURL, _ := newSchema(t)
	u, err := url.Parse(schemaURL)
	if err != nil {
		t.Fatalf("parse schema URL: %v", err)
	}
	proxy := startProxy(t, u.Host)
	s := openStore(t, withHost(t, schemaURL, proxy.Addr()), Options{ConnectTimeout: 2 * time.Second})
	if _, _, err := s.Claim(context.Background(), testRecord("key-1")); err != nil {
		t.Fatalf("Claim through the proxy: %v", err)
	}

	proxy.Close()
	_, err = s.Get(context.Background(), "key-1")
	wantUnavailable(t, err)
	_, _, err = s.Claim(context.Background(), testRecord("key-2"))
	wantUnavailable(t, err)
	wantUnavailable(t, s.Ping(context.Background()))
}

// lockRow starts a transaction on conn that locks the record of key, and
// returns a function that rolls it back.
func lockRow(t *testing.T, conn *pgx.Conn, key string) (rollback func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM authorizations WHERE idempotency_key = $1 FOR UPDATE", key); err != nil {
		t.Fatalf("lock row %q: %v", key, err)
	}
	return func() {
		if err := tx.Rollback(ctx); err != nil {
			t.Errorf("rollback: %v", err)
		}
	}
}

// waitForLockWait returns the process id of the session named application
// once it waits for a lock, polling pg_stat_activity.
func waitForLockWait(t *testing.T, conn *pgx.Conn, application string) int32 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for range ticker.C {
		var pid int32
		err := conn.QueryRow(context.Background(),
			"SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", application).Scan(&pid)
		if err == nil {
			return pid
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Fatalf("query pg_stat_activity: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session of %s waited for a lock within 10s", application)
		}
	}
	panic("unreachable")
}

func TestTerminatedConnectionMidRequest(t *testing.T) {
	schemaURL, name := newSchema(t)
	// The query timeout is long so that the termination, not the timeout,
	// ends the request.
	s := openStore(t, schemaURL, Options{QueryTimeout: 30 * time.Second})
	claimed, _, err := s.Claim(context.Background(), testRecord("key-1"))
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}

	admin := connect(t, adminURL(t, schemaURL))
	rollback := lockRow(t, admin, "key-1")
	result := make(chan error, 1)
	go func() {
		_, err := s.Transition(context.Background(), store.Transition{
			Key: "key-1", Owner: "task-a", From: []store.Phase{store.PhaseStarted}, To: store.PhaseGatewaySent,
		})
		result <- err
	}()
	pid := waitForLockWait(t, admin, name)
	if _, err := admin.Exec(context.Background(), "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatalf("pg_terminate_backend: %v", err)
	}
	wantUnavailable(t, <-result)
	rollback()

	got, err := s.Get(context.Background(), "key-1")
	if err != nil {
		t.Fatalf("Get after the termination: %v", err)
	}
	if got != claimed {
		t.Errorf("record after the failed transition = %+v, want it unchanged: %+v", got, claimed)
	}
}

func TestQueryTimeoutGivesUnavailable(t *testing.T) {
	schemaURL, name := newSchema(t)
	s := openStore(t, schemaURL, Options{QueryTimeout: 300 * time.Millisecond})
	if _, _, err := s.Claim(context.Background(), testRecord("key-1")); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	var statementTimeout string
	if err := s.pool.QueryRow(context.Background(), "SHOW statement_timeout").Scan(&statementTimeout); err != nil {
		t.Fatalf("show statement_timeout: %v", err)
	}
	if statementTimeout != "300ms" {
		t.Errorf("server statement_timeout = %q, want 300ms", statementTimeout)
	}

	admin := connect(t, adminURL(t, schemaURL))
	rollback := lockRow(t, admin, "key-1")
	defer rollback()
	_, err := s.Transition(context.Background(), store.Transition{
		Key: "key-1", Owner: "task-a", From: []store.Phase{store.PhaseStarted}, To: store.PhaseGatewaySent,
	})
	wantUnavailable(t, err)

	// At the deadline pgx closes the connection and sends a cancel request
	// from another goroutine, so the server stops the statement shortly
	// after the call returns.
	deadline := time.Now().Add(5 * time.Second)
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for range ticker.C {
		var waiting int
		if err := admin.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", name).Scan(&waiting); err != nil {
			t.Fatalf("query pg_stat_activity: %v", err)
		}
		if waiting == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still wait for the lock 5s after the timeout, want 0", waiting)
		}
	}
}

func TestPoolExhaustedGivesUnavailable(t *testing.T) {
	schemaURL, _ := newSchema(t)
	s := openStore(t, schemaURL, Options{MaxConns: 1, QueryTimeout: 300 * time.Millisecond})
	conn, err := s.pool.Acquire(context.Background())
	if err != nil {
		t.Fatalf("acquire the only connection: %v", err)
	}
	_, err = s.Get(context.Background(), "key-1")
	wantUnavailable(t, err)
	conn.Release()

	_, err = s.Get(context.Background(), "key-1")
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after release = %v, want %v", err, store.ErrNotFound)
	}
}

func TestSchemaRejectsCardData(t *testing.T) {
	schemaURL, _ := newSchema(t)
	openStore(t, schemaURL, Options{})
	conn := connect(t, adminURL(t, schemaURL))

	tests := []struct {
		name       string
		column     string
		value      string
		constraint string
	}{
		{"full PAN as BIN", "card_bin", "4111111111111111", "authorizations_card_bin_check"},
		{"PAN digits as last four", "card_last4", "41111111", "authorizations_card_last4_check"},
		{"unknown phase", "phase", "pending", "authorizations_phase_check"},
		{"lower-case currency", "currency", "usd", "authorizations_currency_check"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := map[string]string{"card_bin": "411111", "card_last4": "1111", "phase": "started", "currency": "USD"}
			row[tc.column] = tc.value
			_, err := conn.Exec(context.Background(), `INSERT INTO authorizations (
					idempotency_key, id, fingerprint, amount, currency, reference, contact_id,
					card_brand, card_bin, card_last4, phase, gateway_reference, authorization_code,
					decline_code, failure_reason, owner, lease_until, created_at, updated_at)
				VALUES ('key-1', 'auth-1', 'fp', 100, $1, '', '', 'visa', $2, $3, $4, '', '', '', '', 'task-a', now(), now(), now())`,
				row["currency"], row["card_bin"], row["card_last4"], row["phase"])
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "23514" || pgErr.ConstraintName != tc.constraint {
				t.Fatalf("err = %v, want check_violation (23514) of %s", err, tc.constraint)
			}
			if classified := classify("insert", err); errors.Is(classified, store.ErrUnavailable) {
				t.Errorf("classify(%v) wraps %v, want a constraint error", err, store.ErrUnavailable)
			}
		})
	}
}

func TestSchemaHasNoCardDataColumns(t *testing.T) {
	schemaURL, name := newSchema(t)
	openStore(t, schemaURL, Options{})
	conn := connect(t, adminURL(t, schemaURL))

	rows, err := conn.Query(context.Background(),
		"SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'authorizations' ORDER BY ordinal_position", name)
	if err != nil {
		t.Fatalf("query columns: %v", err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read columns: %v", err)
	}
	want := []string{
		"idempotency_key", "id", "fingerprint", "amount", "currency", "reference", "contact_id",
		"card_brand", "card_bin", "card_last4", "phase", "gateway_reference", "authorization_code",
		"decline_code", "failure_reason", "owner", "lease_until", "created_at", "updated_at",
	}
	if !slices.Equal(got, want) {
		t.Errorf("columns = %v\nwant %v (no PAN, expiry or CVV column)", got, want)
	}
}

func TestListExpiredUsesPartialIndex(t *testing.T) {
	schemaURL, _ := newSchema(t)
	openStore(t, schemaURL, Options{})
	conn := connect(t, adminURL(t, schemaURL))

	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// With sequential scans priced out, the planner picks the index if its
	// predicate matches the query's phase list.
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		t.Fatalf("disable sequential scans: %v", err)
	}
	rows, err := tx.Query(ctx, "EXPLAIN "+listExpiredSQL, time.Now(), 10)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read plan: %v", err)
	}
	plan := strings.Join(lines, "\n")
	if !strings.Contains(plan, "authorizations_expired_lease_idx") {
		t.Errorf("plan does not use authorizations_expired_lease_idx:\n%s", plan)
	}
	if strings.Contains(plan, "Sort") {
		t.Errorf("plan sorts, want the index order:\n%s", plan)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"deadline", context.DeadlineExceeded, true},
		{"wrapped deadline", fmt.Errorf("acquire: %w", context.DeadlineExceeded), true},
		{"canceled", context.Canceled, false},
		{"closed pool", puddle.ErrClosedPool, true},
		{"closed connection", fmt.Errorf("query: %w", pgconn.ErrConnClosed), true},
		{"network error", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"refused", syscall.ECONNREFUSED, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"terminated by administrator", &pgconn.PgError{Code: "57P01"}, true},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, true},
		{"read-only after failover", &pgconn.PgError{Code: "25006"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"check violation", &pgconn.PgError{Code: "23514"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"no rows", pgx.ErrNoRows, false},
		{"plain error", errors.New("scan: cannot convert"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := classify("op", tc.err)
			if got := errors.Is(err, store.ErrUnavailable); got != tc.unavailable {
				t.Errorf("classify(%v) wraps ErrUnavailable = %v, want %v", tc.err, got, tc.unavailable)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("classify(%v) = %v, want it to wrap the cause", tc.err, err)
			}
		})
	}
	if err := classify("op", nil); err != nil {
		t.Errorf("classify(nil) = %v, want nil", err)
	}
}
