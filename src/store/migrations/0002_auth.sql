-- Local accounts: argon2id PHC strings, a role, and the teams an operator acts for.
CREATE TABLE users (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    teams TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Server-side session state (actix-session), shared by every replica.
CREATE TABLE sessions (
    session_key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
-- Failed sign-ins, for throttling per account and per source address.
CREATE TABLE login_failures (
    username TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_by_user ON login_failures (username, at);
CREATE INDEX login_failures_by_source ON login_failures (source_ip, at);
-- Secrets the replicas share (the cookie key), made on first start.
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
