// Package kafkatest runs an in-process Kafka-protocol broker (franz-go's kfake) on loopback for
// tests, so Kafka code is exercised over real TCP with the real client instead of mocks.
//
// Each test starts its own broker (they are cheap) or shares one and takes unique topic names
// from Topic, so tests can run in parallel.
package kafkatest

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is a running in-process Kafka cluster listening on 127.0.0.1. Unless it speaks TLS or
// SASL, it also removes consumer group members that died in a rebalance and that kfake itself
// would keep for good (see reaper), as Kafka expires them.
type Broker struct {
	opts  []kfake.Opt
	ports []int
	// reap is whether the broker removes group members kfake lost track of (see reaper); off
	// with TLS or SASL, whose credentials the reaper's own requests do not have.
	reap bool

	mu      sync.Mutex
	cluster *kfake.Cluster // nil while stopped
	reaper  *reaper        // nil while stopped or without reap
}

type options struct {
	brokers         int
	partitions      int
	maxMessageBytes int
	dataDir         string
	autoCreate      bool
	brokerConfigs   map[string]string
	seeds           []seed
	tls             *tls.Config
	sasl            []scramUser
}

type scramUser struct{ mechanism, user, pass string }

type seed struct {
	partitions int32
	topics     []string
}

// Option configures NewBroker.
type Option func(*options)

// WithBrokers sets the number of brokers in the cluster (default 1). More brokers spread
// partition leaders, which exercises the client's per-broker connections.
func WithBrokers(n int) Option {
	return func(o *options) { o.brokers = n }
}

// WithPartitions sets the partition count used when a topic is created without one (default 1),
// for example by CreateTopics with -1 partitions.
func WithPartitions(n int) Option {
	return func(o *options) { o.partitions = n }
}

// WithMaxMessageBytes raises the broker-wide message.max.bytes (default 1048588, Kafka's own), so
// tests can produce messages over 1 MiB to topics that do not set max.message.bytes themselves.
func WithMaxMessageBytes(n int) Option {
	return func(o *options) { o.maxMessageBytes = n }
}

// WithDataDir makes the broker persist its log to dir instead of the heap; a broker started
// again on the same dir sees the same topics, records and committed offsets.
func WithDataDir(dir string) Option {
	return func(o *options) { o.dataDir = dir }
}

// WithAutoTopicCreation lets metadata requests create missing topics, as a broker with
// auto.create.topics.enable does; off by default so tests notice clients that rely on it.
func WithAutoTopicCreation() Option {
	return func(o *options) { o.autoCreate = true }
}

// WithBrokerConfigs sets broker-level configs such as log.retention.bytes; later calls add to
// earlier ones.
func WithBrokerConfigs(cfgs map[string]string) Option {
	return func(o *options) {
		if o.brokerConfigs == nil {
			o.brokerConfigs = make(map[string]string, len(cfgs))
		}
		maps.Copy(o.brokerConfigs, cfgs)
	}
}

// WithTLS makes the broker accept TLS connections only, with cfg (its certificate, and
// ClientAuth and ClientCAs for mutual TLS).
func WithTLS(cfg *tls.Config) Option {
	return func(o *options) { o.tls = cfg }
}

// WithSCRAM turns SASL on and adds a superuser: mechanism is "SCRAM-SHA-256" or
// "SCRAM-SHA-512". Clients without those credentials are refused.
func WithSCRAM(mechanism, user, pass string) Option {
	return func(o *options) { o.sasl = append(o.sasl, scramUser{mechanism, user, pass}) }
}

// WithTopics creates topics with the given partition count when the broker starts.
func WithTopics(partitions int32, topics ...string) Option {
	return func(o *options) { o.seeds = append(o.seeds, seed{partitions: partitions, topics: topics}) }
}

// Consumer group timings for tests against this broker: a join or rebalance takes a few hundred
// milliseconds instead of the seconds kafka-go's defaults (3 s heartbeat, 5 s join backoff)
// cost. Set them on the consumer, e.g. kafka-go's ReaderConfig or libs/kafka's ConsumerConfig.
const (
	HeartbeatInterval = 100 * time.Millisecond
	SessionTimeout    = 2 * time.Second
	RebalanceTimeout  = 2 * time.Second
	JoinGroupBackoff  = 100 * time.Millisecond
)

// minSessionTimeout lets clients ask for short group session timeouts: with Kafka's 6 s floor a
// member that vanishes stalls its group's rebalance for seconds, which is most of a test's budget.
const minSessionTimeout = 100 * time.Millisecond

// NewBroker starts a cluster on free loopback ports and closes it when tb's test ends.
func NewBroker(tb testing.TB, opts ...Option) *Broker {
	tb.Helper()
	b, err := StartBroker(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(b.Stop)
	return b
}

// StartBroker starts a cluster on free loopback ports, outside any test (a benchmark's broker
// process); the caller stops it.
func StartBroker(opts ...Option) (*Broker, error) {
	o := options{brokers: 1, partitions: 1}
	for _, opt := range opts {
		opt(&o)
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(o.brokers),
		kfake.DefaultNumPartitions(o.partitions),
		kfake.GroupMinSessionTimeout(minSessionTimeout),
	}
	cfgs := maps.Clone(o.brokerConfigs)
	if o.maxMessageBytes > 0 {
		if cfgs == nil {
			cfgs = make(map[string]string, 1)
		}
		cfgs["message.max.bytes"] = strconv.Itoa(o.maxMessageBytes)
	}
	if len(cfgs) > 0 {
		kopts = append(kopts, kfake.BrokerConfigs(cfgs))
	}
	if o.dataDir != "" {
		kopts = append(kopts, kfake.DataDir(o.dataDir))
	}
	if o.autoCreate {
		kopts = append(kopts, kfake.AllowAutoTopicCreation())
	}
	if o.tls != nil {
		kopts = append(kopts, kfake.TLS(o.tls))
	}
	if len(o.sasl) > 0 {
		kopts = append(kopts, kfake.EnableSASL())
		for _, u := range o.sasl {
			kopts = append(kopts, kfake.Superuser(u.mechanism, u.user, u.pass))
		}
	}
	for _, s := range o.seeds {
		kopts = append(kopts, kfake.SeedTopics(s.partitions, s.topics...))
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("start kafka test broker: %w", err)
	}
	b := &Broker{opts: kopts, cluster: c, reap: o.tls == nil && len(o.sasl) == 0}
	for _, addr := range c.ListenAddrs() {
		_, port, _ := net.SplitHostPort(addr)
		p, err := strconv.Atoi(port)
		if err != nil {
			b.Stop()
			return nil, fmt.Errorf("parse kafka test broker address %s: %w", addr, err)
		}
		b.ports = append(b.ports, p)
	}
	b.startReaper()
	return b, nil
}

// startReaper starts the reaper of the running cluster; b.mu is held or b not yet shared.
func (b *Broker) startReaper() {
	if b.reap {
		b.reaper = startReaper(b.cluster, b.Addrs())
	}
}

// Addrs returns the host:port of every broker, for client bootstrap lists. They stay the same
// across Stop and Start.
func (b *Broker) Addrs() []string {
	addrs := make([]string, len(b.ports))
	for i, p := range b.ports {
		addrs[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	}
	return addrs
}

// Cluster returns the underlying kfake cluster, for inspecting groups and committed offsets
// (GroupInfo, WaitGroupStable) or injecting faults. It is nil while the broker is stopped.
// Stop it with Stop, not its Close.
func (b *Broker) Cluster() *kfake.Cluster {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cluster
}

// Stop shuts the cluster down, as an outage: clients get connection refused until Start. With
// WithDataDir the cluster saves its state first. Stop is idempotent.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reaper != nil {
		b.reaper.stop()
		b.reaper = nil
	}
	if b.cluster != nil {
		b.cluster.Close()
		b.cluster = nil
	}
}

// Start starts a stopped cluster again on the same ports, with the same options. Only a
// broker with WithDataDir keeps its topics, records and committed offsets.
func (b *Broker) Start(tb testing.TB) {
	tb.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cluster != nil {
		tb.Fatalf("start kafka test broker: already running")
	}
	c, err := kfake.NewCluster(append(slices.Clip(b.opts), kfake.Ports(b.ports...))...)
	if err != nil {
		tb.Fatalf("restart kafka test broker on ports %v: %v", b.ports, err)
	}
	b.cluster = c
	b.startReaper()
}

// CreateTopic creates a topic directly on the broker, failing the test if that is impossible.
func (b *Broker) CreateTopic(tb testing.TB, topic string, partitions int32, configs map[string]string) {
	tb.Helper()
	if err := b.Cluster().CreateTopic(topic, partitions, configs); err != nil {
		tb.Fatalf("create topic %s with %d partitions: %v", topic, partitions, err)
	}
}

// maxTestNameInTopic keeps names well under Kafka's 249-character topic limit.
const maxTestNameInTopic = 80

// Topic returns a topic name unique to this call, built from prefix and the test's name so a
// broker log shows which test owns a topic. Only letters, digits, '.' and '-' are used: Kafka
// treats names differing only in '.' versus '_' as colliding.
func Topic(tb testing.TB, prefix string) string {
	tb.Helper()
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		tb.Fatalf("read random topic suffix: %v", err)
	}
	name := sanitize(tb.Name())
	if len(name) > maxTestNameInTopic {
		name = name[:maxTestNameInTopic]
	}
	var sb strings.Builder
	if p := sanitize(prefix); p != "" {
		sb.WriteString(p)
		sb.WriteByte('.')
	}
	sb.WriteString(name)
	sb.WriteByte('.')
	sb.WriteString(hex.EncodeToString(suffix[:]))
	return sb.String()
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		default:
			return '-'
		}
	}, s)
}
