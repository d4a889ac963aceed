package schedule

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
)

// TestScheduleFiresWithTheBusinessDate runs two days of a 02:00 schedule in a synctest bubble
// (its clock is fake: the test waits for nothing) and checks each firing asked for the day
// before, in the job's zone.
func TestScheduleFiresWithTheBusinessDate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		jobs, err := job.Parse("jobs.yaml", []byte(`jobs:
  - name: daily
    source: file:///biz
    pattern: t-{yyyyMMdd}.csv
    chain: {contract: Asset, event: Transfer}
    key: [{business: id, chain: tx_hash}]
    window: {zone: Asia/Shanghai}
    schedule: "0 2 * * *"
  - name: manual
    source: file:///biz
    pattern: t-{yyyyMMdd}.csv
    chain: {contract: Asset, event: Transfer}
    key: [{business: id, chain: tx_hash}]
`))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var fired []string
		s := New(Config{
			Jobs: func(context.Context) ([]*job.Job, error) { return []*job.Job{&jobs[0], &jobs[1]}, nil },
			Trigger: func(_ context.Context, name, date string) error {
				mu.Lock()
				defer mu.Unlock()
				fired = append(fired, name+" "+date+" "+time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04"))
				return nil
			},
		})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); _ = s.Run(ctx) }()
		// The bubble starts at 2000-01-01 00:00 UTC (08:00 in Shanghai): the next firings are
		// 2000-01-02 02:00 and 2000-01-03 02:00 Shanghai time.
		time.Sleep(48 * time.Hour)
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		want := []string{"daily 2000-01-01 2000-01-02 02:00", "daily 2000-01-02 2000-01-03 02:00"}
		if !slices.Equal(fired, want) {
			t.Errorf("fired %q, want %q", fired, want)
		}
	})
}
