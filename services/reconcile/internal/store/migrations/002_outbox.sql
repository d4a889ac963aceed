-- The outbox of reconcile.results.v1: the message of a run that ended (succeeded, or failed for
-- good), written in the transaction that ended it. The publisher sends the oldest rows and
-- deletes them in one transaction once the broker took them, so a message is sent at least
-- once: a crash between the send and the delete sends the same bytes again.
CREATE TABLE outbox (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      bigint      NOT NULL UNIQUE,
    key         bytea       NOT NULL,
    value       bytea       NOT NULL,
    -- The idempotency key of the message (header idempotency-key): job/date/vN or job/runID/vN.
    message_id  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
