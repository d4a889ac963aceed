// Package health tracks the state of what the stash depends on (the database, the broker, each
// source) for readiness, the status API and the log: a dependency that fails is logged at Warn
// at a bounded rate while it stays down, and at Info when it recovers, with how long it was
// down.
package health

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/retry"
)

// Names of the shared dependencies; sources are named by SourceName.
const (
	Database = "database"
	Broker   = "broker"
)

// SourceName is the dependency name of a source.
func SourceName(url string) string { return "source " + url }

// DefaultLogEvery is how often a dependency that stays down is logged again.
const DefaultLogEvery = 30 * time.Second

// errPending is the cause of a dependency not tried yet.
var errPending = errors.New("not connected yet")

// Tracker holds the dependencies. Safe for concurrent use.
type Tracker struct {
	log      *zap.Logger
	logEvery time.Duration

	mu   sync.Mutex
	deps []*Dep
}

// New returns a tracker logging to log; logEvery bounds how often a dependency that stays down
// is logged (default DefaultLogEvery).
func New(log *zap.Logger, logEvery time.Duration) *Tracker {
	if log == nil {
		log = zap.NewNop()
	}
	if logEvery <= 0 {
		logEvery = DefaultLogEvery
	}
	return &Tracker{log: log, logEvery: logEvery}
}

// Add registers a dependency. A pending one is not ready ("not connected yet") until its
// first success, without a warning; otherwise it starts ready.
func (t *Tracker) Add(name string, pending bool) *Dep {
	d := &Dep{t: t, name: name, since: time.Now()}
	if pending {
		d.state, d.err = statePending, errPending.Error()
	} else {
		d.up.Store(true)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.deps = append(t.deps, d)
	return d
}

// Dep returns the dependency named name, or nil.
func (t *Tracker) Dep(name string) *Dep {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, d := range t.deps {
		if d.name == name {
			return d
		}
	}
	return nil
}

// State is a dependency's state at one moment.
type State struct {
	Name  string
	Ready bool
	// Err is why it is not ready.
	Err   string
	Since time.Time
}

// States returns every dependency's state, in the order they were added.
func (t *Tracker) States() []State {
	t.mu.Lock()
	deps := t.deps
	t.mu.Unlock()
	out := make([]State, len(deps))
	for i, d := range deps {
		out[i] = d.State()
	}
	return out
}

// Ready returns nil when every dependency is ready, or an error naming each that is not and
// why ("database: dial tcp …: connection refused").
func (t *Tracker) Ready() error {
	var errs []error
	for _, s := range t.States() {
		if !s.Ready {
			errs = append(errs, errors.New(s.Name+": "+s.Err))
		}
	}
	return errors.Join(errs...)
}

type depState int

const (
	stateUp depState = iota
	statePending
	stateDown
)

// Dep is one dependency.
type Dep struct {
	t    *Tracker
	name string
	// up mirrors state == stateUp, so OK costs one atomic load on the hot path.
	up atomic.Bool
	// touched is when OK or Fail last ran (unix nanoseconds), for probes that only look at a
	// dependency nobody has used lately.
	touched atomic.Int64

	mu         sync.Mutex
	state      depState
	err        string
	since      time.Time
	logged     time.Time
	suppressed int
	onRecover  func()
}

// Name returns the dependency's name.
func (d *Dep) Name() string { return d.name }

// OnRecover sets a function called when the dependency recovers from a failure.
func (d *Dep) OnRecover(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.onRecover = f
}

// OK records a success. It is cheap (O(1), no lock) when the dependency is already ready.
func (d *Dep) OK() {
	now := time.Now()
	d.touched.Store(now.UnixNano())
	if d.up.Load() {
		return
	}
	d.mu.Lock()
	if d.state == stateUp {
		d.mu.Unlock()
		return
	}
	was, since, f := d.state, d.since, d.onRecover
	d.state, d.err, d.since, d.suppressed = stateUp, "", now, 0
	d.up.Store(true)
	d.mu.Unlock()
	if was == stateDown {
		d.t.log.Info("dependency recovered", zap.String("dependency", d.name), zap.Duration("down_for", now.Sub(since).Round(time.Millisecond)))
		if f != nil {
			f()
		}
	}
}

// Fail records a failure: the dependency is not ready, with err as the cause. The first
// failure is logged at Warn, then at most one line per the tracker's interval while it stays
// down.
func (d *Dep) Fail(err error) {
	now := time.Now()
	d.touched.Store(now.UnixNano())
	d.mu.Lock()
	msg := err.Error()
	switch {
	case d.state != stateDown:
		d.state, d.err, d.since, d.logged, d.suppressed = stateDown, msg, now, now, 0
		d.up.Store(false)
		d.mu.Unlock()
		d.t.log.Warn("dependency down", zap.String("dependency", d.name), zap.Error(err))
		return
	case now.Sub(d.logged) >= d.t.logEvery:
		n, since := d.suppressed, d.since
		d.err, d.logged, d.suppressed = msg, now, 0
		d.mu.Unlock()
		d.t.log.Warn("dependency still down", zap.String("dependency", d.name), zap.Duration("down_for", now.Sub(since).Round(time.Second)),
			zap.Int("failures", n+1), zap.Error(err))
		return
	}
	d.err = msg
	d.suppressed++
	d.mu.Unlock()
}

// Idle reports whether neither OK nor Fail ran for d: a probe then has to find
// out for itself.
func (d *Dep) Idle(dur time.Duration) bool {
	return time.Since(time.Unix(0, d.touched.Load())) >= dur
}

// Ready reports whether the dependency is ready.
func (d *Dep) Ready() bool { return d.up.Load() }

// State returns the dependency's state.
func (d *Dep) State() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return State{Name: d.name, Ready: d.state == stateUp, Err: d.err, Since: d.since}
}

// Retrying returns a retry hook that reports each failed attempt of what as d's cause.
func (d *Dep) Retrying(what string) retry.OnFailure {
	return func(f retry.Failure) { d.Fail(fmt.Errorf("%s: %w", what, f.Err)) }
}
