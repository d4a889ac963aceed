package kafka

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// DefaultBroker is the bootstrap broker when none is configured: the demo's embedded broker.
const DefaultBroker = "127.0.0.1:9092"

// Flags are the Kafka options every service shares. Register them with a prefix (Loki's
// RegisterFlagsWithPrefix): with prefix "kafka." they are -kafka.brokers,
// -kafka.replication-factor and -kafka.max-message-bytes.
type Flags struct {
	// Brokers is the bootstrap list.
	Brokers []string
	// ReplicationFactor is used for the topics a service creates; 0 leaves it to the broker.
	ReplicationFactor int
	// MaxMessageBytes is the largest message a service writes or reads, and the
	// max.message.bytes of the topics it creates.
	MaxMessageBytes int
	// Secure is TLS and SASL to the brokers (-kafka.tls.*, -kafka.sasl.*).
	Secure SecurityFlags

	prefix string
	loaded *Security // by Validate
}

// Security returns the TLS and SASL settings of the clients, as Validate loaded them (or
// loads them now). Unusable settings give a Security every dial of which fails, naming the
// flag: Validate reports them first.
func (f *Flags) Security() Security {
	if f.loaded != nil {
		return *f.loaded
	}
	sec, _ := f.Secure.load(f.prefix)
	return sec
}

// RegisterFlagsWithPrefix adds the options to fs, each name prefixed with prefix.
func (f *Flags) RegisterFlagsWithPrefix(prefix string, fs *flag.FlagSet) {
	f.Brokers = []string{DefaultBroker}
	fs.Var(&brokerList{list: &f.Brokers}, prefix+"brokers", "Kafka bootstrap brokers, comma-separated or repeated")
	fs.IntVar(&f.ReplicationFactor, prefix+"replication-factor", 0, "replication factor of the topics this service creates (0: the broker's default)")
	fs.IntVar(&f.MaxMessageBytes, prefix+"max-message-bytes", MaxBlockMessageBytes, "largest message written or read; topics are created with this max.message.bytes")
	f.prefix = prefix
	f.Secure.register(prefix, fs)
}

// Validate reports unusable values, naming the flag with prefix.
func (f *Flags) Validate(prefix string) error {
	var errs []error
	if len(f.Brokers) == 0 {
		errs = append(errs, fmt.Errorf("-%sbrokers: at least one broker is required", prefix))
	}
	for _, b := range f.Brokers {
		if !strings.Contains(b, ":") {
			errs = append(errs, fmt.Errorf("-%sbrokers %q: want host:port", prefix, b))
		}
	}
	if f.ReplicationFactor < 0 {
		errs = append(errs, fmt.Errorf("-%sreplication-factor %d: want 0 (broker default) or more", prefix, f.ReplicationFactor))
	}
	if f.MaxMessageBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("-%smax-message-bytes %d: want at least 1048576 (1 MiB)", prefix, f.MaxMessageBytes))
	}
	sec, err := f.Secure.load(prefix)
	if err != nil {
		errs = append(errs, err)
	} else {
		f.loaded = &sec
	}
	return errors.Join(errs...)
}

// brokerList is a comma-separated, repeatable broker flag. The first value given replaces the
// default; later ones add to it.
type brokerList struct {
	list  *[]string
	given bool
}

func (b *brokerList) String() string {
	if b == nil || b.list == nil {
		return ""
	}
	return strings.Join(*b.list, ",")
}

func (b *brokerList) Set(v string) error {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return errors.New("empty broker list")
	}
	if !b.given {
		*b.list = nil
		b.given = true
	}
	*b.list = append(*b.list, out...)
	return nil
}
