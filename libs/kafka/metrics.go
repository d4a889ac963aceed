package kafka

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// consumerMetrics counts what consumers did, by group and topic.
type consumerMetrics struct {
	applied      *prometheus.CounterVec
	retries      *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
}

// newConsumerMetrics registers the consumer counters on reg, or keeps them unregistered when
// reg is nil. Several consumers in one process share a registry, so counters already registered
// by another consumer are reused rather than reported as a conflict.
func newConsumerMetrics(reg prometheus.Registerer) (*consumerMetrics, error) {
	labels := []string{"group", "topic"}
	m := &consumerMetrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "bcosdata", Subsystem: "kafka_consumer", Name: "applied_messages_total",
			Help: "Messages the handler applied, counted before their offsets are committed.",
		}, labels),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "bcosdata", Subsystem: "kafka_consumer", Name: "retries_total",
			Help: "Handler attempts that failed and were retried after a backoff.",
		}, labels),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "bcosdata", Subsystem: "kafka_consumer", Name: "dead_lettered_messages_total",
			Help: "Messages published to a dead-letter topic after the handler gave up on them.",
		}, labels),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []**prometheus.CounterVec{&m.applied, &m.retries, &m.deadLettered} {
		if err := reg.Register(*c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("register kafka consumer metrics: %w", err)
			}
			existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
			if !ok {
				return nil, fmt.Errorf("register kafka consumer metrics: %w", err)
			}
			*c = existing
		}
	}
	return m, nil
}
