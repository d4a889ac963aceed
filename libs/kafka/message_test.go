package kafka_test

import (
	"bytes"
	"math"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/bcosdata/bcosdata/libs/kafka"
)

func TestBlockKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n    uint64
		want []byte
	}{
		{0, []byte{0, 0, 0, 0, 0, 0, 0, 0}},
		{1, []byte{0, 0, 0, 0, 0, 0, 0, 1}},
		{0x0102030405060708, []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{math.MaxUint64, bytes.Repeat([]byte{0xff}, 8)},
	}
	for _, tt := range tests {
		got := kafka.BlockKey(tt.n)
		if !bytes.Equal(got, tt.want) {
			t.Errorf("BlockKey(%d) = %x, want %x", tt.n, got, tt.want)
		}
		if n, err := kafka.ParseBlockKey(got); err != nil || n != tt.n {
			t.Errorf("ParseBlockKey(%x) = %d, %v; want %d", got, n, err, tt.n)
		}
	}
	// Big-endian keys sort like the block numbers, which keeps a block topic's keys readable
	// in order by tools.
	keys := [][]byte{kafka.BlockKey(256), kafka.BlockKey(1), kafka.BlockKey(255)}
	slices.SortFunc(keys, bytes.Compare)
	if !bytes.Equal(keys[0], kafka.BlockKey(1)) || !bytes.Equal(keys[2], kafka.BlockKey(256)) {
		t.Errorf("block keys do not sort by number: %x", keys)
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, make([]byte, 9)} {
		if _, err := kafka.ParseBlockKey(bad); err == nil {
			t.Errorf("ParseBlockKey(%x): no error", bad)
		}
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	got := kafka.Headers(kafka.ContentTypeProtobuf, "bcosdata.chain.v1.Block", 1234567)
	want := []kafkago.Header{
		{Key: "content-type", Value: []byte("application/x-protobuf")},
		{Key: "schema", Value: []byte("bcosdata.chain.v1.Block")},
		{Key: "block-number", Value: []byte("1234567")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Headers() (-want +got):\n%s", diff)
	}
	if n, err := kafka.ParseBlockNumberHeader(got); err != nil || n != 1234567 {
		t.Errorf("ParseBlockNumberHeader() = %d, %v; want 1234567", n, err)
	}
	if v, ok := kafka.HeaderValue(got, kafka.HeaderSchema); !ok || string(v) != "bcosdata.chain.v1.Block" {
		t.Errorf("HeaderValue(schema) = %q, %v", v, ok)
	}
	for _, bad := range [][]kafkago.Header{nil, {{Key: "block-number", Value: []byte("x1")}}} {
		if _, err := kafka.ParseBlockNumberHeader(bad); err == nil {
			t.Errorf("ParseBlockNumberHeader(%v): no error", bad)
		}
	}
}
