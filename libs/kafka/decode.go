package kafka

import (
	"errors"
	"fmt"
	"mime"

	kafkago "github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Reasons a bus message cannot be decoded. Decode wraps them, marked Permanent: no retry turns
// a message into another one.
var (
	// ErrSchema: the schema header is missing or names another message type.
	ErrSchema = errors.New("wrong schema")
	// ErrContentType: the content-type header is missing or not one of the bus's encodings.
	ErrContentType = errors.New("unsupported content type")
	// ErrPayload: the payload does not decode as the message its headers name.
	ErrPayload = errors.New("undecodable payload")
)

// Decode decodes a bus message into a new T after checking that its schema header names T
// and its content-type is protobuf or JSON; see DecodeInto.
//
//	blk, err := kafka.Decode[chainv1.Block](m)
func Decode[T any, P interface {
	*T
	proto.Message
}](m kafkago.Message) (P, error) {
	into := P(new(T))
	if err := DecodeInto(m, into); err != nil {
		return nil, err
	}
	return into, nil
}

// DecodeInto decodes a bus message into into, following the bus contract: the schema header
// must be into's full protobuf name, the content-type header application/x-protobuf or
// application/json (protojson; unknown fields are ignored, as protobuf does). Every error is
// marked Permanent and names the topic, partition and offset, so a consumer dead-letters the
// message (or halts) instead of retrying it.
func DecodeInto(m kafkago.Message, into proto.Message) error {
	if err := decode(m, into); err != nil {
		return Permanent(fmt.Errorf("decode message of topic %s partition %d at offset %d: %w",
			m.Topic, m.Partition, m.Offset, err))
	}
	return nil
}

func decode(m kafkago.Message, into proto.Message) error {
	want := string(into.ProtoReflect().Descriptor().FullName())
	schema, ok := HeaderValue(m.Headers, HeaderSchema)
	switch {
	case !ok:
		return fmt.Errorf("%w: header %s missing, want %s", ErrSchema, HeaderSchema, want)
	case string(schema) != want:
		return fmt.Errorf("%w: header %s is %q, want %s", ErrSchema, HeaderSchema, schema, want)
	}
	ct, ok := HeaderValue(m.Headers, HeaderContentType)
	if !ok {
		return fmt.Errorf("%w: header %s missing, want %s or %s", ErrContentType, HeaderContentType, ContentTypeProtobuf, ContentTypeJSON)
	}
	mediaType, _, err := mime.ParseMediaType(string(ct))
	if err != nil {
		return fmt.Errorf("%w: header %s %q: %w", ErrContentType, HeaderContentType, ct, err)
	}
	switch mediaType {
	case ContentTypeProtobuf:
		err = proto.Unmarshal(m.Value, into)
	case ContentTypeJSON:
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(m.Value, into)
	default:
		return fmt.Errorf("%w: header %s is %q, want %s or %s", ErrContentType, HeaderContentType, ct, ContentTypeProtobuf, ContentTypeJSON)
	}
	if err != nil {
		return fmt.Errorf("%w: %d bytes of %s as %s: %w", ErrPayload, len(m.Value), mediaType, want, err)
	}
	return nil
}
