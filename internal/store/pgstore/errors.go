package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/connect-secure-input/processor/internal/store"
)

// classify prefixes err with the operation and wraps it with
// store.ErrUnavailable when it means the database could not be reached or
// did not respond in time. Constraint and logic errors keep their own type
// and never wrap store.ErrUnavailable.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) {
		return fmt.Errorf("pgstore: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("pgstore: %s: %w", op, err)
}

// unavailable reports whether err is a connectivity failure: a refused or
// lost connection, a closed pool, a passed deadline, or a server error
// whose SQLSTATE means the same. A context that the caller canceled does
// not count, because it is no outage.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return unavailableSQLState(pgErr.Code)
	}

	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		return true
	case errors.Is(err, puddle.ErrClosedPool), errors.Is(err, pgconn.ErrConnClosed):
		return true
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// unavailableSQLState reports whether a server error code means that the
// server cannot serve the request now, rather than that the request is
// wrong. The codes and their names are PostgreSQL's SQLSTATE error codes,
// listed in Appendix A of the PostgreSQL documentation.
func unavailableSQLState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"): // connection exception
		return true
	case strings.HasPrefix(code, "53"): // insufficient resources, such as too_many_connections
		return true
	}
	switch code {
	case "57014", // query_canceled: statement_timeout or a cancel request
		"57P01", // admin_shutdown, also sent by pg_terminate_backend
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now: the server is starting or stopping
		"25006": // read_only_sql_transaction: the session reached a reader, as after a writer failover
		return true
	}
	return false
}
