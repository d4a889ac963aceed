package kafka_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	kafkago "github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bcosdata/bcosdata/libs/kafka"
)

func TestDecode(t *testing.T) {
	want := &timestamppb.Timestamp{Seconds: 1700000000, Nanos: 42}
	schema := string(want.ProtoReflect().Descriptor().FullName())
	pb, err := proto.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	const where = "topic bcos.chain0.group1.blocks.v1 partition 3 at offset 42"
	for _, tc := range []struct {
		name    string
		headers []kafkago.Header
		value   []byte
		wantErr error  // nil: decodes to want
		wantMsg string // in the error besides where
	}{
		{"protobuf round trip", kafka.Headers(kafka.ContentTypeProtobuf, schema, 7), pb, nil, ""},
		{"json round trip", kafka.Headers(kafka.ContentTypeJSON, schema, 7), js, nil, ""},
		{"json with charset", kafka.Headers(kafka.ContentTypeJSON+"; charset=utf-8", schema, 7), js, nil, ""},
		{"schema header missing", []kafkago.Header{{Key: kafka.HeaderContentType, Value: []byte(kafka.ContentTypeProtobuf)}}, pb,
			kafka.ErrSchema, "header schema missing, want google.protobuf.Timestamp"},
		{"wrong schema", kafka.Headers(kafka.ContentTypeProtobuf, "google.protobuf.Duration", 7), pb,
			kafka.ErrSchema, `header schema is "google.protobuf.Duration", want google.protobuf.Timestamp`},
		{"content type missing", []kafkago.Header{{Key: kafka.HeaderSchema, Value: []byte(schema)}}, pb,
			kafka.ErrContentType, "header content-type missing"},
		{"content type unknown", kafka.Headers("text/plain", schema, 7), pb,
			kafka.ErrContentType, `header content-type is "text/plain"`},
		{"garbage protobuf", kafka.Headers(kafka.ContentTypeProtobuf, schema, 7), []byte("\xff\xff\xff\xff"),
			kafka.ErrPayload, "4 bytes of application/x-protobuf as google.protobuf.Timestamp"},
		{"garbage json", kafka.Headers(kafka.ContentTypeJSON, schema, 7), []byte("{not json"),
			kafka.ErrPayload, "as google.protobuf.Timestamp"},
		{"protobuf sent as json", kafka.Headers(kafka.ContentTypeJSON, schema, 7), pb, kafka.ErrPayload, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := kafkago.Message{Topic: "bcos.chain0.group1.blocks.v1", Partition: 3, Offset: 42, Headers: tc.headers, Value: tc.value}
			got, err := kafka.Decode[timestamppb.Timestamp](m)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
					t.Fatalf("decoded message (-want +got):\n%s", d)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !errors.Is(err, kafka.ErrPermanent) {
				t.Fatalf("Decode error %v, want %v marked permanent", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), where) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Decode error %q, want it to name %q and %q", err, where, tc.wantMsg)
			}
			if got != nil {
				t.Fatalf("Decode returned %v with an error", got)
			}
		})
	}
}

func TestDecodeIntoResetsTheTarget(t *testing.T) {
	pb, err := proto.Marshal(durationpb.New(3))
	if err != nil {
		t.Fatal(err)
	}
	into := durationpb.New(5_000_000_000)
	m := kafkago.Message{Headers: kafka.Headers(kafka.ContentTypeProtobuf, "google.protobuf.Duration", 1), Value: pb}
	if err := kafka.DecodeInto(m, into); err != nil {
		t.Fatal(err)
	}
	if into.GetSeconds() != 0 || into.GetNanos() != 3 {
		t.Fatalf("decoded %v, want 3ns (fields of the earlier value must not survive)", into)
	}
}

// FuzzDecode checks that no payload or header makes Decode panic, and that every failure is
// permanent: a message that cannot be decoded now never will be.
func FuzzDecode(f *testing.F) {
	ts := timestamppb.New(timestamppb.Now().AsTime())
	pb, _ := proto.Marshal(ts)
	js, _ := protojson.Marshal(ts)
	f.Add(pb, kafka.ContentTypeProtobuf, "google.protobuf.Timestamp")
	f.Add(js, kafka.ContentTypeJSON, "google.protobuf.Timestamp")
	f.Add([]byte("\xff\xff"), kafka.ContentTypeProtobuf, "google.protobuf.Timestamp")
	f.Add([]byte(`{"seconds": "x"}`), "application/json; charset=utf-8", "google.protobuf.Timestamp")
	f.Add([]byte{}, "", "")
	f.Fuzz(func(t *testing.T, value []byte, contentType, schema string) {
		m := kafkago.Message{Topic: "t", Headers: kafka.Headers(contentType, schema, 1), Value: value}
		got, err := kafka.Decode[timestamppb.Timestamp](m)
		switch {
		case err != nil && !errors.Is(err, kafka.ErrPermanent):
			t.Fatalf("error not permanent: %v", err)
		case err == nil && got == nil:
			t.Fatal("nil message without an error")
		}
	})
}
