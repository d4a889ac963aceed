// Package retry runs an operation until it succeeds, waiting a capped exponential backoff
// between attempts (github.com/cenkalti/backoff/v4), for as long as a context lives. It is the
// one retry loop of the services: a database or a broker that is away is retried without limit
// while the caller reports itself not ready, through the failure hook.
package retry

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Policy is a capped exponential backoff: Min after the first failure, doubling up to Max.
type Policy struct {
	// Min is the first wait; default 500ms.
	Min time.Duration
	// Max caps the wait; default 30s (and at least Min).
	Max time.Duration
	// Grace, when positive, lets the first attempt run even when ctx has already ended, on a
	// context that keeps ctx's values but not its cancellation and ends after Grace: the unit
	// of work in flight at shutdown is finished rather than dropped. Later attempts never run
	// after ctx ended.
	Grace time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.Min <= 0 {
		p.Min = 500 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 30 * time.Second
	}
	p.Max = max(p.Max, p.Min)
	return p
}

// Backoff is the wait sequence of one Policy: a building block for loops that are not one
// call retried (a reader that reopens its stream and resets after progress). Not safe for
// concurrent use.
type Backoff struct {
	b *backoff.ExponentialBackOff
}

// NewBackoff returns the policy's wait sequence, starting at Min.
func (p Policy) NewBackoff() *Backoff {
	p = p.withDefaults()
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.Min,
		RandomizationFactor: 0,
		Multiplier:          2,
		MaxInterval:         p.Max,
		MaxElapsedTime:      0, // never give up: the context bounds the retries
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	b.Reset()
	return &Backoff{b: b}
}

// Next returns the next wait and advances the sequence.
func (b *Backoff) Next() time.Duration { return b.b.NextBackOff() }

// Reset starts the sequence again at Min, after progress.
func (b *Backoff) Reset() { b.b.Reset() }

// Wait sleeps the next wait, or until ctx ends; it reports whether it slept the whole time.
func (b *Backoff) Wait(ctx context.Context) bool { return Sleep(ctx, b.Next()) }

// Sleep sleeps for d or until ctx ends, reporting whether it slept the whole time.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Failure describes a failed attempt, for the failure hook.
type Failure struct {
	// Attempt counts the attempts so far, from 1.
	Attempt int
	Err     error
	// Wait is how long Forever waits before the next attempt.
	Wait time.Duration
	// Since is when the first attempt of this run of failures failed.
	Since time.Time
}

// OnFailure is called after every failed attempt. Hooks that log should limit their rate
// (see Every).
type OnFailure func(Failure)

// Permanent marks err as one no retry can fix: Forever and Value return it at once. The mark
// does not change err's text, and errors.Is and As see through it.
func Permanent(err error) error { return &permanentError{err} }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Forever calls fn until it returns nil, waiting the policy's backoff between attempts, and
// calls onFailure (may be nil) after each failure that was not caused by ctx ending. It gives
// up only when ctx ends, returning
// the last error (or ctx's error when no attempt ran), or when fn returns an error marked
// Permanent.
func Forever(ctx context.Context, p Policy, fn func(context.Context) error, onFailure OnFailure) error {
	_, err := Value(ctx, p, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) }, onFailure)
	return err
}

// Value is Forever for an operation that returns a value.
func Value[T any](ctx context.Context, p Policy, fn func(context.Context) (T, error), onFailure OnFailure) (T, error) {
	p = p.withDefaults()
	var b *Backoff
	var since time.Time
	for attempt := 1; ; attempt++ {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if ctx.Err() != nil {
			if attempt > 1 || p.Grace <= 0 {
				var zero T
				return zero, ctx.Err()
			}
			actx, cancel = context.WithTimeout(context.WithoutCancel(ctx), p.Grace)
		}
		v, err := fn(actx)
		cancel()
		if err == nil {
			return v, nil
		}
		if _, ok := errors.AsType[*permanentError](err); ok {
			return v, err
		}
		if ctx.Err() != nil {
			// The attempt failed because we are stopping: not a failure of the dependency,
			// so onFailure (which logs and marks it down) is not told.
			return v, err
		}
		if b == nil {
			b, since = p.NewBackoff(), time.Now()
		}
		wait := b.Next()
		if onFailure != nil {
			onFailure(Failure{Attempt: attempt, Err: err, Wait: wait, Since: since})
		}
		if !Sleep(ctx, wait) {
			return v, err
		}
	}
}

// UnlessStopped returns err, or nil when ctx has ended: retries give up only when their caller
// stops, and stopping is not an error, whatever the last attempt said.
func UnlessStopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil //nolint:nilerr // see above
	}
	return err
}

// Every limits how often something happens: Allow reports true at most once per interval.
// Safe for concurrent use; the zero value with an interval set is ready.
type Every struct {
	Interval time.Duration

	mu   sync.Mutex
	last time.Time
	n    int
}

// Allow reports whether the interval has passed since it last returned true, and how many
// calls it refused meanwhile.
func (e *Every) Allow() (ok bool, suppressed int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	if !e.last.IsZero() && now.Sub(e.last) < e.Interval {
		e.n++
		return false, 0
	}
	e.last, suppressed, e.n = now, e.n, 0
	return true, suppressed
}

// Reset makes the next Allow return true.
func (e *Every) Reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.last, e.n = time.Time{}, 0
}
