// Package kafka holds the bcosdata conventions for Kafka on top of segmentio/kafka-go: topic
// names and creation, message keys and headers, a producer configured so that nothing is
// silently lost, and a group consumer that applies messages before it commits their offsets.
//
// Delivery is at least once. kafka-go has no idempotent or transactional producer, so the
// exactly-once effect comes from the consumer's side: a Handler applies a batch in one database
// transaction with idempotent writes, and the Consumer commits an offset only after every
// message before it in its partition was applied (or dead-lettered). A message can therefore be
// delivered again after a crash or a rebalance, never skipped.
package kafka
