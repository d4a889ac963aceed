package kafka

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/fault"
)

// fetchKey is the health key of fetching: the group membership and the partition readers.
const fetchKey = "fetch"

// benignClientErrors are kafka-go error lines that occur in normal operation, not outages.
var benignClientErrors = []string{
	"Rebalance In Progress",
	"reading passed the last offset",
	"no messages received from kafka within the allocated time",
}

// clientError receives kafka-go's error log. kafka-go retries dials, joins and heartbeats by
// itself and only logs them, so these lines are how the consumer learns that the broker is
// away: each counts as a failed fetch attempt. The lines themselves go to Debug.
func (c *Consumer) clientError(format string, args ...any) {
	line := strings.TrimSpace(fmt.Sprintf(format, args...))
	c.log.Debug("kafka client error", zap.String("detail", line))
	for _, b := range benignClientErrors {
		if strings.Contains(line, b) {
			return
		}
	}
	c.stats.noteError()
	c.health.fail(fetchKey, fmt.Errorf("fetch from brokers %s: %s", strings.Join(c.cfg.Brokers, ","), line),
		zap.String("stage", "fetch"))
}

// fetchFailed records an error FetchMessage returned.
func (c *Consumer) fetchFailed(err error) {
	c.stats.noteError()
	c.health.fail(fetchKey, fmt.Errorf("fetch from brokers %s: %w", strings.Join(c.cfg.Brokers, ","), err),
		zap.String("stage", "fetch"), zap.Stringer("class", fault.Classify(err)))
}

// watchFetches ends a fetch outage once the reader fetches again without errors. A quiet topic
// delivers no message to show that, so the reader's fetch requests are watched instead; a
// member with no partition makes none, and is taken as recovered after a LogInterval without
// errors.
func (c *Consumer) watchFetches(ctx context.Context, reader *kafkago.Reader) {
	interval := min(max(2*c.cfg.MaxWait, 200*time.Millisecond), 5*time.Second)
	t := time.NewTicker(interval)
	defer t.Stop()
	last := c.stats.poll(reader)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := c.stats.poll(reader)
		if !c.health.failing(fetchKey) {
			last = now
			continue
		}
		quiet := now.errors == last.errors
		fetched := now.fetches > last.fetches
		if quiet && (fetched || time.Since(now.lastError) >= c.cfg.LogInterval) {
			c.health.ok(fetchKey)
		}
		last = now
	}
}

// readerStats accumulates kafka-go's reader statistics, which reset on every read, so that
// the watcher and the apply path can both use them.
type readerStats struct {
	mu    sync.Mutex
	total statsTotal
}

type statsTotal struct {
	fetches, errors, rebalances uint64
	lastError                   time.Time
}

func (s *readerStats) poll(r *kafkago.Reader) statsTotal {
	st := r.Stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total.fetches += uint64(max(st.Fetches, 0))
	s.total.rebalances += uint64(max(st.Rebalances, 0))
	return s.total
}

func (s *readerStats) noteError() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total.errors++
	s.total.lastError = time.Now()
}
