// Retry: the database and the broker are retried without limit while readiness is false.

package ingest

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/services/stash/internal/source"
)

// degraded meanwhile. The first attempt runs even when ctx has ended (so the unit in flight at
// shutdown is finished), bounded by a grace period; it gives up once ctx has ended.
func (p *Pipeline) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	_, err := retryValueFn(p, ctx, what, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

const shutdownGrace = 10 * time.Second

func retryValueFn[T any](p *Pipeline, ctx context.Context, what string, fn func(context.Context) (T, error)) (T, error) {
	backoff := p.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		if ctx.Err() == nil {
			cancel()
			actx, cancel = ctx, func() {}
		}
		v, err := fn(actx)
		cancel()
		if err == nil {
			if attempt > 1 {
				p.degraded.Store(nil)
				p.log.Info("recovered", zap.String("action", what))
			}
			return v, nil
		}
		msg := what + ": " + err.Error()
		p.degraded.Store(&msg)
		p.log.Warn("retry", zap.String("action", what), zap.Int("attempt", attempt), zap.Error(err))
		if ctx.Err() != nil || !source.Wait(ctx, backoff) {
			return v, err
		}
		backoff = min(2*backoff, p.cfg.RetryMax)
	}
}

// unlessStopped returns err, or nil when ctx has ended (the retries that produced err give up
// only then, and stopping is not an error).
func unlessStopped(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	return nil

}
