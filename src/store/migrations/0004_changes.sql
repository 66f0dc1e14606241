-- One-time tokens of the certificate change form: a double submit is refused.
CREATE TABLE submission_tokens (
    token TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    pool_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT
);
-- A change between its `requested` audit entry and its outcome. One per domain: it is
-- also the lock that keeps two changes of a domain from running at once, and what a
-- restart reconciles after a crash.
CREATE TABLE pending_changes (
    domain TEXT PRIMARY KEY,
    pool_id TEXT NOT NULL,
    region TEXT NOT NULL,
    old_certificate_arn TEXT,
    new_certificate_arn TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT,
    started_at BIGINT NOT NULL
);
-- Changes AWS accepted, followed until the edge serves the new certificate.
CREATE TABLE propagations (
    id TEXT PRIMARY KEY,
    pool_id TEXT NOT NULL,
    region TEXT NOT NULL,
    domain TEXT NOT NULL,
    old_certificate_arn TEXT,
    new_certificate_arn TEXT NOT NULL,
    expected_serial TEXT,
    actor TEXT NOT NULL,
    submitted_at BIGINT NOT NULL,
    deadline BIGINT NOT NULL,
    phase TEXT NOT NULL,
    cognito_status TEXT,
    served_serial TEXT,
    verified_at BIGINT,
    updated_at BIGINT NOT NULL,
    detail TEXT
);
CREATE INDEX propagations_by_domain ON propagations (domain, submitted_at);
CREATE INDEX propagations_by_time ON propagations (submitted_at);
