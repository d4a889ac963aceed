package kafka

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// consumerMetrics counts what consumers did, by group and topic, and shows their state.
type consumerMetrics struct {
	applied      *prometheus.CounterVec
	skipped      *prometheus.CounterVec
	retries      *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	ready        *prometheus.GaugeVec
	halted       *prometheus.GaugeVec
}

// newConsumerMetrics registers the consumer metrics on reg, or keeps them unregistered when
// reg is nil. Several consumers in one process share a registry, so metrics already registered
// by another consumer are reused rather than reported as a conflict.
func newConsumerMetrics(reg prometheus.Registerer) (*consumerMetrics, error) {
	labels := []string{"group", "topic"}
	m := &consumerMetrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "bcosdata", Subsystem: "kafka_consumer", Name: "applied_messages_total",
			Help: "Messages the handler applied, counted before their offsets are committed.",
		}, labels),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "bcosdata", Subsystem: "kafka_consumer", Name: "skipped_messages_total",
			Help: "Messages delivered again but not handed to the handler, because the offset store shows them applied.",
		}, labels),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "bcosdata", Subsystem: "kafka_consumer", Name: "retries_total",
			Help: "Handler attempts that failed and were retried after a backoff.",
		}, labels),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "bcosdata", Subsystem: "kafka_consumer", Name: "dead_lettered_messages_total",
			Help: "Messages published to a dead-letter topic after the handler rejected them as permanent failures.",
		}, labels),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "bcosdata", Subsystem: "kafka_consumer", Name: "ready",
			Help: "1 while the consumer runs with no ongoing failure, 0 while it retries a fetch, apply or commit, or is stopped.",
		}, []string{"group"}),
		halted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "bcosdata", Subsystem: "kafka_consumer", Name: "halted",
			Help: "1 for a partition stopped at a message the handler rejected, on a stream without a dead-letter topic; cleared by a restart.",
		}, []string{"group", "topic", "partition"}),
	}
	if reg == nil {
		return m, nil
	}
	if err := register(reg, &m.applied, &m.skipped, &m.retries, &m.deadLettered); err != nil {
		return nil, err
	}
	if err := register(reg, &m.ready, &m.halted); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers each collector on reg, replacing it with the one already registered
// under the same name by another consumer.
func register[C prometheus.Collector](reg prometheus.Registerer, cs ...*C) error {
	for _, c := range cs {
		if err := reg.Register(*c); err != nil {
			are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err)
			if !ok {
				return fmt.Errorf("register kafka consumer metrics: %w", err)
			}
			existing, ok := are.ExistingCollector.(C)
			if !ok {
				return fmt.Errorf("register kafka consumer metrics: %w", err)
			}
			*c = existing
		}
	}
	return nil
}
