package kafka

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LagMeter keeps a consumer group's last measured lag for Status and a gauge. The zero value
// is ready to use.
type LagMeter struct {
	mu  sync.Mutex
	lag uint64
	ok  bool
}

// Run measures the lag with measure every interval until ctx ends, keeping the last good
// figure (a failed measurement keeps the previous one) and setting gauge (nil: none).
func (m *LagMeter) Run(ctx context.Context, interval time.Duration, measure func(context.Context) (uint64, error), gauge prometheus.Gauge) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := measure(ctx); err == nil {
			m.mu.Lock()
			m.lag, m.ok = n, true
			m.mu.Unlock()
			if gauge != nil {
				gauge.Set(float64(n))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Value returns the last measured lag, and false before the first measurement.
func (m *LagMeter) Value() (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lag, m.ok
}
