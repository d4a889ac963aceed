package retry

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Drainer is the loop of an outbox publisher: each round calls Drain until it succeeds
// (Forever, with the policy's backoff), then waits for a Wake or the poll interval. Err
// reports the failure being retried, for readiness.
type Drainer struct {
	policy    Policy
	poll      time.Duration
	drain     func(context.Context) error
	onFailure OnFailure
	wake      chan struct{}

	mu      sync.Mutex
	lastErr error
}

// NewDrainer returns a drainer calling drain at least every poll; onFailure (may be nil) is
// told of each failed round, as Forever's hook is.
func NewDrainer(p Policy, poll time.Duration, drain func(context.Context) error, onFailure OnFailure) *Drainer {
	return &Drainer{policy: p, poll: poll, drain: drain, onFailure: onFailure, wake: make(chan struct{}, 1)}
}

// Wake makes the drainer run a round now (or right after the current one).
func (d *Drainer) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Err returns the failure being retried, nil when the last round succeeded.
func (d *Drainer) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastErr
}

func (d *Drainer) setErr(err error) {
	d.mu.Lock()
	d.lastErr = err
	d.mu.Unlock()
}

// Run drains until ctx ends, retrying failures without limit; it returns nil when ctx ends,
// or the error of a round marked Permanent.
func (d *Drainer) Run(ctx context.Context) error {
	t := time.NewTicker(d.poll)
	defer t.Stop()
	for {
		err := Forever(ctx, d.policy, d.drain, func(f Failure) {
			d.setErr(f.Err)
			if d.onFailure != nil {
				d.onFailure(f)
			}
		})
		d.setErr(nil)
		if err != nil {
			if errors.Is(err, context.Canceled) || ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-t.C:
		}
	}
}
