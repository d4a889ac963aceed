// Package await lets tests wait for a condition instead of sleeping: it checks the condition
// at a growing interval until it holds, the timeout passes, or the test ends, and then fails
// the test with what it waited for and the condition's last answer.
package await

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// Poll intervals: the first check comes at once, later ones double up to maxInterval, so a
// condition that holds soon is seen soon and a slow one costs little CPU on a loaded machine.
const (
	firstInterval = 5 * time.Millisecond
	maxInterval   = 200 * time.Millisecond
)

// ErrNotYet is a convenient answer for a condition that does not hold yet.
var ErrNotYet = errors.New("not yet")

// Until checks cond until it returns nil or timeout passes. It returns nil, the context's
// error when ctx ends first, or the timeout with the condition's last answer.
func Until(ctx context.Context, timeout time.Duration, cond func() error) error {
	return until(ctx, timeout, firstInterval, maxInterval, cond)
}

// UntilEvery is Until with a fixed interval between checks, for the rare test that must see a
// short-lived state, such as a crash test that kills a process right after a given commit.
func UntilEvery(ctx context.Context, timeout, interval time.Duration, cond func() error) error {
	return until(ctx, timeout, interval, interval, cond)
}

func until(ctx context.Context, timeout, interval, maxInterval time.Duration, cond func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTimer(0)
	defer t.Stop()
	var last error
	for {
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("timed out after %s: %w", timeout, last)
			}
			return ctx.Err()
		case <-t.C:
		}
		if last = cond(); last == nil {
			return nil
		}
		t.Reset(interval)
		interval = min(2*interval, maxInterval)
	}
}

// For waits until cond returns nil, failing tb after timeout with what it waited for and the
// condition's last answer.
func For(tb testing.TB, timeout time.Duration, what string, cond func() error) {
	tb.Helper()
	if err := Until(tb.Context(), timeout, cond); err != nil {
		tb.Fatalf("waiting for %s: %v", what, err)
	}
}

// True waits until cond returns true, failing tb after timeout with what it waited for.
func True(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	For(tb, timeout, what, func() error {
		if cond() {
			return nil
		}
		return ErrNotYet
	})
}

// Value waits until fn returns a value without error and returns that value, failing tb after
// timeout with what it waited for and fn's last error.
func Value[T any](tb testing.TB, timeout time.Duration, what string, fn func() (T, error)) T {
	tb.Helper()
	var v T
	For(tb, timeout, what, func() error {
		var err error
		v, err = fn()
		return err
	})
	return v
}
