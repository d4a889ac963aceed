package kafka

import (
	"encoding/binary"
	"fmt"
	"strconv"

	kafkago "github.com/segmentio/kafka-go"
)

// Header keys and values of the bus contract.
const (
	HeaderContentType = "content-type"
	HeaderSchema      = "schema"
	HeaderBlockNumber = "block-number"

	ContentTypeProtobuf = "application/x-protobuf"
	ContentTypeJSON     = "application/json"
)

// Header keys the Consumer adds to a dead-lettered message, naming the error and the origin.
const (
	HeaderDLQError           = "dlq-error"
	HeaderDLQOriginTopic     = "dlq-origin-topic"
	HeaderDLQOriginPartition = "dlq-origin-partition"
	HeaderDLQOriginOffset    = "dlq-origin-offset"
	HeaderDLQAttempts        = "dlq-attempts"
	HeaderDLQTime            = "dlq-time"
)

// Headers returns the contract headers of a bus message. The block number is written in
// decimal so that it reads as itself in kcat and the console consumer.
func Headers(contentType, schema string, blockNumber uint64) []kafkago.Header {
	return []kafkago.Header{
		{Key: HeaderContentType, Value: []byte(contentType)},
		{Key: HeaderSchema, Value: []byte(schema)},
		{Key: HeaderBlockNumber, Value: strconv.AppendUint(nil, blockNumber, 10)},
	}
}

// HeaderValue returns the value of the first header named key.
func HeaderValue(headers []kafkago.Header, key string) ([]byte, bool) {
	for _, h := range headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// ParseBlockNumberHeader returns the block number in a message's block-number header.
func ParseBlockNumberHeader(headers []kafkago.Header) (uint64, error) {
	v, ok := HeaderValue(headers, HeaderBlockNumber)
	if !ok {
		return 0, fmt.Errorf("read header %s: missing", HeaderBlockNumber)
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read header %s %q: %w", HeaderBlockNumber, v, err)
	}
	return n, nil
}

// BlockKeyLen is the length of a block topic's message key.
const BlockKeyLen = 8

// BlockKey returns the key of a block topic message: the block number, 8 bytes big-endian, so
// keys sort like block numbers and one block always hashes to one partition.
func BlockKey(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, BlockKeyLen), n)
}

// ParseBlockKey returns the block number of a key written by BlockKey.
func ParseBlockKey(key []byte) (uint64, error) {
	if len(key) != BlockKeyLen {
		return 0, fmt.Errorf("parse block key %x: length %d, want %d", key, len(key), BlockKeyLen)
	}
	return binary.BigEndian.Uint64(key), nil
}
