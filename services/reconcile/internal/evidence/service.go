package evidence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/bcosdata/bcosdata/libs/crypto/fieldcrypt"
	"github.com/ethereum/go-ethereum/common"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// Anchorer sends a batch root to the Evidence contract. It returns the transaction hash, or
// an error wrapping ErrAlreadyAnchored when the contract holds this batch from us already
// (the caller then waits for the event as for a fresh anchor).
type Anchorer interface {
	Anchor(ctx context.Context, batchID, root [32]byte, count int, segment string) (common.Hash, error)
}

// ErrAlreadyAnchored is wrapped by an Anchorer's error when our earlier anchor of the batch is
// on chain already.
var ErrAlreadyAnchored = errors.New("batch anchored by us already")

// Archive stores and reads sealed segments by URI.
type Archive interface {
	Put(ctx context.Context, uri string, r io.Reader, size int64) error
	Open(ctx context.Context, uri string) (io.ReadCloser, error)
}

// retry is when a batch whose send failed is tried again, and the wait before that.
type retry struct {
	at   time.Time
	wait time.Duration
	err  error
}

// Config configures a Service.
type Config struct {
	Flags
	Chain string
	Group uint
	// Archiver stores segments; Anchorer anchors roots (nil: batches are sealed, not sent).
	Archiver Archive
	Anchorer Anchorer
	// Submitter is the anchoring account's address (the EvidenceStored submitter we expect).
	Submitter common.Address
	// Publish sends record events to the records topic (nil: kept in the database only).
	Publish func(ctx context.Context, events []*Event) error
	// Admin is the hook of issue 14 (roles): whether the named publisher, holding roles, may
	// supersede, revoke or erase records of other publishers. Nil: nobody may.
	Admin func(ctx context.Context, publisher string, roles []string) bool
	// Keys seals the payloads of the categories Flags.Sensitive names (reconcile's
	// -crypto.keys); needed when it names any.
	Keys *fieldcrypt.Keyring
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Poll is how often the sealer, the anchorer, the outbox and the inbox look for work
	// (default 200 ms).
	Poll    time.Duration
	Log     *zap.Logger
	Metrics *Metrics
}

// Service is the evidence service. Safe for concurrent use.
type Service struct {
	cfg     Config
	pool    *pgxpool.Pool
	log     *zap.Logger
	metrics *Metrics
	started time.Time

	pubs   sync.Map // name → *publisherRow
	events notifier // published events (subscribers)
	outbox notifier // committed events (the publisher)
	sealed notifier

	inboxSeen map[string]fileSeen // the inbox loop's alone
	retryAt   map[int64]retry     // the anchor loop's alone: batches whose send failed

	mu      sync.Mutex
	lastErr map[string]error
}

// New returns the service on pool, whose schema the reconcile store has migrated.
func New(cfg Config, pool *pgxpool.Pool) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	return &Service{cfg: cfg, pool: pool, log: cfg.Log, metrics: cfg.Metrics, started: time.Now(), lastErr: map[string]error{},
		retryAt: map[int64]retry{}}
}

func (s *Service) now() time.Time { return s.cfg.Now() }

// changed wakes the outbox publisher.
func (s *Service) changed() { s.outbox.notify() }

// Err returns the ongoing failures of the background loops (nil when none).
func (s *Service) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for k, err := range s.lastErr {
		errs = append(errs, fmt.Errorf("%s: %w", k, err))
	}
	return errors.Join(errs...)
}

func (s *Service) setErr(loop string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.lastErr, loop)
		return
	}
	if _, had := s.lastErr[loop]; !had {
		s.log.Warn("evidence loop failing", zap.String("loop", loop), zap.Error(err))
	}
	s.lastErr[loop] = err
}

// Run seals, archives and anchors batches, publishes record events, reads the inbox and runs
// scheduled verifications until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.loop(ctx, "seal", s.cfg.Poll, nil, s.sealDue) })
	g.Go(func() error { return s.loop(ctx, "anchor", s.cfg.Poll, s.sealed.wait, s.anchorDue) })
	g.Go(func() error { return s.loop(ctx, "outbox", s.cfg.Poll, s.outbox.wait, s.publishEvents) })
	if s.cfg.Inbox != "" {
		g.Go(func() error { return s.loop(ctx, "inbox", 4*s.cfg.Poll, nil, s.scanInbox) })
	}
	if s.cfg.VerifyEvery > 0 {
		g.Go(func() error {
			return s.loop(ctx, "verify", s.cfg.VerifyEvery, nil, func(ctx context.Context) error {
				_, err := s.Verify(ctx, "schedule")
				return err
			})
		})
	}
	return g.Wait()
}

// loop calls work every interval (or when wake fires) until ctx ends; a failure is kept for
// readiness and retried at the next turn.
func (s *Service) loop(ctx context.Context, name string, every time.Duration, wake func() <-chan struct{}, work func(context.Context) error) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var w <-chan struct{}
		if wake != nil {
			w = wake()
		}
		err := work(ctx)
		if ctx.Err() != nil {
			return nil
		}
		s.setErr(name, err)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-w:
		}
	}
}

// segmentURI is where a segment is archived.
func (s *Service) segmentURI(segment string) string {
	return strings.TrimSuffix(s.cfg.Archive, "/") + "/" + segment
}
