package app

import (
	"github.com/bcosdata/bcosdata/libs/audit"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Deps are the shared resources the hosting process hands a service, the same for every
// service: its own binary builds one set, the all-in-one bcosdata shares one logger root, one
// metrics registry and one pool between the services it hosts.
type Deps struct {
	// Log is the service's logger; nil means no logging.
	Log *zap.Logger
	// Metrics receives the service's collectors; nil means they are not exported.
	Metrics prometheus.Registerer
	// Pool is the PostgreSQL pool, owned and closed by the host after the service's Run has
	// returned. It is made without connecting, so a service must expect the database to be
	// unreachable at first and report that in its readiness. A service given no pool makes
	// its own from its configuration and closes it.
	Pool *pgxpool.Pool
	// Audit takes the service's audit trail (AddAuditTrail); the host makes it with the server
	// (Server.Audit), whose Audit API serves it. nil means no audit trail.
	Audit *audit.Hub
}

// OrNop returns d with a no-op logger when it has none.
func (d Deps) OrNop() Deps {
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	return d
}
