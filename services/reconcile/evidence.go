package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"

	"github.com/bcosdata/bcosdata/libs/app/auth"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/pgoffset"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/evidence"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/source"
)

// archive stores segments with the source package's clients (file://, s3://, and the others).
type archive struct{ c *source.Client }

func (a archive) Put(ctx context.Context, uri string, r io.Reader, size int64) error {
	return a.c.Put(ctx, uri, r, size)
}

func (a archive) Open(ctx context.Context, uri string) (io.ReadCloser, error) {
	f, err := a.c.Open(ctx, uri)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// evidenceSource is the connection configuration of the archive.
func (c *Config) evidenceSource() source.Config {
	f := c.Evidence
	return source.ConfigOf(job.SourceOptions{Endpoint: f.S3Endpoint, Region: f.S3Region, PathStyle: f.S3PathStyle, Insecure: f.S3Insecure}, os.Getenv)
}

// newEvidence builds the evidence service on st's pool: the archive, the anchorer when
// -evidence.rpc is set, and the records topic's publisher.
func (s *Service) newEvidence(ctx context.Context, w *kafkago.Writer, recordsTopic string) (*evidence.Service, func(), error) {
	f := s.cfg.Evidence
	cfg := evidence.Config{Flags: f, Chain: s.cfg.Chain, Group: s.cfg.Group, Archiver: archive{source.New(s.cfg.evidenceSource())},
		Log: s.log.Named("evidence"), Metrics: s.evMetrics, Now: s.cfg.EvidenceNow, Poll: s.cfg.Poll,
		Admin: callerIsAdmin, Keys: s.crypto}
	closeAnchorer := func() {}
	if f.Anchoring() {
		a, submitter, closeFn, err := newAnchorer(ctx, f, s.cfg.Group)
		if err != nil {
			return nil, nil, err
		}
		cfg.Anchorer, cfg.Submitter, closeAnchorer = a, submitter, closeFn
	}
	cfg.Publish = func(ctx context.Context, events []*evidence.Event) error {
		msgs := make([]kafkago.Message, len(events))
		for i, e := range events {
			v, err := proto.Marshal(evidence.EventToProto(e, s.cfg.Chain, s.cfg.Group))
			if err != nil {
				return err
			}
			key := e.RecordID
			if e.Batch != nil {
				key = fmt.Sprintf("batch-%d", e.Batch.Number)
			}
			msgs[i] = kafkago.Message{Topic: recordsTopic, Key: []byte(key), Value: v,
				Headers: kafka.Headers(kafka.ContentTypeProtobuf, string(proto.MessageName(&reconcilev1.RecordEvent{})), 0)}
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return w.WriteMessages(pctx, msgs...)
	}
	return evidence.New(cfg, s.deps.Pool), closeAnchorer, nil
}

// evidenceConsumer consumes bcos.<chain>.<group>.records.in.v1 into ev, in its own group.
func (s *Service) evidenceConsumer(ev *evidence.Service, offsets *pgoffset.Store, topic string) (*kafka.Consumer, error) {
	group := s.cfg.groupID() + "-evidence"
	return kafka.NewConsumer(kafka.ConsumerConfig{Brokers: s.cfg.Kafka.Brokers, GroupID: group, Topics: []string{topic},
		MaxMessageBytes: s.cfg.Kafka.MaxMessageBytes, MaxBackoff: s.cfg.RetryMax, Offsets: offsets, Logger: s.log.Named("evidence"),
		DeadLetter: true, DeadLetterReplicationFactor: s.cfg.Kafka.ReplicationFactor,
		HeartbeatInterval: s.cfg.HeartbeatInterval, SessionTimeout: s.cfg.SessionTimeout,
		RebalanceTimeout: s.cfg.SessionTimeout, JoinGroupBackoff: s.cfg.HeartbeatInterval}, ev.NewInHandler(offsets, group))
}

// mergeOpenAPI serves ReconcileService's and EvidenceService's documents as one: the paths
// and definitions of the second are added to the first.
func mergeOpenAPI(base, more []byte) []byte {
	var a, b map[string]any
	if json.Unmarshal(base, &a) != nil || json.Unmarshal(more, &b) != nil {
		return base
	}
	for _, k := range []string{"paths", "definitions"} {
		am, _ := a[k].(map[string]any)
		bm, _ := b[k].(map[string]any)
		if am == nil {
			am = map[string]any{}
			a[k] = am
		}
		for name, v := range bm {
			if _, ok := am[name]; !ok {
				am[name] = v
			}
		}
	}
	if tags, ok := b["tags"].([]any); ok {
		at, _ := a["tags"].([]any)
		a["tags"] = append(at, tags...)
	}
	out, err := json.Marshal(a)
	if err != nil {
		return base
	}
	return out
}

// callerIsAdmin lets a caller the auth policy gave the admin role (-auth.policy; libs/app/auth)
// supersede, revoke or erase other publishers' records. The roles a publisher's registration
// names grant nothing here: a registration is signed by the new key itself. With auth off no
// caller is an admin, and only a record's own publisher may act on it.
func callerIsAdmin(ctx context.Context, _ string, _ []string) bool {
	p, ok := auth.FromContext(ctx)
	return ok && p.HasRole(auth.RoleAdmin)
}
