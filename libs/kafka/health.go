package kafka

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// errNotRunning is what Ready reports before Run starts and after it returns.
var errNotRunning = errors.New("consumer not running")

// health tracks the consumer's ongoing failures (outages), logs them at a bounded rate and
// answers readiness. An outage is keyed by what fails: fetching, or applying one partition.
type health struct {
	log      *zap.Logger
	interval time.Duration // between repeated warnings of one outage
	setReady func(bool)
	now      func() time.Time

	mu      sync.Mutex
	running bool
	outages map[string]*outage
}

// outage is a failure that started and has not ended yet.
type outage struct {
	since    time.Time
	lastLog  time.Time
	attempts int
	err      error
	fields   []zap.Field
}

func newHealth(log *zap.Logger, interval time.Duration, setReady func(bool)) *health {
	h := &health{log: log, interval: interval, setReady: setReady, now: time.Now, outages: make(map[string]*outage)}
	h.setReady(false)
	return h
}

// setRunning marks the consumer running or not; a consumer that is not running is not ready.
func (h *health) setRunning(running bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running = running
	h.setReady(h.readyLocked())
}

// fail records one more failed attempt of key. The first failure of an outage is logged at
// once, later ones at most once per interval with the attempts so far, so an outage of hours
// costs a few hundred lines rather than one per retry.
func (h *health) fail(key string, err error, fields ...zap.Field) {
	fields = slices.Clip(fields) // appends below must not write into the caller's array
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	o, ok := h.outages[key]
	if !ok {
		o = &outage{since: now, lastLog: now}
		h.outages[key] = o
	}
	o.attempts++
	o.err = err
	o.fields = fields
	switch {
	case !ok:
		h.log.Warn("consumer failing, retrying", append(fields, zap.Error(err))...)
		h.setReady(false)
	case now.Sub(o.lastLog) >= h.interval:
		o.lastLog = now
		h.log.Warn("consumer still failing, retrying", append(fields,
			zap.Int("attempts", o.attempts), zap.Duration("for", now.Sub(o.since).Round(time.Millisecond)), zap.Error(err))...)
	}
}

// ok ends key's outage, if any, with one line saying how long it lasted.
func (h *health) ok(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o, ok := h.outages[key]
	if !ok {
		return
	}
	delete(h.outages, key)
	h.log.Info("consumer recovered", append(o.fields,
		zap.Int("attempts", o.attempts), zap.Duration("outage", h.now().Sub(o.since).Round(time.Millisecond)))...)
	h.setReady(h.readyLocked())
}

// err returns nil when ready, else the ongoing outages' errors, oldest first.
func (h *health) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.running {
		return errNotRunning
	}
	if len(h.outages) == 0 {
		return nil
	}
	keys := make([]string, 0, len(h.outages))
	for k := range h.outages {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(h.outages[a].since.Compare(h.outages[b].since), cmp.Compare(a, b))
	})
	errs := make([]error, len(keys))
	for i, k := range keys {
		o := h.outages[k]
		errs[i] = fmt.Errorf("%w (failing for %s, %d attempts)", o.err, h.now().Sub(o.since).Round(time.Second), o.attempts)
	}
	return errors.Join(errs...)
}

func (h *health) readyLocked() bool { return h.running && len(h.outages) == 0 }
