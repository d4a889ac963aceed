package kafka

import (
	"errors"
	"fmt"
)

// ErrConfig is wrapped by the errors NewConsumer returns for an unusable configuration.
var ErrConfig = errors.New("invalid kafka configuration")

// ErrConsumerClosed is returned by Run when the consumer was closed or already run: a Consumer
// owns one group membership and runs once.
var ErrConsumerClosed = errors.New("kafka consumer closed")

// ErrPermanent marks a handler error that no retry can fix, such as an undecodable payload.
// Check for it with errors.Is; mark errors with Permanent.
var ErrPermanent = errors.New("permanent error")

// Permanent marks err as permanent, so the Consumer skips the remaining attempts for the message
// and dead-letters it at once (or stops, without a dead-letter topic). Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string        { return e.err.Error() }
func (e *permanentError) Unwrap() error        { return e.err }
func (e *permanentError) Is(target error) bool { return target == ErrPermanent }

// ApplyError reports a message the handler could not apply within its attempts. Run returns it
// when no dead-letter topic is configured; the message's offset was not committed, so the group
// starts at this message again.
type ApplyError struct {
	Topic     string
	Partition int
	Offset    int64
	Attempts  int
	Err       error
}

// Error names the message and the cause.
func (e *ApplyError) Error() string {
	return fmt.Sprintf("apply message of topic %s partition %d at offset %d after %d attempts: %v",
		e.Topic, e.Partition, e.Offset, e.Attempts, e.Err)
}

// Unwrap returns the handler's error.
func (e *ApplyError) Unwrap() error { return e.Err }
