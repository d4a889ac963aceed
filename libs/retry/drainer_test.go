package retry

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestDrainer checks the loop: a failing round is retried and reported by Err, a Wake runs a
// round long before the poll interval, and Run returns nil when its context ends.
func TestDrainer(t *testing.T) {
	var calls atomic.Int32
	failing := errors.New("broker away")
	rounds := make(chan int32, 10)
	d := NewDrainer(Policy{Min: time.Millisecond, Max: 5 * time.Millisecond}, time.Hour, func(context.Context) error {
		n := calls.Add(1)
		if n <= 2 {
			return failing
		}
		rounds <- n
		return nil
	}, nil)
	var seen atomic.Bool
	d.onFailure = func(Failure) {
		if errors.Is(d.Err(), failing) {
			seen.Store(true)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	if n := <-rounds; n != 3 {
		t.Fatalf("first successful round is call %d, want 3 (after two failures)", n)
	}
	if !seen.Load() {
		t.Error("Err did not report the failure being retried")
	}
	if err := d.Err(); err != nil {
		t.Errorf("Err after a successful round: %v", err)
	}
	d.Wake()
	select {
	case <-rounds:
	case <-time.After(10 * time.Second):
		t.Fatal("Wake did not run a round")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestDrainerPermanent checks that a round failing permanently ends Run with its error.
func TestDrainerPermanent(t *testing.T) {
	bad := errors.New("bad")
	d := NewDrainer(Policy{Min: time.Millisecond, Max: time.Millisecond}, time.Hour, func(context.Context) error { return Permanent(bad) }, nil)
	if err := d.Run(t.Context()); !errors.Is(err, bad) {
		t.Errorf("Run: %v, want %v", err, bad)
	}
}
