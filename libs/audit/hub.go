package audit

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bcosdata/bcosdata/libs/app/auth"
	auditv1 "github.com/bcosdata/bcosdata/proto/bcosdata/audit/v1"
)

// Hub holds the trails of the services one gRPC server hosts (one in a service's own binary,
// several in bcosdata demo), routes each decision to its trail and serves AuditService.
type Hub struct {
	auditv1.UnimplementedAuditServiceServer

	log     *zap.Logger
	metrics *metrics

	mu     sync.RWMutex
	trails []*Trail
	// anchorFor and anchorEvery, when set, anchor the head of every trail added without an
	// Anchorer of its own (SetAnchoring).
	anchorFor   func(service, schema string) HeadAnchorer
	anchorEvery time.Duration
}

// SetAnchoring anchors the head of each trail added from now on without an Anchorer of its
// own through anchorFor(service, schema), every interval (0: the default). The host sets it
// from its -audit.anchor.* flags, so every service it hosts is anchored the same way.
func (h *Hub) SetAnchoring(anchorFor func(service, schema string) HeadAnchorer, every time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.anchorFor, h.anchorEvery = anchorFor, every
}

// NewHub returns an empty hub whose metrics go to reg (may be nil).
func NewHub(log *zap.Logger, reg prometheus.Registerer) *Hub {
	if log == nil {
		log = zap.NewNop()
	}
	m := newMetrics()
	m.register(reg)
	return &Hub{log: log, metrics: m}
}

// Add adds a trail; call it before Run.
func (h *Hub) Add(t *Trail) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t.metrics = h.metrics
	if t.cfg.Anchorer == nil && h.anchorFor != nil {
		t.cfg.Anchorer = h.anchorFor(t.cfg.Service, t.cfg.Schema)
		if h.anchorEvery > 0 {
			t.cfg.AnchorInterval = h.anchorEvery
		}
	}
	h.trails = append(h.trails, t)
}

// Trails returns the trails added so far.
func (h *Hub) Trails() []*Trail {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return slices.Clone(h.trails)
}

// Hook is the auth.DecisionHook the authorization interceptor calls once per call.
func (h *Hub) Hook() auth.DecisionHook { return h.Record }

// Record queues d on the trail of d.RPC's service, or on the first trail when no trail names
// that service (health, reflection, the Audit API itself). With no trail it does nothing.
func (h *Hub) Record(ctx context.Context, d auth.Decision) {
	if t := h.route(d.RPC); t != nil {
		t.Record(ctx, d)
	}
}

func (h *Hub) route(rpc string) *Trail {
	svc, _, _ := strings.Cut(strings.TrimPrefix(rpc, "/"), "/")
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, t := range h.trails {
		if slices.Contains(t.cfg.GRPCServices, svc) {
			return t
		}
	}
	if len(h.trails) > 0 {
		return h.trails[0]
	}
	return nil
}

// Flush waits until every decision recorded so far is in its table.
func (h *Hub) Flush(ctx context.Context) error {
	var errs []error
	for _, t := range h.Trails() {
		errs = append(errs, t.Flush(ctx))
	}
	return errors.Join(errs...)
}

// Run runs every trail until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, t := range h.Trails() {
		g.Go(func() error { return t.Run(ctx) })
	}
	return g.Wait()
}

// Ready reports the trails' readiness.
func (h *Hub) Ready(ctx context.Context) error {
	var errs []error
	for _, t := range h.Trails() {
		errs = append(errs, t.Ready(ctx))
	}
	return errors.Join(errs...)
}

// trail finds the trail an Audit request names; empty names the only one.
func (h *Hub) trail(name string) (*Trail, error) {
	trails := h.Trails()
	if name == "" {
		switch len(trails) {
		case 1:
			return trails[0], nil
		case 0:
			return nil, status.Error(codes.Unavailable, "this server keeps no audit trail")
		}
		return nil, status.Errorf(codes.InvalidArgument, "service: empty, and this server keeps several trails: %s", names(trails))
	}
	for _, t := range trails {
		if t.cfg.Service == name {
			return t, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "service %q: no such audit trail here (have: %s)", name, names(trails))
}

func names(trails []*Trail) string {
	s := make([]string, len(trails))
	for i, t := range trails {
		s[i] = t.cfg.Service
	}
	return strings.Join(s, ", ")
}

// ListAudit implements AuditService.
func (h *Hub) ListAudit(ctx context.Context, req *auditv1.ListAuditRequest) (*auditv1.ListAuditResponse, error) {
	t, err := h.trail(req.GetService())
	if err != nil {
		return nil, err
	}
	resp, err := t.List(ctx, req)
	if errors.Is(err, ErrInvalidArgument) {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return resp, rpcError(err)
}

// VerifyAudit implements AuditService.
func (h *Hub) VerifyAudit(ctx context.Context, req *auditv1.VerifyAuditRequest) (*auditv1.VerifyAuditResponse, error) {
	t, err := h.trail(req.GetService())
	if err != nil {
		return nil, err
	}
	resp, err := t.Verify(ctx)
	return resp, rpcError(err)
}

func rpcError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}
