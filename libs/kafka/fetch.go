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
// away; watchFetches weighs them. The lines themselves go to Debug.
func (c *Consumer) clientError(format string, args ...any) {
	line := strings.TrimSpace(fmt.Sprintf(format, args...))
	c.log.Debug("kafka client error", zap.String("detail", line))
	for _, b := range benignClientErrors {
		if strings.Contains(line, b) {
			return
		}
	}
	c.stats.noteError(line)
}

// fetchFailed records an error FetchMessage returned.
func (c *Consumer) fetchFailed(err error) {
	c.stats.noteError(err.Error())
	c.health.fail(fetchKey, fmt.Errorf("fetch from brokers %s: %w", strings.Join(c.cfg.Brokers, ","), err),
		zap.String("stage", "fetch"), zap.Stringer("class", fault.Classify(err)))
}

// watchFetches turns kafka-go's error lines into a fetch outage, and ends it once the reader
// fetches again without errors. Errors count only after a while without any fetch request and
// while the reader's queue has room: kafka-go also logs read timeouts when a partition reader
// was slow once (a loaded machine) or blocked on a full queue (a slow or retrying handler),
// although the broker is fine. A quiet topic delivers no message to show recovery, so fetch
// requests are watched instead; a member with no partition makes none, and is taken as
// recovered after a LogInterval without errors.
func (c *Consumer) watchFetches(ctx context.Context, reader *kafkago.Reader) {
	interval := min(max(2*c.cfg.MaxWait, 200*time.Millisecond), 5*time.Second)
	grace := 3 * interval
	t := time.NewTicker(interval)
	defer t.Stop()
	last := c.stats.poll(reader)
	lastFetch := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := c.stats.poll(reader)
		erred := now.errors > last.errors
		fetched := now.fetches > last.fetches
		if fetched {
			lastFetch = time.Now()
		}
		switch {
		case erred && time.Since(lastFetch) >= grace && !now.queueFull:
			c.health.fail(fetchKey, fmt.Errorf("fetch from brokers %s: %s", strings.Join(c.cfg.Brokers, ","), now.lastLine),
				zap.String("stage", "fetch"))
		case !erred && (fetched || time.Since(now.lastError) >= c.cfg.LogInterval):
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
	lastLine                    string
	queueFull                   bool // at the last poll
}

func (s *readerStats) poll(r *kafkago.Reader) statsTotal {
	st := r.Stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total.fetches += uint64(max(st.Fetches, 0))
	s.total.rebalances += uint64(max(st.Rebalances, 0))
	s.total.queueFull = st.QueueCapacity > 0 && st.QueueLength >= st.QueueCapacity
	return s.total
}

func (s *readerStats) noteError(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total.errors++
	s.total.lastError = time.Now()
	s.total.lastLine = line
}
