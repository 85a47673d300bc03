package pgstore

import (
	"cmp"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The schema is changed by a small forward-only runner rather than a
// migration library. The store has one table and migrations never go down,
// so the runner is one transaction of a few statements. A library would add
// a dependency and its own table conventions for no gain.

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockID is the key of the transaction-level advisory lock that
// serializes migrations, so that tasks starting together apply each version
// once. Every session of one database shares the advisory lock keys, so
// this one spells "procmigr" in ASCII to stay clear of other applications.
const migrationLockID int64 = 0x70726f636d696772

// migration is one versioned SQL file, named NNNN_description.sql.
type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

// loadMigrations reads the *.sql files of dir in fsys, ordered by version.
// It rejects a file whose name does not follow NNNN_description.sql and two
// files with one version.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var migrations []migration
	for _, entry := range entries {
		match := migrationName.FindStringSubmatch(entry.Name())
		if match == nil {
			return nil, fmt.Errorf("migration file %q: name does not match NNNN_description.sql", entry.Name())
		}
		version, err := strconv.Atoi(match[1])
		if err != nil {
			return nil, fmt.Errorf("migration file %q: version: %w", entry.Name(), err)
		}
		sql, err := fs.ReadFile(fsys, path.Join(dir, entry.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", entry.Name(), err)
		}
		migrations = append(migrations, migration{version: version, name: entry.Name(), sql: string(sql)})
	}
	slices.SortFunc(migrations, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	for i := 1; i < len(migrations); i++ {
		if migrations[i].version == migrations[i-1].version {
			return nil, fmt.Errorf("migration files %q and %q share version %d", migrations[i-1].name, migrations[i].name, migrations[i].version)
		}
	}
	return migrations, nil
}

// migrate applies the migrations that schema_migrations does not list, in
// one transaction that holds the migration lock, within timeout. A task
// that waits for the lock finds the versions applied by the task that held
// it and applies nothing.
//
// NOTE: versions in schema_migrations that this binary does not know (a
// newer task migrated the database before a rollback) are ignored, so every
// migration must leave the schema usable by the previous release.
func migrate(ctx context.Context, pool *pgxpool.Pool, migrations []migration, timeout time.Duration) (err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	tx, err := pool.Begin(ctx)
	if err != nil {
		return classify("migrate: begin", err)
	}
	defer func() {
		if err != nil {
			// The rollback error adds nothing to err, and a lost connection
			// ends the transaction on the server anyway.
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()

	// The server's statement timeout for store queries is QueryTimeout,
	// too short for waiting on the lock or building an index.
	statementTimeout := strconv.FormatInt(timeout.Milliseconds(), 10)
	if _, err := tx.Exec(ctx, "SELECT set_config('statement_timeout', $1, true)", statementTimeout); err != nil {
		return classify("migrate: set statement timeout", err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockID); err != nil {
		return classify("migrate: take the migration lock", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return classify("migrate: create schema_migrations", err)
	}
	applied, err := appliedVersions(ctx, tx)
	if err != nil {
		return err
	}

	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		// Exec without arguments uses the simple query protocol, which
		// runs every statement of the file.
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return classify(fmt.Sprintf("migrate: apply %s", m.name), err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return classify(fmt.Sprintf("migrate: record %s", m.name), err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return classify("migrate: commit", err)
	}
	return nil
}

func appliedVersions(ctx context.Context, tx pgx.Tx) (map[int]bool, error) {
	rows, err := tx.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, classify("migrate: list applied versions", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, classify("migrate: list applied versions", err)
	}
	applied := make(map[int]bool, len(versions))
	for _, v := range versions {
		applied[int(v)] = true
	}
	return applied, nil
}
