package kafka

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestFlagsWithPrefix(t *testing.T) {
	var f Flags
	fs := flag.NewFlagSet("svc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.RegisterFlagsWithPrefix("kafka.", fs)
	if !slices.Equal(f.Brokers, []string{DefaultBroker}) || f.MaxMessageBytes != MaxBlockMessageBytes {
		t.Fatalf("defaults: brokers %v, max message bytes %d", f.Brokers, f.MaxMessageBytes)
	}
	err := fs.Parse([]string{"-kafka.brokers", "a:1, b:2", "-kafka.brokers", "c:3", "-kafka.replication-factor", "3"})
	if err != nil {
		t.Fatal(err)
	}
	// A given list replaces the default; a repeated flag adds to it.
	if !slices.Equal(f.Brokers, []string{"a:1", "b:2", "c:3"}) || f.ReplicationFactor != 3 {
		t.Fatalf("parsed: brokers %v, replication %d", f.Brokers, f.ReplicationFactor)
	}
	if err := f.Validate("kafka."); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestFlagsValidateNamesTheFlag(t *testing.T) {
	cases := []struct {
		name string
		f    Flags
		want string
	}{
		{"no brokers", Flags{MaxMessageBytes: MaxBlockMessageBytes}, "-kafka.brokers: at least one"},
		{"no port", Flags{Brokers: []string{"localhost"}, MaxMessageBytes: MaxBlockMessageBytes}, `-kafka.brokers "localhost"`},
		{"negative replication", Flags{Brokers: []string{"a:1"}, ReplicationFactor: -1, MaxMessageBytes: MaxBlockMessageBytes}, "-kafka.replication-factor -1"},
		{"tiny messages", Flags{Brokers: []string{"a:1"}, MaxMessageBytes: 1000}, "-kafka.max-message-bytes 1000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.f.Validate("kafka.")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, c.want)
			}
		})
	}
	fs := flag.NewFlagSet("svc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f Flags
	f.RegisterFlagsWithPrefix("kafka.", fs)
	if err := fs.Parse([]string{"-kafka.brokers", " , "}); err == nil {
		t.Fatal("an empty broker list was accepted")
	}
}
