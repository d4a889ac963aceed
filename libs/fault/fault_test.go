package fault_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/bcosdata/bcosdata/libs/fault"
)

// closedPort returns a loopback address nothing listens on, for real connection errors.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestClassify(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	_, dialErr := net.Dial("tcp", addr)
	if dialErr == nil {
		t.Fatalf("dial %s: connected, want a refusal", addr)
	}
	_, pgConnectErr := pgx.Connect(t.Context(), "postgres://postgres@"+addr+"/db?sslmode=disable&connect_timeout=5")
	if _, ok := errors.AsType[*pgconn.ConnectError](pgConnectErr); !ok {
		t.Fatalf("pgx.Connect to a closed port: %T %v, want a *pgconn.ConnectError", pgConnectErr, pgConnectErr)
	}
	timeoutCtx, cancel := context.WithTimeout(t.Context(), time.Nanosecond)
	defer cancel()
	<-timeoutCtx.Done()
	pg := func(code string) error {
		return fmt.Errorf("insert block 7: %w", &pgconn.PgError{Severity: "ERROR", Code: code, Message: "x"})
	}

	tests := []struct {
		name string
		err  error
		want fault.Class
	}{
		{"nil", nil, fault.Unknown},
		{"plain error", errors.New("boom"), fault.Unknown},
		{"marked permanent", fault.MarkPermanent(errors.New("bad payload")), fault.Permanent},
		{"permanent wins over a network error", fault.MarkPermanent(dialErr), fault.Permanent},
		{"wrapped permanent", fmt.Errorf("decode block: %w", fault.MarkPermanent(io.ErrUnexpectedEOF)), fault.Permanent},
		{"connection refused", fmt.Errorf("apply: %w", dialErr), fault.Transient},
		{"ECONNRESET", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, fault.Transient},
		{"EPIPE", os.NewSyscallError("write", syscall.EPIPE), fault.Transient},
		{"io.EOF", fmt.Errorf("read reply: %w", io.EOF), fault.Transient},
		{"unexpected EOF", io.ErrUnexpectedEOF, fault.Transient},
		{"net timeout", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, fault.Transient},
		{"handler timeout", fmt.Errorf("query: %w", timeoutCtx.Err()), fault.Transient},
		{"cancelled", context.Canceled, fault.Unknown},
		{"pgconn connect error", pgConnectErr, fault.Transient},
		{"pg serialization failure", pg("40001"), fault.Transient},
		{"pg deadlock", pg("40P01"), fault.Transient},
		{"pg connection failure 08006", pg("08006"), fault.Transient},
		{"pg connection does not exist 08003", pg("08003"), fault.Transient},
		{"pg admin shutdown", pg("57P01"), fault.Transient},
		{"pg crash shutdown", pg("57P02"), fault.Transient},
		{"pg cannot connect now", pg("57P03"), fault.Transient},
		{"pg disk full", pg("53100"), fault.Transient},
		{"pg too many connections", pg("53300"), fault.Transient},
		{"pg numeric out of range", pg("22003"), fault.Permanent},
		{"pg invalid text representation", pg("22P02"), fault.Permanent},
		{"pg unique violation", pg("23505"), fault.Unknown},
		{"pg undefined table", pg("42P01"), fault.Unknown},
		{"pg query canceled", pg("57014"), fault.Unknown},
		{"kafka leader not available", fmt.Errorf("fetch: %w", kafkago.LeaderNotAvailable), fault.Transient},
		{"kafka broker not available", kafkago.BrokerNotAvailable, fault.Transient},
		{"kafka not coordinator", kafkago.NotCoordinatorForGroup, fault.Transient},
		{"kafka rebalance in progress", kafkago.RebalanceInProgress, fault.Transient},
		{"kafka temporary", kafkago.UnknownTopicOrPartition, fault.Transient},
		{"kafka message too large", kafkago.MessageSizeTooLarge, fault.Unknown},
		{"kafka topic authorization", kafkago.TopicAuthorizationFailed, fault.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := fault.Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%T %v) = %v, want %v", tt.err, tt.err, got, tt.want)
			}
			if got, want := fault.IsPermanent(tt.err), tt.want == fault.Permanent; got != want {
				t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, want)
			}
			if got, want := fault.Classify(tt.err).Retry(), tt.want != fault.Permanent; got != want {
				t.Errorf("Classify(%v).Retry() = %v, want %v", tt.err, got, want)
			}
		})
	}
}

func TestMarkPermanent(t *testing.T) {
	t.Parallel()
	if fault.MarkPermanent(nil) != nil {
		t.Error("MarkPermanent(nil) != nil")
	}
	cause := errors.New("cannot decode payload")
	err := fault.MarkPermanent(cause)
	if !errors.Is(err, fault.ErrPermanent) || !errors.Is(err, cause) || err.Error() != cause.Error() {
		t.Errorf("MarkPermanent(%v) = %v: want ErrPermanent, the cause, and the cause's text", cause, err)
	}
}
