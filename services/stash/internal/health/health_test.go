package health_test

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bcosdata/bcosdata/services/stash/internal/health"
)

func TestDependencyLogsAtBoundedRateAndRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zap.InfoLevel)
		tr := health.New(zap.New(core), 30*time.Second)
		db := tr.Add(health.Database, true)
		broker := tr.Add(health.Broker, false)
		if err := tr.Ready(); err == nil || err.Error() != "database: not connected yet" {
			t.Fatalf("Ready while pending = %v", err)
		}
		db.OK()
		if err := tr.Ready(); err != nil {
			t.Fatalf("Ready = %v", err)
		}
		if logs.Len() != 0 {
			t.Fatalf("a pending dependency's first success logged %v", logs.All())
		}
		recovered := 0
		broker.OnRecover(func() { recovered++ })
		down := errors.New("dial tcp 127.0.0.1:9092: connect: connection refused")
		for range 70 { // one failure a second for 70 s
			broker.Fail(down)
			time.Sleep(time.Second)
		}
		if err := tr.Ready(); err == nil || err.Error() != "broker: "+down.Error() {
			t.Fatalf("Ready while down = %v", err)
		}
		warns := logs.FilterLevelExact(zap.WarnLevel).All()
		if len(warns) != 3 || warns[0].Message != "dependency down" || warns[1].Message != "dependency still down" {
			t.Fatalf("warnings over 70 s = %d %v, want 3 (at 0, 30 and 60 s)", len(warns), warns)
		}
		broker.OK()
		infos := logs.FilterMessage("dependency recovered").All()
		if len(infos) != 1 || infos[0].ContextMap()["dependency"] != "broker" || infos[0].ContextMap()["down_for"] != 70*time.Second {
			t.Fatalf("recovery log = %v", infos)
		}
		if recovered != 1 {
			t.Fatalf("OnRecover ran %d times", recovered)
		}
		st := tr.States()
		if len(st) != 2 || !st[1].Ready || st[1].Err != "" {
			t.Fatalf("states = %+v", st)
		}
		broker.Fail(down)
		if !strings.Contains(tr.Ready().Error(), "connection refused") {
			t.Fatal("second outage not reported")
		}
	})
}
