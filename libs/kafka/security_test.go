package kafka_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/bcosdata/bcosdata/libs/certtest"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
)

// secureBroker starts a kfake broker that speaks only mutual TLS (server certificate from a
// test CA, client certificates required) and SASL/SCRAM with user bcosdata.
func secureBroker(t *testing.T, mechanism, pass string) (*kafkatest.Broker, *certtest.CA) {
	t.Helper()
	ca := certtest.NewCA(t, "kafka")
	srv := ca.Server(t, "broker")
	b := kafkatest.NewBroker(t,
		kafkatest.WithTLS(&tls.Config{Certificates: []tls.Certificate{srv.TLS}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool(), MinVersion: tls.VersionTLS12}),
		kafkatest.WithSCRAM(mechanism, "bcosdata", pass))
	return b, ca
}

// parse reads the Kafka flags from args the way a service does.
func parse(t *testing.T, args ...string) (*kafka.Flags, error) {
	t.Helper()
	var f kafka.Flags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f.RegisterFlagsWithPrefix("kafka.", fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &f, f.Validate("kafka.")
}

func roundTrip(ctx context.Context, f *kafka.Flags, topic string) error {
	sec := f.Security()
	if err := kafka.EnsureTopicsWith(ctx, sec, f.Brokers, kafka.TopicSpec{Name: topic, Partitions: 1}); err != nil {
		return err
	}
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: f.Brokers, Topic: topic, Security: sec})
	defer w.Close()
	w.MaxAttempts = 1
	if err := w.WriteMessages(ctx, kafkago.Message{Value: []byte("secret payload")}); err != nil {
		return err
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: f.Brokers, Topic: topic, Dialer: sec.Dialer(), MaxWait: 100 * time.Millisecond})
	defer r.Close()
	m, err := r.FetchMessage(ctx)
	if err != nil {
		return err
	}
	if string(m.Value) != "secret payload" {
		return context.Canceled
	}
	return nil
}

func TestTLSAndSCRAM(t *testing.T) {
	t.Parallel()
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			b, ca := secureBroker(t, mech, "s3cret-pass")
			client := ca.Client(t, "export")
			passFile := filepath.Join(t.TempDir(), "pass")
			if err := os.WriteFile(passFile, []byte("s3cret-pass\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			good := []string{"-kafka.brokers", strings.Join(b.Addrs(), ","), "-kafka.tls.ca", ca.CertFile,
				"-kafka.tls.cert", client.CertFile, "-kafka.tls.key", client.KeyFile,
				"-kafka.sasl.mechanism", strings.ToLower(mech), "-kafka.sasl.user", "bcosdata"}

			f, err := parse(t, append(good, "-kafka.sasl.password-file", passFile)...)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if err := roundTrip(ctx, f, kafkatest.Topic(t, "sec")); err != nil {
				t.Fatalf("produce and consume over TLS and %s: %v", mech, err)
			}

			otherCA := certtest.NewCA(t, "other")
			for name, args := range map[string][]string{
				"wrong password": append(good, "-kafka.sasl.password", "guess"),
				"wrong CA":       append(append([]string{}, good...), "-kafka.sasl.password-file", passFile, "-kafka.tls.ca", otherCA.CertFile),
				"no client cert": {"-kafka.brokers", strings.Join(b.Addrs(), ","), "-kafka.tls.ca", ca.CertFile, "-kafka.sasl.mechanism", strings.ToLower(mech), "-kafka.sasl.user", "bcosdata", "-kafka.sasl.password-file", passFile},
				"plaintext":      {"-kafka.brokers", strings.Join(b.Addrs(), ",")},
			} {
				f, err := parse(t, args...)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
				err = kafka.EnsureTopicsWith(ctx, f.Security(), f.Brokers, kafka.TopicSpec{Name: kafkatest.Topic(t, "refused"), Partitions: 1})
				cancel()
				if err == nil {
					t.Errorf("%s: the broker accepted the client", name)
				}
			}
		})
	}
}

func TestSecurityFlagsNeverShowThePassword(t *testing.T) {
	t.Parallel()
	var f kafka.Flags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	f.RegisterFlagsWithPrefix("kafka.", fs)
	if err := fs.Parse([]string{"-kafka.sasl.mechanism", "scram-sha-512", "-kafka.sasl.password", "hunter2"}); err != nil {
		t.Fatal(err)
	}
	fs.PrintDefaults()
	fs.VisitAll(func(fl *flag.Flag) { out.WriteString(fl.Value.String()) })
	err := f.Validate("kafka.") // no user: an error that must not carry the password
	if err == nil || !strings.Contains(err.Error(), "-kafka.sasl.user") {
		t.Errorf("validate without a user: %v", err)
	}
	out.WriteString(err.Error())
	if strings.Contains(out.String(), "hunter2") {
		t.Errorf("the password shows:\n%s", out.String())
	}
	for _, args := range [][]string{
		{"-kafka.sasl.mechanism", "plain", "-kafka.sasl.user", "u", "-kafka.sasl.password", "p"},
		{"-kafka.tls.cert", "x.crt"},
		{"-kafka.tls.ca", "/does/not/exist"},
	} {
		if _, err := parse(t, args...); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}
