// Package kafka holds the bcosdata conventions for Kafka on top of segmentio/kafka-go: topic
// names and creation, message keys and headers, a producer configured so that nothing is
// silently lost, and a group consumer that applies messages before it commits their offsets.
//
// Delivery is at least once; the effect is exactly once. kafka-go has no idempotent or
// transactional producer, so that comes from the consumer's side: a Handler applies a batch in
// one database transaction that also records the batch's offsets (package pgoffset), and the
// Consumer commits an offset to Kafka only after every message before it in its partition was
// applied, skipped as already recorded, or dead-lettered. A message delivered again after a
// crash or a rebalance is skipped when the store shows it applied; none is ever skipped
// otherwise.
//
// Failures are classified by package fault. Transient ones (the database or the broker away)
// and unknown ones are retried without limit while Consumer.Ready reports the cause; only a
// permanent one, such as an undecodable message marked with Permanent, is poison: it goes to
// the dead-letter topic, or halts its partition on streams that must never skip (Halt).
package kafka
