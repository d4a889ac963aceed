package retry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bcosdata/bcosdata/libs/retry"
)

var errDown = errors.New("down")

func TestForeverBacksOffExponentiallyUpToMax(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var at []time.Duration
		var waits []time.Duration
		err := retry.Forever(t.Context(), retry.Policy{Min: time.Second, Max: 5 * time.Second}, func(context.Context) error {
			at = append(at, time.Since(start))
			if len(at) < 6 {
				return errDown
			}
			return nil
		}, func(f retry.Failure) {
			waits = append(waits, f.Wait)
			if f.Attempt != len(waits) || !errors.Is(f.Err, errDown) || !f.Since.Equal(start) {
				t.Errorf("failure %d = %+v", len(waits), f)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		wantWaits := []time.Duration{1, 2, 4, 5, 5}
		wantAt := []time.Duration{0, 1, 3, 7, 12, 17}
		for i, w := range wantWaits {
			if waits[i] != w*time.Second {
				t.Errorf("wait %d = %s, want %ds", i, waits[i], w)
			}
		}
		for i, w := range wantAt {
			if at[i] != w*time.Second {
				t.Errorf("attempt %d at %s, want %ds", i+1, at[i], w)
			}
		}
	})
}

func TestForeverStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		attempts := 0
		start := time.Now()
		err := retry.Forever(ctx, retry.Policy{Min: time.Second, Max: 2 * time.Second}, func(context.Context) error {
			attempts++
			return errDown
		}, nil)
		if !errors.Is(err, errDown) {
			t.Errorf("err = %v, want the last failure", err)
		}
		if took := time.Since(start); took != 10*time.Second {
			t.Errorf("gave up after %s, want 10s (the context)", took)
		}
		// Attempts at 0, 1, 3, 5, 7, 9 s.
		if attempts != 6 {
			t.Errorf("attempts = %d, want 6", attempts)
		}
	})
}

func TestValueGraceRunsFirstAttemptAfterCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		v, err := retry.Value(ctx, retry.Policy{Grace: time.Second}, func(ctx context.Context) (int, error) {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			if _, ok := ctx.Deadline(); !ok {
				t.Error("grace attempt has no deadline")
			}
			return 7, nil
		}, nil)
		if err != nil || v != 7 {
			t.Fatalf("Value = %d, %v; want 7", v, err)
		}
		calls := 0
		_, err = retry.Value(ctx, retry.Policy{Grace: time.Second}, func(ctx context.Context) (int, error) {
			calls++
			return 0, errDown
		}, nil)
		if !errors.Is(err, errDown) || calls != 1 {
			t.Fatalf("failed grace attempt: err %v after %d calls, want errDown after 1", err, calls)
		}
		_, err = retry.Value(ctx, retry.Policy{}, func(ctx context.Context) (int, error) {
			t.Error("attempt without grace ran after cancel")
			return 0, nil
		}, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestBackoffReset(t *testing.T) {
	b := retry.Policy{Min: 100 * time.Millisecond, Max: time.Second}.NewBackoff()
	for _, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		if got := b.Next(); got != want*time.Millisecond {
			t.Fatalf("Next = %s, want %dms", got, want)
		}
	}
	b.Reset()
	if got := b.Next(); got != 100*time.Millisecond {
		t.Fatalf("Next after Reset = %s, want 100ms", got)
	}
}

func TestEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := &retry.Every{Interval: 30 * time.Second}
		if ok, _ := e.Allow(); !ok {
			t.Fatal("first Allow refused")
		}
		for range 3 {
			time.Sleep(5 * time.Second)
			if ok, _ := e.Allow(); ok {
				t.Fatal("Allow within the interval")
			}
		}
		time.Sleep(15 * time.Second)
		ok, suppressed := e.Allow()
		if !ok || suppressed != 3 {
			t.Fatalf("Allow after the interval = %v, %d; want true, 3", ok, suppressed)
		}
		e.Reset()
		if ok, _ := e.Allow(); !ok {
			t.Fatal("Allow after Reset refused")
		}
	})
}

func TestPermanentEndsRetries(t *testing.T) {
	calls := 0
	err := retry.Forever(t.Context(), retry.Policy{}, func(context.Context) error {
		calls++
		return fmt.Errorf("migrate: %w", retry.Permanent(errDown))
	}, func(retry.Failure) { t.Error("a permanent error was retried") })
	if calls != 1 || !errors.Is(err, errDown) {
		t.Fatalf("Forever = %v after %d calls, want errDown after 1", err, calls)
	}
}

// TestFailureAtShutdownIsNotReported: an attempt cut short because the caller is stopping says
// nothing about the dependency, so it must not be logged or marked as an outage.
func TestFailureAtShutdownIsNotReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var reported []error
		err := retry.Forever(ctx, retry.Policy{Min: time.Second, Max: time.Second}, func(actx context.Context) error {
			if len(reported) == 0 {
				return errDown // a real failure first
			}
			cancel()
			<-actx.Done()
			return actx.Err()
		}, func(f retry.Failure) { reported = append(reported, f.Err) })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want the cancelled attempt's error", err)
		}
		if len(reported) != 1 || !errors.Is(reported[0], errDown) {
			t.Errorf("reported failures %v, want only the real one", reported)
		}
	})
}

func TestUnlessStopped(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	if err := retry.UnlessStopped(ctx, errDown); !errors.Is(err, errDown) {
		t.Errorf("running: UnlessStopped = %v, want the error", err)
	}
	cancel()
	if err := retry.UnlessStopped(ctx, errDown); err != nil {
		t.Errorf("stopped: UnlessStopped = %v, want nil", err)
	}
}
