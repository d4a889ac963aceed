package kafka

import (
	"errors"
	"fmt"

	"github.com/bcosdata/bcosdata/libs/fault"
)

// ErrConfig is wrapped by the errors NewConsumer returns for an unusable configuration.
var ErrConfig = errors.New("invalid kafka configuration")

// ErrConsumerClosed is returned by Run when the consumer was closed or already run: a Consumer
// owns one group membership and runs once.
var ErrConsumerClosed = errors.New("kafka consumer closed")

// ErrPermanent marks a handler error that no retry can fix, such as an undecodable payload.
// It is fault.ErrPermanent, so fault.Classify and errors.Is agree on it; mark errors with
// Permanent.
var ErrPermanent = fault.ErrPermanent

// Permanent marks err as permanent, so the Consumer does not retry the message: it
// dead-letters it, or halts its partition without a dead-letter topic. Any other error is
// classified by fault.Classify and retried while it is transient or unknown. Permanent(nil)
// is nil.
func Permanent(err error) error { return fault.MarkPermanent(err) }

// ApplyError reports a message the handler rejected with a permanent error: the cause of a
// Halt, and of the Error line logged when a partition halts.
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
