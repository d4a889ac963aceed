package app

import (
	"context"
	"fmt"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/bcosdata/bcosdata/libs/app/auth"
	"github.com/bcosdata/bcosdata/libs/audit"
	auditv1 "github.com/bcosdata/bcosdata/proto/bcosdata/audit/v1"
)

// registerAudit gives the server its audit hub: told of every decision of the guard, the Audit
// API on the gRPC server (and, through gatewayHandler, on every HTTP API) and the trails'
// readiness.
func (s *Server) registerAudit() {
	s.audit = audit.NewHub(s.log.Named("audit"), s.registry)
	s.guard.AddHook(s.audit.Hook())
	// The trail a call reads is its resource, so a policy can grant one service's trail:
	// resources: ["audit:reconcile"].
	s.guard.AddResources(func(_ string, req any) string {
		var name string
		switch r := req.(type) {
		case *auditv1.ListAuditRequest:
			name = r.GetService()
		case *auditv1.VerifyAuditRequest:
			name = r.GetService()
		default:
			return ""
		}
		if trails := s.audit.Trails(); name == "" && len(trails) == 1 {
			name = trails[0].Service()
		}
		return "audit:" + name
	})

	auditv1.RegisterAuditServiceServer(s.grpc, s.audit)
	s.AddCheck("audit", s.audit.Ready)

	// With -audit.anchor.addr, every trail's head is published to the evidence service.
	anchorFor, closeConn, err := s.cfg.AuditAnchor.ForTrails()
	switch {
	case err != nil:
		// Validate reported it already when the flags came from a command line.
		s.AddCheck("audit-anchor", func(context.Context) error { return fmt.Errorf("audit head anchoring: %w", err) })
	case anchorFor != nil:
		s.audit.SetAnchoring(anchorFor, s.cfg.AuditAnchor.Every)
		s.auditAnchorClose = closeConn
		s.log.Info("audit heads anchored through the evidence service", zap.String("addr", s.cfg.AuditAnchor.Addr),
			zap.Duration("every", s.cfg.AuditAnchor.Every))
	}
}

// Audit returns the server's audit hub: the trails of the services it hosts.
func (s *Server) Audit() *audit.Hub { return s.audit }

// DecisionHook records a decision on the audit trail of the RPC's service; the guard calls it
// once per call (registerAudit added it), so only calls that bypass the guard need it.
func (s *Server) DecisionHook() auth.DecisionHook { return s.audit.Hook() }

// AddAuditTrail adds the service's audit trail to the host's hub: the audit table in cfg.Schema
// of the service's database, and the audit topic when cfg.Publisher is set. It does nothing
// when the host keeps no audit (Audit nil) or gave the service no pool; the publisher is
// closed then.
func (d Deps) AddAuditTrail(cfg audit.Config) error {
	if d.Audit == nil || d.Pool == nil {
		if cfg.Publisher != nil {
			_ = cfg.Publisher.Close()
		}
		return nil
	}
	t, err := audit.NewTrail(cfg, d.Pool, d.Log)
	if err != nil {
		return fmt.Errorf("audit trail: %w", err)
	}
	d.Audit.Add(t)
	return nil
}

// auditService runs the hub's trails under Serve, and closes the anchoring connection after.
type auditService struct {
	hub         *audit.Hub
	closeAnchor func() error
}

func (auditService) Register(*grpc.Server) {}

func (a auditService) Run(ctx context.Context) error {
	err := a.hub.Run(ctx)
	if a.closeAnchor != nil {
		_ = a.closeAnchor()
	}
	return err
}
