// Package pgstore keeps authorization records in PostgreSQL (Amazon Aurora
// PostgreSQL or RDS in production), shared by every task of the service. A
// retry or a status lookup on any task finds the record, and a task can
// recover the authorizations of a task that stopped.
//
// The schema is one table, authorizations, with one row per idempotency key:
// the request fingerprint, amount and currency, merchant reference, contact
// id, the masked card (brand, BIN, last four), the phase, the gateway's
// references and codes, the owner task's lease and timestamps. It contains
// no card data: no PAN, expiry date or CVV, not even encrypted, and CHECK
// constraints reject a BIN or last four longer than masking shows. A second
// table, schema_migrations, lists the applied migrations. Open applies the
// embedded migrations at start-up.
//
// Every error that means the database is out of reach wraps
// store.ErrUnavailable.
package pgstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/connect-secure-input/processor/internal/store"
)

// Defaults for the zero values of Options.
const (
	// DefaultConnectTimeout bounds one connection attempt, TLS included.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultQueryTimeout bounds one store call, waiting for a pooled
	// connection included. An authorization makes a few calls within the
	// 8 seconds that Amazon Connect waits for a Lambda function.
	DefaultQueryTimeout = 2 * time.Second
	// DefaultMaxConns is the pool size of one task.
	DefaultMaxConns = 10
	// DefaultMigrationTimeout bounds the migrations at start-up, waiting for
	// another task's migrations included.
	DefaultMigrationTimeout = time.Minute
	// DefaultApplicationName is the application_name the store's sessions
	// show in pg_stat_activity unless the database URL sets one.
	DefaultApplicationName = "processor"
)

// Options sets the limits of a Store. A zero field takes its default; a
// negative one is rejected. They take precedence over the matching
// parameters of the database URL (connect_timeout, pool_max_conns).
type Options struct {
	// ConnectTimeout bounds one connection attempt. Default
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// QueryTimeout bounds each store call on the client and is the
	// server's statement_timeout for the store's sessions, unless the
	// database URL sets statement_timeout. Default DefaultQueryTimeout.
	QueryTimeout time.Duration
	// MaxConns is the most connections the pool opens. Default
	// DefaultMaxConns.
	MaxConns int32
	// MigrationTimeout bounds the migrations that Open applies. Default
	// DefaultMigrationTimeout.
	MigrationTimeout time.Duration
}

func (o Options) withDefaults() (Options, error) {
	if o.ConnectTimeout < 0 || o.QueryTimeout < 0 || o.MaxConns < 0 || o.MigrationTimeout < 0 {
		return o, fmt.Errorf("pgstore: negative limit in options %+v", o)
	}
	o.ConnectTimeout = cmp.Or(o.ConnectTimeout, DefaultConnectTimeout)
	o.QueryTimeout = cmp.Or(o.QueryTimeout, DefaultQueryTimeout)
	o.MaxConns = cmp.Or(o.MaxConns, DefaultMaxConns)
	o.MigrationTimeout = cmp.Or(o.MigrationTimeout, DefaultMigrationTimeout)
	return o, nil
}

// Store is a store.Store in PostgreSQL, safe for concurrent use by many
// goroutines and many tasks.
type Store struct {
	pool         *pgxpool.Pool
	queryTimeout time.Duration
	now          func() time.Time
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at databaseURL (a postgres:// URL or a
// key=value connection string), applies the migrations and returns a Store.
// Errors from an unreachable database wrap store.ErrUnavailable. The caller
// closes the Store.
func Open(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	config, err := poolConfig(databaseURL, opts)
	if err != nil {
		return nil, err
	}
	migrations, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}

	// NewWithConfig opens no connection; the first one opens in migrate.
	pool, err := pgxpool.NewWithConfig(ctx, config)
	if err != nil {
		return nil, fmt.Errorf("pgstore: create pool: %w", err)
	}
	if err := migrate(ctx, pool, migrations, opts.MigrationTimeout); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool, queryTimeout: opts.QueryTimeout, now: time.Now}, nil
}

// poolConfig parses databaseURL and applies opts. A parse error leaves the
// URL out of its message because the URL may contain a password.
func poolConfig(databaseURL string, opts Options) (*pgxpool.Config, error) {
	config, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		var parseErr *pgconn.ParseConfigError
		if errors.As(err, &parseErr) {
			return nil, errors.New("pgstore: invalid database URL: expected postgres://user@host:5432/database?sslmode=verify-full or key=value pairs (the URL is not shown because it may contain a password)")
		}
		return nil, fmt.Errorf("pgstore: invalid database URL: %w", err)
	}
	config.MaxConns = opts.MaxConns
	config.ConnConfig.ConnectTimeout = opts.ConnectTimeout

	params := config.ConnConfig.RuntimeParams
	if _, ok := params["application_name"]; !ok {
		params["application_name"] = DefaultApplicationName
	}
	// When a context ends mid-statement, pgx (v5.13) closes the connection
	// and sends a cancel request, which is lost if the task dies or the
	// network fails first. The server's own timeout then still ends the
	// statement and releases its locks.
	if _, ok := params["statement_timeout"]; !ok {
		params["statement_timeout"] = strconv.FormatInt(opts.QueryTimeout.Milliseconds(), 10)
	}
	return config, nil
}

// columns lists the authorizations columns in the order scanRecord reads
// them.
const columns = `idempotency_key, id, fingerprint, amount, currency, reference, contact_id,
	card_brand, card_bin, card_last4, phase, gateway_reference, authorization_code,
	decline_code, failure_reason, owner, lease_until, created_at, updated_at`

// inFlightList is store.InFlightPhases as an SQL list. Queries spell the
// phases out rather than pass them as a parameter, so that the planner can
// match the partial index authorizations_expired_lease_idx, whose predicate
// lists the same phases.
var inFlightList = sqlList(store.InFlightPhases)

var (
	claimSQL = `INSERT INTO authorizations (` + columns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING ` + columns

	getSQL = `SELECT ` + columns + ` FROM authorizations WHERE idempotency_key = $1`

	transitionSQL = `UPDATE authorizations SET
			phase = $4,
			gateway_reference = COALESCE(NULLIF($5, ''), gateway_reference),
			authorization_code = COALESCE(NULLIF($6, ''), authorization_code),
			decline_code = COALESCE(NULLIF($7, ''), decline_code),
			failure_reason = COALESCE(NULLIF($8, ''), failure_reason),
			updated_at = $9
		WHERE idempotency_key = $1 AND phase = ANY($2) AND ($3 = '' OR owner = $3)
		RETURNING ` + columns

	renewLeaseSQL = `UPDATE authorizations SET lease_until = $3, updated_at = $4
		WHERE idempotency_key = $1 AND owner = $2`

	listExpiredSQL = `SELECT ` + columns + ` FROM authorizations
		WHERE phase IN (` + inFlightList + `) AND lease_until < $1
		ORDER BY lease_until, created_at, idempotency_key
		LIMIT $2`

	takeOverSQL = `UPDATE authorizations SET owner = $2, lease_until = $4, updated_at = $5
		WHERE idempotency_key = $1 AND lease_until < $3 AND phase IN (` + inFlightList + `)
		RETURNING ` + columns

	// SKIP LOCKED lets tasks that run retention at once delete disjoint
	// batches instead of waiting for each other's row locks.
	deleteOlderThanSQL = `DELETE FROM authorizations WHERE idempotency_key IN (
			SELECT idempotency_key FROM authorizations
			WHERE created_at < $1
			ORDER BY created_at
			LIMIT $2
			FOR UPDATE SKIP LOCKED)`
)

// Claim implements store.Store with INSERT … ON CONFLICT DO NOTHING, then a
// SELECT when the key exists. The SELECT is a separate statement because
// one statement's snapshot would not see a row that a concurrent claim
// committed while the insert waited for it.
func (s *Store) Claim(ctx context.Context, rec store.Record) (store.Record, bool, error) {
	if err := store.ValidateClaim(rec); err != nil {
		return store.Record{}, false, fmt.Errorf("pgstore: %w", err)
	}
	now := store.StoredTime(s.now())
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = now
	}
	ctx, cancel := context.WithTimeout(ctx, s.queryTimeout)
	defer cancel()

	// The loop repeats only when retention deletes the existing record
	// between the two statements, which needs a record past its retention.
	const attempts = 3
	for range attempts {
		stored, err := scanRecord(s.pool.QueryRow(ctx, claimSQL,
			rec.IdempotencyKey, rec.ID, rec.Fingerprint, rec.Amount, rec.Currency, rec.Reference, rec.ContactID,
			rec.Card.Brand, rec.Card.BIN, rec.Card.Last4, string(rec.Phase), rec.GatewayReference, rec.AuthorizationCode,
			rec.DeclineCode, rec.FailureReason, rec.Owner, store.StoredTime(rec.LeaseUntil), store.StoredTime(rec.CreatedAt), now))
		if err == nil {
			return stored, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.Record{}, false, classify(fmt.Sprintf("claim %q", rec.IdempotencyKey), err)
		}

		existing, err := s.get(ctx, rec.IdempotencyKey)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return store.Record{}, false, err
		}
		return existing, false, nil
	}
	return store.Record{}, false, fmt.Errorf("pgstore: claim %q: the key conflicted %d times, but no record was found after each conflict", rec.IdempotencyKey, attempts)
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, s.queryTimeout)
	defer cancel()
	return s.get(ctx, key)
}

func (s *Store) get(ctx context.Context, key string) (store.Record, error) {
	rec, err := scanRecord(s.pool.QueryRow(ctx, getSQL, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Record{}, fmt.Errorf("pgstore: get %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return store.Record{}, classify(fmt.Sprintf("get %q", key), err)
	}
	return rec, nil
}

// Transition implements store.Store with one conditional UPDATE. When it
// matches no row, a second read finds which condition failed. The record may
// have changed in between, and the error then reports the state it read.
func (s *Store) Transition(ctx context.Context, t store.Transition) (store.Record, error) {
	if err := t.Validate(); err != nil {
		return store.Record{}, fmt.Errorf("pgstore: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.queryTimeout)
	defer cancel()

	from := make([]string, len(t.From))
	for i, p := range t.From {
		from[i] = string(p)
	}
	rec, err := scanRecord(s.pool.QueryRow(ctx, transitionSQL,
		t.Key, from, t.Owner, string(t.To),
		t.GatewayReference, t.AuthorizationCode, t.DeclineCode, t.FailureReason,
		store.StoredTime(s.now())))
	if err == nil {
		return rec, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.Record{}, classify(fmt.Sprintf("transition %q", t.Key), err)
	}

	current, err := s.get(ctx, t.Key)
	if err != nil {
		return store.Record{}, err
	}
	if t.Owner != "" && current.Owner != t.Owner {
		return store.Record{}, fmt.Errorf("pgstore: transition %q: %w: owner is %q", t.Key, store.ErrLeaseLost, current.Owner)
	}
	return store.Record{}, fmt.Errorf("pgstore: transition: %w", store.ConflictError(t.Key, current.Phase, t.From))
}

// RenewLease implements store.Store.
func (s *Store) RenewLease(ctx context.Context, key, owner string, until time.Time) error {
	if err := store.ValidateLease(key, owner, until); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.queryTimeout)
	defer cancel()

	tag, err := s.pool.Exec(ctx, renewLeaseSQL, key, owner, store.StoredTime(until), store.StoredTime(s.now()))
	if err != nil {
		return classify(fmt.Sprintf("renew lease %q", key), err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}

	current, err := s.get(ctx, key)
	if err != nil {
		return err
	}
	return fmt.Errorf("pgstore: renew lease %q: %w: owner is %q", key, store.ErrLeaseLost, current.Owner)
}

// ListExpired implements store.Store.
func (s *Store) ListExpired(ctx context.Context, now time.Time, limit int) ([]store.Record, error) {
	if err := store.ValidateLimit("list expired limit", limit); err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.queryTimeout)
	defer cancel()

	rows, err := s.pool.Query(ctx, listExpiredSQL, store.StoredTime(now), limit)
	if err != nil {
		return nil, classify("list expired", err)
	}
	records, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Record, error) {
		return scanRecord(row)
	})
	if err != nil {
		return nil, classify("list expired", err)
	}
	return records, nil
}

// TakeOver implements store.Store with one conditional UPDATE. Of
// concurrent takers, the first locks the row and extends the lease. The
// others wait for that lock, find a live lease when PostgreSQL re-checks
// the condition, and update nothing.
func (s *Store) TakeOver(ctx context.Context, key, owner string, now, until time.Time) (store.Record, error) {
	if err := store.ValidateTakeOver(key, owner, now, until); err != nil {
		return store.Record{}, fmt.Errorf("pgstore: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.queryTimeout)
	defer cancel()

	rec, err := scanRecord(s.pool.QueryRow(ctx, takeOverSQL,
		key, owner, store.StoredTime(now), store.StoredTime(until), store.StoredTime(s.now())))
	if err == nil {
		return rec, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.Record{}, classify(fmt.Sprintf("take over %q", key), err)
	}

	current, err := s.get(ctx, key)
	if err != nil {
		return store.Record{}, err
	}
	if current.Phase.Terminal() {
		return store.Record{}, fmt.Errorf("pgstore: take over: %w", store.ConflictError(key, current.Phase, store.InFlightPhases))
	}
	return store.Record{}, fmt.Errorf("pgstore: take over %q: %w: owner %q has a lease until %s",
		key, store.ErrLeaseLost, current.Owner, current.LeaseUntil.Format(time.RFC3339Nano))
}

// DeleteOlderThan implements store.Store, oldest records first.
func (s *Store) DeleteOlderThan(ctx context.Context, cutoff time.Time, batch int) (int, error) {
	if err := store.ValidateLimit("delete batch", batch); err != nil {
		return 0, fmt.Errorf("pgstore: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.queryTimeout)
	defer cancel()

	tag, err := s.pool.Exec(ctx, deleteOlderThanSQL, store.StoredTime(cutoff), batch)
	if err != nil {
		return 0, classify("delete older than", err)
	}
	return int(tag.RowsAffected()), nil
}

// Ping implements store.Store: it acquires a connection and sends an empty
// query.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.queryTimeout)
	defer cancel()
	return classify("ping", s.pool.Ping(ctx))
}

// Close implements store.Store: it closes the pool's connections, waiting
// for the ones in use to be released.
func (s *Store) Close() {
	s.pool.Close()
}

// scanRecord reads one row of columns. Times come back in UTC.
func scanRecord(row pgx.Row) (store.Record, error) {
	var rec store.Record
	var phase string
	err := row.Scan(
		&rec.IdempotencyKey, &rec.ID, &rec.Fingerprint, &rec.Amount, &rec.Currency, &rec.Reference, &rec.ContactID,
		&rec.Card.Brand, &rec.Card.BIN, &rec.Card.Last4, &phase, &rec.GatewayReference, &rec.AuthorizationCode,
		&rec.DeclineCode, &rec.FailureReason, &rec.Owner, &rec.LeaseUntil, &rec.CreatedAt, &rec.UpdatedAt,
	)
	if err != nil {
		return store.Record{}, err
	}
	rec.Phase = store.Phase(phase)
	rec.LeaseUntil = store.StoredTime(rec.LeaseUntil)
	rec.CreatedAt = store.StoredTime(rec.CreatedAt)
	rec.UpdatedAt = store.StoredTime(rec.UpdatedAt)
	return rec, nil
}

// sqlList returns phases as a list of SQL string literals. Phase values are
// fixed lower-case words, so quoting them needs no escaping.
func sqlList(phases []store.Phase) string {
	quoted := make([]string, len(phases))
	for i, p := range phases {
		quoted[i] = "'" + string(p) + "'"
	}
	return strings.Join(quoted, ", ")
}
