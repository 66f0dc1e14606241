-- API tokens (PRODUCT.md §10): made by a user for themself, stored as the SHA-256 of
-- the token (never the token), revocable. `used_minute` is the last minute whose use
-- was audited: one audit entry per token and minute, whatever the number of requests.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_used_at BIGINT,
    used_minute BIGINT
);
CREATE INDEX api_tokens_by_user ON api_tokens (username);
-- The first answer to each `Idempotency-Key` of a user's API write: claimed before the
-- write (status NULL while it runs), its answer stored after; kept a day.
CREATE TABLE idempotency_records (
    username TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    status BIGINT,
    body TEXT,
    location TEXT,
    PRIMARY KEY (username, idempotency_key)
);
CREATE INDEX idempotency_records_by_age ON idempotency_records (created_at);
