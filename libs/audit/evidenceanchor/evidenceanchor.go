// Package evidenceanchor anchors audit trails' heads through the evidence path (issue 13): an
// Anchorer is an audit.HeadAnchorer that publishes each head as a signed evidence record to
// reconcile's bcosdata.reconcile.v1.EvidenceService, which batches the records and anchors the
// batch roots on chain. A database administrator who rewrites an audit chain cannot rewrite
// those records, so audit.Trail.Verify (and anyone holding GetProof of a record) finds it.
//
// Each head is one "publish" record of the trail's publisher (by default audit-<service>),
// category audit.<service>, id audit/<service>/<seq>, with the JSON payload
//
//	{"service":"export","schema":"export","seq":42,"hash":"0x…","time":"2026-12-06T11:40:00.123Z"}
//
// The id is a function of the head, so a retry of the same head is the same record and the
// service acknowledges it without storing it twice. The publisher is registered on first use
// with a self-signed "publisher" record when the service does not know it yet.
package evidenceanchor

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/bcosdata/bcosdata/libs/audit"
	"github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
)

// DefaultEvery is how often a trail's head is anchored when it moved.
const DefaultEvery = time.Minute

// Flags are a process's anchoring flags, the same for every service: -audit.anchor.*.
type Flags struct {
	// Addr is the EvidenceService's gRPC address; empty turns anchoring off.
	Addr string
	// Key is the publisher key file: `bcosdata evidence keygen`'s JSON, or 64 hex digits
	// (then an ECDSA key).
	Key string
	// Publisher is the publisher name; empty means audit-<service>.
	Publisher string
	// Every is how often a moved head is anchored.
	Every time.Duration
	// CA, when set, turns TLS on towards Addr, with this PEM bundle as the trusted roots.
	CA string
	// TokenFile, when set, holds the bearer token sent with every call.
	TokenFile string
}

// RegisterFlags adds the -audit.anchor.* flags.
func (f *Flags) RegisterFlags(fs interface {
	StringVar(p *string, name, value, usage string)
	DurationVar(p *time.Duration, name string, value time.Duration, usage string)
}) {
	fs.StringVar(&f.Addr, "audit.anchor.addr", "", "gRPC address of the evidence service (reconcile) the audit trail's head is anchored through, as a signed evidence record; empty turns anchoring off")
	fs.StringVar(&f.Key, "audit.anchor.key", "", "publisher key file that signs the audit head records (`bcosdata evidence keygen` JSON, or 64 hex digits for an ECDSA key); needed with -audit.anchor.addr")
	fs.StringVar(&f.Publisher, "audit.anchor.publisher", "", "evidence publisher name of the audit head records, registered on first use (default audit-<service>)")
	fs.DurationVar(&f.Every, "audit.anchor.every", DefaultEvery, "how often the audit trail's head is anchored when it moved")
	fs.StringVar(&f.CA, "audit.anchor.tls-ca", "", "PEM CA bundle: call the evidence service over TLS, trusting these roots (default plaintext)")
	fs.StringVar(&f.TokenFile, "audit.anchor.token-file", "", "file holding the bearer token sent to the evidence service (needs a publisher's grants there when it runs -auth.policy)")
}

// Enabled reports whether anchoring is on.
func (f Flags) Enabled() bool { return f.Addr != "" }

// Validate reports unusable values, naming the flag.
func (f Flags) Validate() error {
	if !f.Enabled() {
		return nil
	}
	var errs []error
	if f.Key == "" {
		errs = append(errs, errors.New("-audit.anchor.addr: needs -audit.anchor.key, the publisher key that signs the head records"))
	} else if _, _, err := ReadKey(f.Key); err != nil {
		errs = append(errs, fmt.Errorf("-audit.anchor.key: %w", err))
	}
	if f.Every <= 0 {
		errs = append(errs, fmt.Errorf("-audit.anchor.every %s: want more than 0", f.Every))
	}
	return errors.Join(errs...)
}

// Dial returns the client connection to the evidence service the flags name (nothing is
// connected before the first call).
func (f Flags) Dial() (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("-audit.anchor.tls-ca: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-audit.anchor.tls-ca %s: no PEM certificate", f.CA)
		}
		creds = credentials.NewClientTLSFromCert(roots, "")
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if f.TokenFile != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenFile{path: f.TokenFile, tls: f.CA != ""}))
	}
	conn, err := grpc.NewClient(f.Addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("-audit.anchor.addr %s: %w", f.Addr, err)
	}
	return conn, nil
}

// tokenFile sends the bearer token of a file, re-read on every call so a rotated token is
// picked up.
type tokenFile struct {
	path string
	tls  bool
}

func (t tokenFile) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	b, err := os.ReadFile(t.path)
	if err != nil {
		return nil, fmt.Errorf("-audit.anchor.token-file: %w", err)
	}
	return map[string]string{"authorization": "Bearer " + strings.TrimSpace(string(b))}, nil
}

func (t tokenFile) RequireTransportSecurity() bool { return t.tls }

// ReadKey reads a publisher key file: the JSON of `bcosdata evidence keygen`, or the 32-byte
// private key as 64 hex digits (an ECDSA key).
func ReadKey(path string) (*cryptosuite.Suite, *cryptosuite.PrivateKey, error) {
	return evidence.ReadKeyFile(path, cryptosuite.NameECDSA)
}

// Payload is the JSON payload of a head record.
type Payload struct {
	Service string `json:"service"`
	Schema  string `json:"schema"`
	Seq     uint64 `json:"seq"`
	// Hash is the head's hash, 0x hex.
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
}

// Category returns the evidence category of service's head records.
func Category(service string) string { return "audit." + service }

// RecordID returns the evidence record id of service's head at seq.
func RecordID(service string, seq uint64) string { return fmt.Sprintf("audit/%s/%d", service, seq) }

// Anchorer publishes one trail's heads. It is an audit.HeadAnchorer and audit.AnchorReader.
type Anchorer struct {
	client    reconcilev1.EvidenceServiceClient
	suite     *cryptosuite.Suite
	key       *cryptosuite.PrivateKey
	service   string
	schema    string
	publisher string
	now       func() time.Time

	mu         sync.Mutex
	registered bool
	// pending is the record of the last head that failed to publish: a retry sends the very
	// same record, so a first attempt that did reach the service is acknowledged, not refused.
	pending *reconcilev1.EvidenceRecord
}

var (
	_ audit.HeadAnchorer = (*Anchorer)(nil)
	_ audit.AnchorReader = (*Anchorer)(nil)
)

// New returns the Anchorer of the trail of service (in schema) that publishes to conn as
// publisher (empty: audit-<service>), signing with key of suite.
func New(conn grpc.ClientConnInterface, service, schema, publisher string, suite *cryptosuite.Suite, key *cryptosuite.PrivateKey) *Anchorer {
	if publisher == "" {
		publisher = "audit-" + service
	}
	return &Anchorer{client: reconcilev1.NewEvidenceServiceClient(conn), suite: suite, key: key,
		service: service, schema: schema, publisher: publisher, now: time.Now}
}

// Publisher returns the publisher name the records are signed as.
func (a *Anchorer) Publisher() string { return a.publisher }

// AnchorHead publishes the head seq/hash as a signed record and returns its id.
func (a *Anchorer) AnchorHead(ctx context.Context, seq uint64, hash []byte) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.register(ctx); err != nil {
		return "", err
	}
	id := RecordID(a.service, seq)
	rec := a.pending
	if rec == nil || rec.GetId() != id {
		var err error
		if rec, err = a.headRecord(id, seq, hash); err != nil {
			return "", err
		}
	}
	_, err := a.client.PublishRecord(ctx, &reconcilev1.PublishRecordRequest{Record: rec})
	if status.Code(err) == codes.AlreadyExists {
		// Another record holds the id: an attempt before a restart (another time in the
		// payload). It anchors this head all the same if it holds the same seq and hash.
		gotSeq, gotHash, rerr := a.AnchoredHead(ctx, id)
		if rerr == nil && gotSeq == seq && bytes.Equal(gotHash, hash) {
			err = nil
		}
	}
	if err != nil {
		a.pending = rec
		return "", fmt.Errorf("publish audit head %s: %w", id, err)
	}
	a.pending = nil
	return id, nil
}

// headRecord returns the signed record of the head at seq.
func (a *Anchorer) headRecord(id string, seq uint64, hash []byte) (*reconcilev1.EvidenceRecord, error) {
	payload, err := json.Marshal(Payload{Service: a.service, Schema: a.schema, Seq: seq, Hash: "0x" + hex.EncodeToString(hash),
		Time: a.now().UTC().Truncate(time.Millisecond)})
	if err != nil {
		return nil, err
	}
	r := evidence.Record{ID: id, Publisher: a.publisher, Category: Category(a.service), Kind: evidence.KindPublish}
	r.SetPayload(evidence.PayloadJSON, payload)
	return a.sign(&r)
}

func (a *Anchorer) sign(r *evidence.Record) (*reconcilev1.EvidenceRecord, error) {
	if err := evidence.Sign(a.suite, a.key, r); err != nil {
		return nil, fmt.Errorf("sign evidence record %s: %w", r.ID, err)
	}
	return &reconcilev1.EvidenceRecord{Id: r.ID, Publisher: r.Publisher, Category: r.Category, PayloadType: r.PayloadType,
		Payload: string(r.Payload), PayloadHash: "0x" + hex.EncodeToString(r.PayloadHash[:]), Kind: r.Kind,
		Signature: "0x" + hex.EncodeToString(r.Signature)}, nil
}

// register registers the publisher with a self-signed "publisher" record unless the service
// knows it already; a publisher of that name with another key is an error.
func (a *Anchorer) register(ctx context.Context) error {
	if a.registered {
		return nil
	}
	pub := a.key.PublicKey()
	got, err := a.client.GetPublisher(ctx, &reconcilev1.GetPublisherRequest{Name: a.publisher})
	switch {
	case err == nil:
		if !strings.EqualFold(strings.TrimPrefix(got.GetPublisher().GetPublicKey(), "0x"), pub.String()) {
			return fmt.Errorf("evidence publisher %s is registered with another key than -audit.anchor.key's", a.publisher)
		}
	case status.Code(err) == codes.NotFound:
		reg := evidence.Record{ID: "publisher/" + a.publisher, Publisher: a.publisher, Category: "publisher", Kind: evidence.KindPublisher}
		body, err := json.Marshal(map[string]string{"name": a.publisher, "suite": a.suite.Name(), "public_key": "0x" + pub.String()})
		if err != nil {
			return err
		}
		reg.SetPayload(evidence.PayloadJSON, body)
		p, err := a.sign(&reg)
		if err != nil {
			return err
		}
		if _, err := a.client.RegisterPublisher(ctx, &reconcilev1.RegisterPublisherRequest{Record: p}); err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("register evidence publisher %s: %w", a.publisher, err)
		}
	default:
		return fmt.Errorf("look up evidence publisher %s: %w", a.publisher, err)
	}
	a.registered = true
	return nil
}

// AnchoredHead reads back the head a record holds: the seq and hash of its payload, after
// checking that the record is this trail's, of this publisher.
func (a *Anchorer) AnchoredHead(ctx context.Context, id string) (uint64, []byte, error) {
	resp, err := a.client.GetRecord(ctx, &reconcilev1.GetRecordRequest{Id: id})
	if err != nil {
		return 0, nil, fmt.Errorf("get evidence record %s: %w", id, err)
	}
	r := resp.GetRecord().GetRecord()
	if r.GetCategory() != Category(a.service) || r.GetPublisher() != a.publisher {
		return 0, nil, fmt.Errorf("evidence record %s: category %q of publisher %q, not an audit head of %s by %s", id, r.GetCategory(), r.GetPublisher(), a.service, a.publisher)
	}
	if r.GetPayload() == "" {
		return 0, nil, fmt.Errorf("evidence record %s: payload erased", id)
	}
	var p Payload
	if err := json.Unmarshal([]byte(r.GetPayload()), &p); err != nil {
		return 0, nil, fmt.Errorf("evidence record %s: payload: %w", id, err)
	}
	h, err := hex.DecodeString(strings.TrimPrefix(p.Hash, "0x"))
	if err != nil || p.Service != a.service {
		return 0, nil, fmt.Errorf("evidence record %s: payload of service %q with hash %q, want an audit head of %s", id, p.Service, p.Hash, a.service)
	}
	return p.Seq, h, nil
}

// ForTrails returns what libs/app sets on each trail when the flags turn anchoring on: an
// Anchorer per trail, all over one connection, and the interval; nil when anchoring is off.
// The connection is closed by the returned close function.
func (f Flags) ForTrails() (anchorer func(service, schema string) audit.HeadAnchorer, closeConn func() error, err error) {
	if !f.Enabled() {
		return nil, func() error { return nil }, nil
	}
	if err := f.Validate(); err != nil {
		return nil, nil, err
	}
	suite, key, err := ReadKey(f.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("-audit.anchor.key: %w", err)
	}
	conn, err := f.Dial()
	if err != nil {
		return nil, nil, err
	}
	return func(service, schema string) audit.HeadAnchorer {
		return New(conn, service, schema, f.Publisher, suite, key)
	}, conn.Close, nil
}
