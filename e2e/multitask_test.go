package e2e

// Tests of the guarantees that hold when two or more processor tasks share
// one PostgreSQL database. Across tasks, one idempotency key makes one
// gateway authorization, any task serves a status lookup, and a task killed
// in the middle of an authorization is recovered by another. A lost
// database connection gives store_unavailable, and migrations may run
// concurrently. Every test runs real processor binaries
// (PROCESSOR_STORE=postgres) against a database of its own on the local
// PostgreSQL server. The processors share a simulator gateway over HTTP
// (package simhttp), so the simulator's counts are the gateway's.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/connect-secure-input/processor/internal/gateway/simulator"
	"github.com/connect-secure-input/processor/internal/gateway/simulator/simhttp"
	"github.com/connect-secure-input/processor/internal/testkit/vectors"
)

// defaultAdminDatabaseURL is the local server and maintenance database
// that the tests connect to, to create and drop their own databases, unless
// PROCESSOR_TEST_DATABASE_URL names another one. The role must be allowed to
// create databases.
const defaultAdminDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// postgresStartHint is the command that starts the local server, for the
// failure message when it is down.
const postgresStartHint = "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start" +
	" (or point PROCESSOR_TEST_DATABASE_URL at a server you started)"

// Timeouts of the multi-task tests.
const (
	// queryTimeout bounds one query of a test.
	queryTimeout = 10 * time.Second
	// phaseTimeout bounds the wait for a record to reach a phase that a
	// running processor moves it to within milliseconds.
	phaseTimeout = 10 * time.Second
	// recoveryTimeout bounds the wait for another task to recover a killed
	// task's authorization: the lease (PROCESSOR_SAD_TTL plus
	// PROCESSOR_LEASE_MARGIN, 5 seconds below) plus a few recovery passes.
	recoveryTimeout = 20 * time.Second
	// readyzTimeout bounds the wait for /readyz to report a store outage.
	// The service checks the store every 10 seconds, each check bounded by
	// 2 seconds.
	readyzTimeout = 25 * time.Second
)

// claimStatement is the start of the SQL statement with which pgstore
// claims an idempotency key. pgx (v5, statement cache mode) sends the text
// when it prepares the statement on a connection for the first time, so the
// proxy below can cut the connections when a task's first claim reaches the
// database. Later claims on that connection send only the statement name.
const claimStatement = "INSERT INTO authorizations"

// TestMultitaskConcurrentRepeatsAuthorizeOnce sends 50 requests with one
// idempotency key at once, split between two tasks, and expects one
// gateway authorization and the same response body fields for all of them.
func TestMultitaskConcurrentRepeatsAuthorizeOnce(t *testing.T) {
	c := newCluster(t)
	a := c.startProcessor(t, "task-a", nil)
	b := c.startProcessor(t, "task-b", nil)

	const key = "multitask-concurrent"
	body, err := json.Marshal(authorizationBody(key, 1050,
		a.EncryptDTMF(t, panApproved), a.EncryptDTMF(t, futureExpiry()), a.EncryptDTMF(t, cvvVisa)))
	if err != nil {
		t.Fatal(err)
	}
	clients := []*Client{a.Client(t), b.Client(t)}

	const requests = 50
	responses := make([]Response, requests)
	errs := make([]error, requests)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			<-start
			responses[i], errs[i] = clients[i%len(clients)].Send(http.MethodPost, "/v1/authorizations", body)
		})
	}
	close(start)
	wg.Wait()

	created := 0
	var first map[string]any
	for i, resp := range responses {
		if errs[i] != nil {
			t.Errorf("request %d: %v", i, errs[i])
			continue
		}
		if resp.Status != http.StatusCreated && resp.Status != http.StatusOK {
			t.Errorf("request %d: status = %d, want 200 or 201: %s", i, resp.Status, resp.Body)
			continue
		}
		if resp.Status == http.StatusCreated {
			created++
		}
		got := resp.JSON(t)
		if got["status"] != "approved" {
			t.Errorf("request %d: status = %v, want approved: %s", i, got["status"], resp.Body)
		}
		if first == nil {
			first = got
			continue
		}
		for _, field := range []string{"id", "status", "gatewayReference", "authorizationCode"} {
			if got[field] != first[field] {
				t.Errorf("request %d: %s = %v, want %v as in the other responses", i, field, got[field], first[field])
			}
		}
	}
	if created != 1 {
		t.Errorf("%d answers were 201 Created, want exactly 1 (the others 200 replays)", created)
	}
	if got := c.stats(t).Authorizations; got != 1 {
		t.Errorf("gateway authorizations = %d, want 1", got)
	}
	if rec := c.db.record(t, key); rec.Phase != "approved" {
		t.Errorf("stored phase = %q, want approved", rec.Phase)
	}
}

// TestMultitaskStatusLookupOnOtherTask authorizes on one task and looks the
// authorization up on the other.
func TestMultitaskStatusLookupOnOtherTask(t *testing.T) {
	c := newCluster(t)
	a := c.startProcessor(t, "task-a", nil)
	b := c.startProcessor(t, "task-b", nil)

	const key = "multitask-lookup"
	created := a.Client(t).Post("/v1/authorizations", authorizationBody(key, 2500,
		a.EncryptDTMF(t, panApproved), a.EncryptDTMF(t, futureExpiry()), ""))
	if created.Status != http.StatusCreated {
		t.Fatalf("authorization on task A: status = %d, want 201: %s", created.Status, created.Body)
	}

	onA := a.Client(t).Get("/v1/authorizations/" + key)
	onB := b.Client(t).Get("/v1/authorizations/" + key)
	if onB.Status != http.StatusOK {
		t.Fatalf("lookup on task B: status = %d, want 200: %s", onB.Status, onB.Body)
	}
	if onA.Status != http.StatusOK {
		t.Fatalf("lookup on task A: status = %d, want 200: %s", onA.Status, onA.Body)
	}
	if !bytes.Equal(onB.Body, onA.Body) {
		t.Errorf("lookup on task B = %s, want the body of task A's lookup %s", onB.Body, onA.Body)
	}

	// The response to the request also carries the expiry date, which
	// records do not keep. Every other field is the record's.
	want := created.JSON(t)
	card, _ := want["card"].(map[string]any)
	delete(card, "expiry")
	got := onB.JSON(t)
	for field, value := range want {
		if fmt.Sprint(got[field]) != fmt.Sprint(value) {
			t.Errorf("lookup on task B: %s = %v, want %v from the authorization", field, got[field], value)
		}
	}
	if got["status"] != "approved" {
		t.Errorf("lookup on task B: status = %v, want approved", got["status"])
	}
}

// TestMultitaskKilledTaskRecovered kills a task (SIGKILL) while its gateway
// call is in flight, after the simulator authorized, and expects the other
// task to void the orphan authorization once the lease has ended.
func TestMultitaskKilledTaskRecovered(t *testing.T) {
	c := newCluster(t)
	// The lease ends 5 seconds after the claim. Task A would respond pending
	// after the 3-second budget, and the test kills it long before. The
	// budget must stay below PROCESSOR_SAD_TTL.
	env := map[string]string{
		"PROCESSOR_REQUEST_BUDGET":    "3s",
		"PROCESSOR_SAD_TTL":           "4s",
		"PROCESSOR_LEASE_MARGIN":      "1s",
		"PROCESSOR_RECOVERY_INTERVAL": "200ms",
	}
	a := c.startProcessor(t, "task-a", env)
	b := c.startProcessor(t, "task-b", env)

	const key = "multitask-killed"
	body := authorizationBody(key, 4599, a.EncryptDTMF(t, panSilent), a.EncryptDTMF(t, futureExpiry()), a.EncryptDTMF(t, cvvVisa))
	clientA := a.Client(t)
	responded := make(chan error, 1)
	go func() {
		resp, err := clientA.Send(http.MethodPost, "/v1/authorizations", body)
		if err == nil {
			err = fmt.Errorf("task A responded %d before it was killed: %s", resp.Status, resp.Body)
		}
		responded <- err
	}()

	// Kill task A once the record is in gateway_sent and the simulator has
	// recorded the authorization, whose response never comes.
	if !waitFor(phaseTimeout, func() bool {
		return c.db.record(t, key).Phase == "gateway_sent" && c.stats(t).Authorizations == 1
	}) {
		t.Fatalf("record phase = %q and gateway authorizations = %d after %s, want gateway_sent and 1",
			c.db.record(t, key).Phase, c.stats(t).Authorizations, phaseTimeout)
	}
	a.Kill()
	if err := <-responded; err == nil || strings.Contains(err.Error(), "before it was killed") {
		t.Fatalf("request to task A: %v, want a connection error from the killed task", err)
	}
	orphan := c.db.record(t, key)
	if orphan.Phase != "gateway_sent" || orphan.Owner != "task-a" {
		t.Fatalf("record after the kill = %+v, want phase gateway_sent owned by task-a", orphan)
	}

	if !waitFor(recoveryTimeout, func() bool { return c.db.record(t, key).Phase == "voided" }) {
		t.Fatalf("record phase = %q after %s, want voided by task B's recovery:\n%s",
			c.db.record(t, key).Phase, recoveryTimeout, tail(b.Stderr(), 20))
	}
	recovered := c.db.record(t, key)
	if recovered.FailureReason != "recovered_voided" {
		t.Errorf("failure reason = %q, want recovered_voided", recovered.FailureReason)
	}
	if recovered.Owner != "task-b" {
		t.Errorf("owner = %q, want task-b", recovered.Owner)
	}
	if got := c.stats(t); got != (simhttp.Stats{Authorizations: 1, Voids: 1}) {
		t.Errorf("gateway stats = %+v, want 1 authorization and 1 void", got)
	}

	lookup := b.Client(t).Get("/v1/authorizations/" + key)
	if lookup.Status != http.StatusOK {
		t.Fatalf("lookup on task B: status = %d, want 200: %s", lookup.Status, lookup.Body)
	}
	got := lookup.JSON(t)
	if got["status"] != "failed" || got["failureReason"] != "recovered_voided" {
		t.Errorf("lookup on task B = %s, want status failed with failureReason recovered_voided", lookup.Body)
	}
	if got["id"] != recovered.ID {
		t.Errorf("lookup id = %v, want the record's %s", got["id"], recovered.ID)
	}
	b.WaitForLog(t, phaseTimeout, "about the recovery void", func(l LogLine) bool {
		return l.Message() == "voided an authorization whose caller never received its outcome"
	})
}

// TestMultitaskLostDatabaseConnection cuts a task's database connections
// when its claim of an idempotency key reaches the database, and expects
// 503 store_unavailable without a gateway call, working validations, a
// degraded /readyz, and a successful retry once the database is back.
func TestMultitaskLostDatabaseConnection(t *testing.T) {
	c := newCluster(t)
	proxy := startDBProxy(t, c.db.serverAddr)
	p := c.startProcessor(t, "task-proxied", map[string]string{
		"PROCESSOR_DATABASE_URL": c.db.urlVia(proxy.Addr()),
		// Recovery reads the store too. With a long interval, only the
		// checks of /readyz and the requests below use it.
		"PROCESSOR_RECOVERY_INTERVAL": "10m",
	})
	client := p.Client(t)
	if _, before := readiness(t, p); before.Checks["store"] != "ok" {
		t.Fatalf("/readyz store check = %q before the outage, want ok", before.Checks["store"])
	}

	const key = "multitask-lost-database"
	body := authorizationBody(key, 1050, p.EncryptDTMF(t, panApproved), p.EncryptDTMF(t, futureExpiry()), "")
	proxy.CutOn([]byte(claimStatement))
	resp := client.Post("/v1/authorizations", body)
	if resp.Status != http.StatusServiceUnavailable || resp.ErrorCode() != "store_unavailable" {
		t.Fatalf("authorization during the outage = %d %s, want 503 store_unavailable", resp.Status, resp.Body)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 store_unavailable has no Retry-After header")
	}
	var envelope struct {
		Error struct {
			Retryable bool `json:"retryable"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Body, &envelope); err != nil || !envelope.Error.Retryable {
		t.Errorf("error envelope = %s, want retryable true", resp.Body)
	}
	if !proxy.Triggered() {
		t.Error("the claim never reached the proxy, so the connection was not lost in the middle of the request")
	}
	if got := c.stats(t).Authorizations; got != 0 {
		t.Errorf("gateway authorizations = %d during the outage, want 0", got)
	}

	validation := client.Post("/v1/validations", map[string]any{"field": "pan", "ciphertext": p.EncryptDTMF(t, panApproved)})
	if validation.Status != http.StatusOK || validation.JSON(t)["valid"] != true {
		t.Errorf("validation during the outage = %d %s, want 200 valid", validation.Status, validation.Body)
	}

	var readyz Response
	var state readinessBody
	if !waitFor(readyzTimeout, func() bool {
		readyz, state = readiness(t, p)
		return state.Checks["store"] == "unavailable"
	}) {
		t.Fatalf("/readyz = %d %s after %s, want the store reported unavailable", readyz.Status, readyz.Body, readyzTimeout)
	}
	if readyz.Status != http.StatusOK {
		t.Errorf("/readyz status during the outage = %d, want 200: validations still work", readyz.Status)
	}
	if state.Status != "degraded" {
		t.Errorf("/readyz status field during the outage = %q, want degraded", state.Status)
	}

	// Nothing was recorded or charged, so a retry with the same key
	// authorizes once the database is back. The first retries may still
	// meet pooled connections that the proxy cut.
	proxy.Restore()
	var retry Response
	if !waitFor(phaseTimeout, func() bool {
		retry = client.Post("/v1/authorizations", body)
		return retry.Status != http.StatusServiceUnavailable
	}) {
		t.Fatalf("retry after the outage = %d %s for %s, want an answer from the store", retry.Status, retry.Body, phaseTimeout)
	}
	if retry.Status != http.StatusCreated || retry.JSON(t)["status"] != "approved" {
		t.Errorf("retry after the outage = %d %s, want 201 approved", retry.Status, retry.Body)
	}
	if got := c.stats(t).Authorizations; got != 1 {
		t.Errorf("gateway authorizations after the retry = %d, want 1", got)
	}
}

// TestMultitaskConcurrentMigrations starts two tasks at once on an empty
// database, so both run the migrations together.
func TestMultitaskConcurrentMigrations(t *testing.T) {
	c := newCluster(t)
	t.Run("start together", func(t *testing.T) {
		for _, task := range []string{"task-a", "task-b"} {
			t.Run(task, func(t *testing.T) {
				t.Parallel()
				p := c.startProcessor(t, task, nil)
				if _, state := readiness(t, p); state.Checks["store"] != "ok" {
					t.Errorf("/readyz store check = %q, want ok", state.Checks["store"])
				}
				if code, _ := p.Stop(t); code != 0 {
					t.Errorf("exit code after SIGTERM = %d, want 0:\n%s", code, tail(p.Stderr(), 20))
				}
			})
		}
	})

	want := migrationVersions(t)
	got := c.db.appliedMigrations(t)
	if !slices.Equal(got, want) {
		t.Errorf("schema_migrations versions = %v, want each of %v once", got, want)
	}
	if n := c.db.count(t, "SELECT count(*) FROM authorizations"); n != 0 {
		t.Errorf("authorizations has %d rows, want an empty table", n)
	}
}

// cluster is what the tasks of one test share: a database, the simulator
// gateway, local-kms, the certificates and the fingerprint key.
type cluster struct {
	db             *testDatabase
	sim            *simhttp.Server
	simClient      *simhttp.Client
	kms            *KMS
	pki            *PKI
	fingerprintKey string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{db: newTestDatabase(t), kms: StartKMS(t), pki: NewPKI(t)}

	sim, err := simulator.New(simulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c.sim, err = simhttp.Serve("127.0.0.1:0", sim); err != nil {
		t.Fatalf("start the simulator server: %v", err)
	}
	t.Cleanup(func() {
		if err := c.sim.Close(); err != nil {
			t.Errorf("stop the simulator server: %v", err)
		}
	})
	if c.simClient, err = simhttp.NewClient(c.sim.URL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.simClient.CloseIdleConnections)

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	c.fingerprintKey = hex.EncodeToString(key)
	return c
}

// startProcessor starts a task with the cluster's store, gateway and keys
// under taskID; env adds or overrides variables.
func (c *cluster) startProcessor(t *testing.T, taskID string, env map[string]string) *Processor {
	t.Helper()
	vars := map[string]string{
		"PROCESSOR_STORE":           "postgres",
		"PROCESSOR_DATABASE_URL":    c.db.url,
		"PROCESSOR_FINGERPRINT_KEY": c.fingerprintKey,
		"PROCESSOR_TASK_ID":         taskID,
		"PROCESSOR_GATEWAY":         "simulator",
		"PROCESSOR_SIMULATOR_URL":   c.sim.URL,
	}
	for name, value := range env {
		vars[name] = value
	}
	return StartProcessor(t, Options{Env: vars, KMS: c.kms, PKI: c.pki})
}

// stats returns the simulator server's counts, read over HTTP as a
// processor would reach it.
func (c *cluster) stats(t *testing.T) simhttp.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	stats, err := c.simClient.Stats(ctx)
	if err != nil {
		t.Fatalf("simulator stats: %v", err)
	}
	return stats
}

// readinessBody is the JSON body of /readyz.
type readinessBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// readiness fetches /readyz and decodes its body.
func readiness(t *testing.T, p *Processor) (Response, readinessBody) {
	t.Helper()
	resp := p.Ops(t, "/readyz")
	var body readinessBody
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		t.Fatalf("/readyz body %s is not JSON: %v", resp.Body, err)
	}
	return resp, body
}

// testDatabase is a database created for one test and dropped after it.
type testDatabase struct {
	// url reaches the database directly.
	url string
	// serverAddr is the server's host:port.
	serverAddr string
	conn       *pgx.Conn
}

// newTestDatabase creates the database processor_e2e_<random> on the test
// server and drops it at the end of the test, after the processors, which
// were started later, have stopped. It fails the test with the command that
// starts the server when the server is down.
func newTestDatabase(t *testing.T) *testDatabase {
	t.Helper()
	adminURL := os.Getenv("PROCESSOR_TEST_DATABASE_URL")
	if adminURL == "" {
		adminURL = defaultAdminDatabaseURL
	}
	parsed, err := url.Parse(adminURL)
	if err != nil {
		t.Fatalf("PROCESSOR_TEST_DATABASE_URL must be a postgres:// URL: %v", err)
	}
	admin := connectDatabase(t, adminURL)

	random := make([]byte, 6)
	_, _ = rand.Read(random)
	name := "processor_e2e_" + hex.EncodeToString(random)
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
		defer cancel()
		// FORCE ends the sessions that a killed processor may have left.
		if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})

	db := &testDatabase{serverAddr: parsed.Host}
	if parsed.Port() == "" {
		db.serverAddr = net.JoinHostPort(parsed.Hostname(), "5432")
	}
	withName := *parsed
	withName.Path = "/" + name
	db.url = withName.String()
	db.conn = connectDatabase(t, db.url)
	return db
}

// connectDatabase opens a connection that is closed at the end of the test.
func connectDatabase(t *testing.T, databaseURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable: %v\n%s", err, postgresStartHint)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
		defer cancel()
		if err := conn.Close(ctx); err != nil {
			t.Errorf("close the test's database connection: %v", err)
		}
	})
	return conn
}

// urlVia returns the database URL with the server address replaced by addr,
// a proxy in front of the server.
func (db *testDatabase) urlVia(addr string) string {
	parsed, err := url.Parse(db.url)
	if err != nil {
		panic(err) // db.url was built from a parsed URL
	}
	parsed.Host = addr
	return parsed.String()
}

// storedRecord is the part of an authorizations row that the tests check.
type storedRecord struct {
	ID            string
	Phase         string
	FailureReason string
	Owner         string
}

// record returns the stored record of key, or the zero storedRecord when
// there is none.
func (db *testDatabase) record(t *testing.T, key string) storedRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	var rec storedRecord
	err := db.conn.QueryRow(ctx, "SELECT id, phase, failure_reason, owner FROM authorizations WHERE idempotency_key = $1", key).
		Scan(&rec.ID, &rec.Phase, &rec.FailureReason, &rec.Owner)
	var pgErr interface{ SQLState() string }
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return storedRecord{}
	case errors.As(err, &pgErr) && pgErr.SQLState() == "42P01":
		return storedRecord{} // undefined_table: no processor has migrated yet
	case err != nil:
		t.Fatalf("read the record of %s: %v", key, err)
	}
	return rec
}

// count runs a query that returns one integer.
func (db *testDatabase) count(t *testing.T, query string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	var n int64
	if err := db.conn.QueryRow(ctx, query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// appliedMigrations returns the versions in schema_migrations, in order,
// repeats included.
func (db *testDatabase) appliedMigrations(t *testing.T) []int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	rows, err := db.conn.Query(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return versions
}

// migrationVersions returns the versions of the migration files that the
// processor embeds, read from their NNNN_ name prefixes.
func migrationVersions(t *testing.T) []int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(vectors.Root(t), "internal", "store", "pgstore", "migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("list the migration files: %v (found %d)", err, len(files))
	}
	var versions []int
	for _, file := range files {
		var version int
		if _, err := fmt.Sscanf(filepath.Base(file), "%04d_", &version); err != nil {
			t.Fatalf("migration file %s has no NNNN_ version prefix: %v", file, err)
		}
		versions = append(versions, version)
	}
	slices.Sort(versions)
	return versions
}

// dbProxy forwards loopback TCP connections to the database server, so a
// test can cut one processor's connections without touching the server or
// the other processors.
type dbProxy struct {
	listener net.Listener
	target   string
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	// refusing makes the proxy close every new connection at once, as a
	// database that is out of reach.
	refusing bool
	// trigger, when set, is the byte string that cuts every connection when
	// a client sends it.
	trigger   []byte
	triggered bool
	closed    bool
}

func startDBProxy(t *testing.T, target string) *dbProxy {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen for the database proxy: %v", err)
	}
	p := &dbProxy{listener: listener, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

// Addr returns the proxy's host:port.
func (p *dbProxy) Addr() string { return p.listener.Addr().String() }

// CutOn arms the proxy: the first client bytes that contain pattern are
// dropped, every connection is cut, and new connections are refused until
// Restore.
func (p *dbProxy) CutOn(pattern []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trigger = pattern
}

// Triggered reports whether a client sent the pattern given to CutOn.
func (p *dbProxy) Triggered() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.triggered
}

// Restore forwards new connections again.
func (p *dbProxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refusing = false
}

func (p *dbProxy) serve() {
	for {
		client, err := p.listener.Accept()
		if err != nil {
			return
		}
		if !p.admit(client) {
			continue
		}
		server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			_ = client.Close()
			continue
		}
		if !p.admit(client, server) {
			continue
		}
		p.wg.Go(func() { p.forward(server, client, true) })
		p.wg.Go(func() { p.forward(client, server, false) })
	}
}

// admit tracks conns, or closes them and returns false while the proxy
// refuses connections or is closed.
func (p *dbProxy) admit(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refusing || p.closed {
		for _, conn := range conns {
			_ = conn.Close()
		}
		return false
	}
	for _, conn := range conns {
		p.conns[conn] = struct{}{}
	}
	return true
}

// forward copies src to dst until either side fails, then closes both so the
// other direction ends too. With inspect set it looks for the trigger in
// what the client sends, across reads.
func (p *dbProxy) forward(dst, src net.Conn, inspect bool) {
	defer p.release(dst, src)
	buf := make([]byte, 32<<10)
	var carry []byte
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if inspect && p.matches(&carry, buf[:n]) {
				p.cut()
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// matches reports whether the armed trigger occurs in carry followed by
// chunk, and keeps the end of chunk in carry for a trigger that spans two
// reads.
func (p *dbProxy) matches(carry *[]byte, chunk []byte) bool {
	p.mu.Lock()
	trigger := p.trigger
	p.mu.Unlock()
	if trigger == nil {
		return false
	}
	window := append(*carry, chunk...)
	if bytes.Contains(window, trigger) {
		return true
	}
	*carry = bytes.Clone(window[max(0, len(window)-len(trigger)+1):])
	return false
}

// cut closes every connection, disarms the trigger and refuses new
// connections until Restore.
func (p *dbProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trigger, p.triggered, p.refusing = nil, true, true
	for conn := range p.conns {
		_ = conn.Close()
	}
	clear(p.conns)
}

func (p *dbProxy) release(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, conn := range conns {
		_ = conn.Close()
		delete(p.conns, conn)
	}
}

// close stops the proxy, cuts every connection and waits for its
// goroutines.
func (p *dbProxy) close() {
	p.mu.Lock()
	p.closed = true
	_ = p.listener.Close()
	for conn := range p.conns {
		_ = conn.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
