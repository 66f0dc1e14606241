-- The two-person rule (PRODUCT.md §13): a confirmed change of a pool that needs a second
-- person's approval is kept here as a request bound to its exact plan (pool, domain, old
-- and new certificate, the carried settings: `plan_hash` is the SHA-256 of them).
-- `status`: pending, approved, rejected, expired.
CREATE TABLE change_requests (
    id TEXT PRIMARY KEY,
    pool_id TEXT NOT NULL,
    region TEXT NOT NULL,
    domain TEXT NOT NULL,
    old_certificate_arn TEXT,
    new_certificate_arn TEXT NOT NULL,
    settings TEXT NOT NULL,
    plan_hash TEXT NOT NULL,
    requester TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT,
    propagation_id TEXT,
    detail TEXT
);
CREATE INDEX change_requests_by_status ON change_requests (status, expires_at);
