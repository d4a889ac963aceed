package kafka

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestHealthLogsOutagesAtABoundedRate drives an outage of an hour with a retry a second on a
// fake clock: one warning when it starts, one per interval while it lasts, one line when it
// ends, and readiness off in between with the cause.
func TestHealthLogsOutagesAtABoundedRate(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.InfoLevel)
	var ready []bool
	h := newHealth(zap.New(core), 30*time.Second, func(ok bool) { ready = append(ready, ok) })
	now := time.Unix(1_000_000, 0)
	h.now = func() time.Time { return now }

	if err := h.err(); !errors.Is(err, errNotRunning) {
		t.Errorf("err() before running = %v, want errNotRunning", err)
	}
	h.setRunning(true)
	if err := h.err(); err != nil {
		t.Fatalf("err() when running = %v, want nil", err)
	}
	cause := errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	for range 3600 {
		h.fail("apply t/0", cause, zap.String("stage", "apply"))
		now = now.Add(time.Second)
	}
	err := h.err()
	if err == nil || !errors.Is(err, cause) || !strings.Contains(err.Error(), "3600 attempts") {
		t.Errorf("err() during the outage = %v, want the cause and the attempts", err)
	}
	h.ok("apply t/0")
	h.ok("apply t/0") // no outage: nothing to log
	if err := h.err(); err != nil {
		t.Errorf("err() after the outage = %v, want nil", err)
	}
	if got := logs.FilterMessage("consumer failing, retrying").Len(); got != 1 {
		t.Errorf("%d start lines, want 1", got)
	}
	// An hour at one line per 30 s, the first being the start line.
	if got := logs.FilterMessage("consumer still failing, retrying").Len(); got != 119 {
		t.Errorf("%d repeat lines, want 119", got)
	}
	recovered := logs.FilterMessage("consumer recovered").All()
	if len(recovered) != 1 || recovered[0].ContextMap()["outage"] != time.Hour {
		t.Errorf("recovery lines %v, want one with an outage of 1h", recovered)
	}
	if want := []bool{false, true, false, true}; !slices.Equal(ready, want) {
		t.Errorf("readiness went %v, want %v", ready, want)
	}
}
