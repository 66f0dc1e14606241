-- The append-only audit log (PRODUCT.md section 6), hash-chained.
CREATE TABLE audit_log (
    id BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT,
    source_ip TEXT,
    user_agent TEXT,
    action TEXT NOT NULL,
    pool_id TEXT,
    domain TEXT,
    old_certificate_arn TEXT,
    new_certificate_arn TEXT,
    outcome TEXT NOT NULL,
    detail TEXT,
    aws_request_id TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_pool ON audit_log (pool_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
-- How long the log is and how it ends: appends lock this row, and a removed last entry
-- shows as a log shorter than its head.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY,
    count BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, count, last_hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
