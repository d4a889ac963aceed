package kafka_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/kafka"
)

// TestLagMeterKeepsTheLastGoodFigure checks that LagMeter reports nothing before its first
// measurement, then the last successful one, on Value and on the gauge, through failures.
func TestLagMeterKeepsTheLastGoodFigure(t *testing.T) {
	var m kafka.LagMeter
	if _, ok := m.Value(); ok {
		t.Fatal("a lag before any measurement")
	}
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "lag"})
	var calls atomic.Int32
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx, time.Millisecond, func(context.Context) (uint64, error) {
			if calls.Add(1) == 1 {
				return 7, nil
			}
			return 0, errors.New("broker away")
		}, gauge)
	}()
	await.True(t, 10*time.Second, "measured and failed since", func() bool { return calls.Load() >= 3 })
	cancel()
	<-done
	if n, ok := m.Value(); !ok || n != 7 {
		t.Errorf("Value = %d, %v after one good and failed measurements, want 7, true", n, ok)
	}
	if got := testutil.ToFloat64(gauge); got != 7 {
		t.Errorf("gauge = %v, want 7", got)
	}
}
