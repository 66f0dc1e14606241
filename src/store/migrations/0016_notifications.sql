-- Notifications (issue 16, PRODUCT.md §12).
-- What was ever notified, by key (`expiry:<arn>:<domain>:<days>`,
-- `served:<domain>:<serial>:<days>`): the replica whose insert succeeds is the one that
-- enqueues, so each is sent once, across restarts and replicas.
CREATE TABLE notification_keys (
    key TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
-- The outbox: one row per notification and channel. A replica claims a due row with a
-- lease (compare-and-set on lease_until), sends it, and marks it sent, due again later
-- (backoff), or failed. Times in unix milliseconds.
CREATE TABLE notification_outbox (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    finished_at BIGINT
);
CREATE INDEX notification_outbox_due ON notification_outbox (state, next_attempt_at);
-- How far change events were read from the audit log (`audit`): advanced by
-- compare-and-set in the transaction that enqueues them, so each is enqueued once.
CREATE TABLE notification_cursor (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
