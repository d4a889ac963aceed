// Package schedule triggers runs of the jobs that have a cron schedule (robfig/cron's
// parser, through job.CronSchedule), each for the business date its firing time stands for.
// The clock is injectable, so tests fire schedules with a fake clock (or testing/synctest)
// rather than waiting.
package schedule

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/run"
)

// Config configures a Scheduler.
type Config struct {
	// Jobs returns every job; those with a schedule are fired.
	Jobs func(ctx context.Context) ([]*job.Job, error)
	// Trigger starts a run of the job for the business date.
	Trigger func(ctx context.Context, name, date string) error
	Clock   run.Clock
	Log     *zap.Logger
	// Reload is how often the job list is read again (API jobs change; default 1 min).
	Reload time.Duration
}

// Scheduler fires scheduled jobs.
type Scheduler struct {
	cfg    Config
	reload chan struct{}
}

// New returns a scheduler.
func New(cfg Config) *Scheduler {
	if cfg.Clock == nil {
		cfg.Clock = run.RealClock
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Reload <= 0 {
		cfg.Reload = time.Minute
	}
	return &Scheduler{cfg: cfg, reload: make(chan struct{}, 1)}
}

// Reload makes the scheduler read the jobs again now (a job was created, changed or removed).
func (s *Scheduler) Reload() {
	select {
	case s.reload <- struct{}{}:
	default:
	}
}

// Run fires schedules until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	next := make(map[string]time.Time) // job → its next firing
	for ctx.Err() == nil {
		jobs, err := s.cfg.Jobs(ctx)
		if err != nil {
			s.cfg.Log.Warn("read jobs for the schedule", zap.Error(err))
		}
		now := s.cfg.Clock.Now()
		seen := make(map[string]bool)
		byName := make(map[string]*job.Job)
		for _, j := range jobs {
			if j.Schedule == "" {
				continue
			}
			sched, err := j.CronSchedule()
			if err != nil {
				s.cfg.Log.Warn("job schedule", zap.String("job", j.Name), zap.Error(err))
				continue
			}
			seen[j.Name], byName[j.Name] = true, j
			if _, ok := next[j.Name]; !ok {
				next[j.Name] = sched.Next(now)
			}
		}
		for name := range next {
			if !seen[name] {
				delete(next, name)
			}
		}
		// Fire what is due.
		for name, at := range next {
			if at.After(now) {
				continue
			}
			j := byName[name]
			date := j.BusinessDate(at)
			if err := s.cfg.Trigger(ctx, name, date); err != nil {
				s.cfg.Log.Error("scheduled run not triggered", zap.String("job", name), zap.String("business_date", date), zap.Error(err))
			} else {
				s.cfg.Log.Info("scheduled run triggered", zap.String("job", name), zap.String("business_date", date))
			}
			sched, _ := j.CronSchedule()
			next[name] = sched.Next(now)
		}
		wait := s.cfg.Reload
		for _, at := range next {
			wait = min(wait, at.Sub(now))
		}
		select {
		case <-ctx.Done():
		case <-s.reload:
		case <-s.cfg.Clock.After(max(wait, 0)):
		}
	}
	return nil
}
