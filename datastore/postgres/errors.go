package postgres

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

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/tuples"
)

// classify returns err, wrapped with datastore.ErrUnavailable when it says
// that the database could not be reached (a refused or lost connection, a
// server shutting down or not yet accepting connections).
func classify(err error) error {
	if err == nil || errors.Is(err, datastore.ErrUnavailable) {
		return err
	}
	if errors.Is(err, puddle.ErrClosedPool) {
		return tuples.ErrClosed
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", datastore.ErrUnavailable, err)
	}
	return err
}

func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The caller's context ended (pgx reports a cancelled query as
		// such); that is not the database's fault.
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"): // connection_exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin/crash shutdown, cannot connect now
			return true
		case pe.Code == "53300": // too_many_connections
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne):
		return true
	case errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed):
		return true
	}
	return pgconn.SafeToRetry(err)
}

// retryable reports whether a read that failed with err may be tried again
// on another connection: the connection broke (a pooled connection left
// over from before a server restart), and nothing says the server is gone.
func retryable(err error) bool {
	return unavailable(err)
}
