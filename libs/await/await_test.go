package await

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	var calls atomic.Int32
	err := Until(t.Context(), 10*time.Second, func() error {
		if calls.Add(1) < 3 {
			return ErrNotYet
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Until = %v, want nil", err)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("condition checked %d times, want 3 (stop at the first success)", n)
	}
}

func TestUntilTimesOutWithTheLastAnswer(t *testing.T) {
	errLast := errors.New("still 4 rows")
	err := Until(t.Context(), 30*time.Millisecond, func() error { return errLast })
	if !errors.Is(err, errLast) || !strings.Contains(err.Error(), "timed out after 30ms") {
		t.Fatalf("Until = %v, want a timeout wrapping the condition's last error", err)
	}
}

func TestUntilStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := Until(ctx, time.Minute, func() error { return ErrNotYet })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Until = %v, want context.Canceled", err)
	}
}

func TestValueReturnsTheFirstGoodValue(t *testing.T) {
	n := 0
	got := Value(t, 10*time.Second, "a count of 2", func() (int, error) {
		n++
		if n < 2 {
			return 0, ErrNotYet
		}
		return n * 10, nil
	})
	if got != 20 {
		t.Fatalf("Value = %d, want 20", got)
	}
}

func TestUntilEveryKeepsItsInterval(t *testing.T) {
	var calls atomic.Int32
	start := time.Now()
	err := UntilEvery(t.Context(), 10*time.Second, time.Millisecond, func() error {
		if calls.Add(1) < 50 {
			return ErrNotYet
		}
		return nil
	})
	if err != nil {
		t.Fatalf("UntilEvery = %v", err)
	}
	// 50 checks a millisecond apart; with Until's doubling they would take over 8 s.
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("50 checks took %s: the interval grew", took)
	}
}
