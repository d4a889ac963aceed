// Package audit keeps each service's audit trail: one record per authorization decision (who,
// with which roles, called which RPC on what resource, allowed or not, from where, when, under
// which request id), written to the audit table of the service's own schema and published to
// the topic bcos.<chain>.<group>.audit.v1.
//
// The table is hash-chained: each record carries SHA-256 of the previous record's hash and its
// own canonical content, and a head row holds the last seq and hash, so Verify finds a record
// deleted, edited or moved. Records are written by one writer per trail that takes the head
// row FOR UPDATE, so the chain stays linear across replicas. The interceptor's hook (Record)
// only queues the decision: the database write and the Kafka publication (from the table, an
// outbox) happen off the RPC's path.
//
// A Hub gathers the trails of the services one gRPC server hosts, routes each decision to the
// trail of the RPC's service and serves bcosdata.audit.v1.AuditService. HeadAnchorer is where
// the evidence path anchors a trail's head (evidenceanchor, set on a Hub with SetAnchoring);
// Verify compares the chain with every head anchored (table audit_anchor).
package audit
