// Retry: the database and the broker are retried without limit while readiness is false.

package ingest

import (
	"context"
	"time"

	"github.com/bcosdata/bcosdata/libs/retry"
	"github.com/bcosdata/bcosdata/services/stash/internal/health"
)

// shutdownGrace bounds the attempt that finishes the unit in flight at shutdown.
const shutdownGrace = 10 * time.Second

// policy is the backoff between retries of the database and the broker.
func (p *Pipeline) policy() retry.Policy {
	return retry.Policy{Min: p.cfg.RetryMin, Max: p.cfg.RetryMax, Grace: shutdownGrace}
}

// retry calls fn until it succeeds, backing off between attempts and reporting dep not ready
// meanwhile (with what failed and why). The first attempt runs even when ctx has ended (so the
// unit in flight at shutdown is finished), bounded by a grace period; it gives up once ctx has
// ended.
func (p *Pipeline) retry(ctx context.Context, dep *health.Dep, what string, fn func(context.Context) error) error {
	_, err := retryValue(p, ctx, dep, what, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

func retryValue[T any](p *Pipeline, ctx context.Context, dep *health.Dep, what string, fn func(context.Context) (T, error)) (T, error) {
	v, err := retry.Value(ctx, p.policy(), fn, dep.Retrying(what))
	if err == nil {
		dep.OK()
	}
	return v, err
}
