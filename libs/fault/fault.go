// Package fault decides, in one place, whether a failure is worth retrying. Consumers and
// retry loops ask Classify instead of matching errors themselves, so a database or broker
// outage is treated alike everywhere: retried until it passes, never mistaken for bad input.
//
// An error the classifier does not recognise is Unknown and is retried like a transient one.
// Giving up on it would dead-letter or halt on what is most often an outage the classifier has
// not learnt about yet (a new driver error, a wrapped network error), losing or stopping data
// for nothing. Retrying forever loses nothing, and it is visible: the caller reports not ready
// and logs the cause. Input that no retry can fix must be marked with Permanent by the code
// that knows it is bad (a decoder, a validator).
package fault

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	kafkago "github.com/segmentio/kafka-go"
)

// Class is what a failure says about trying again.
type Class uint8

// Classes of failure.
const (
	// Unknown is an error the classifier does not recognise; it is retried like Transient.
	Unknown Class = iota
	// Transient is an outage or a conflict that goes away by itself: retry.
	Transient
	// Permanent is a failure no retry can fix, such as an undecodable message.
	Permanent
)

// String names the class for logs.
func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	default:
		return "unknown"
	}
}

// Retry reports whether a failure of this class is worth retrying: all but Permanent are.
func (c Class) Retry() bool { return c != Permanent }

// ErrPermanent marks an error that no retry can fix. Check for it with errors.Is; mark errors
// with MarkPermanent.
var ErrPermanent = errors.New("permanent error")

// MarkPermanent marks err as permanent, whatever it wraps. MarkPermanent(nil) is nil.
func MarkPermanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string        { return e.err.Error() }
func (e *permanentError) Unwrap() error        { return e.err }
func (e *permanentError) Is(target error) bool { return target == ErrPermanent }

// PostgreSQL SQLSTATE codes and classes that say something about retrying; see
// https://www.postgresql.org/docs/current/errcodes-appendix.html.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgAdminShutdown        = "57P01"
	pgCrashShutdown        = "57P02"
	pgCannotConnectNow     = "57P03" // starting up, shutting down or in recovery
	pgClassConnection      = "08"
	pgClassResources       = "53" // disk full, out of memory, too many connections
	pgClassData            = "22" // a value the schema rejects: retrying the same value cannot help
)

// Classify returns the class of err; nil is Unknown. An explicit mark wins over what err wraps:
// the code that marked it knew more.
func Classify(err error) Class {
	if err == nil {
		return Unknown
	}
	if errors.Is(err, ErrPermanent) {
		return Permanent
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return classifyPg(pgErr.Code)
	}
	if transient(err) {
		return Transient
	}
	return Unknown
}

// IsPermanent reports whether err is a failure no retry can fix.
func IsPermanent(err error) bool { return Classify(err) == Permanent }

func classifyPg(code string) Class {
	switch code {
	case pgSerializationFailure, pgDeadlockDetected, pgAdminShutdown, pgCrashShutdown, pgCannotConnectNow:
		return Transient
	}
	if len(code) < 2 {
		return Unknown
	}
	switch code[:2] {
	case pgClassConnection, pgClassResources:
		return Transient
	case pgClassData:
		return Permanent
	}
	// Constraint violations, missing tables and the like are bugs or deployments in progress:
	// Unknown keeps them retried and visible rather than dropping the message.
	return Unknown
}

// transient recognises outages of the network, the database connection and the broker.
func transient(err error) bool {
	// A handler's own timeout: the database or broker was too slow this time. Cancellation is
	// not here: the consumer does not cancel handlers, so it means nothing about the next try.
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	// EOF mid-conversation is a connection cut by the peer; decoders that hit EOF in a payload
	// mark their error permanent, which is checked before this.
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	for _, errno := range []syscall.Errno{
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.ETIMEDOUT,
	} {
		if errors.Is(err, errno) {
			return true
		}
	}
	if netErr, ok := errors.AsType[net.Error](err); ok && netErr.Timeout() {
		return true
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true // dial, read or write on a socket: the peer or the path is away
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return true
	}
	if kerr, ok := errors.AsType[kafkago.Error](err); ok {
		switch kerr {
		case kafkago.BrokerNotAvailable, kafkago.LeaderNotAvailable, kafkago.NotLeaderForPartition,
			kafkago.GroupCoordinatorNotAvailable, kafkago.NotCoordinatorForGroup,
			kafkago.GroupLoadInProgress, kafkago.RebalanceInProgress, kafkago.RequestTimedOut,
			kafkago.NetworkException, kafkago.NotEnoughReplicas, kafkago.NotEnoughReplicasAfterAppend:
			return true
		}
		return kerr.Temporary()
	}
	if t, ok := errors.AsType[interface {
		error
		Temporary() bool
	}](err); ok && t.Temporary() {
		return true
	}
	return false
}
