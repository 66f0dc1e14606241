-- Sign-in throttling counters, reserved atomically before a password is checked
-- (one row per kind and key, fixed windows). Replaces login_failures.
-- kind: 'source' (an address, any account), 'pair' (an account from one address),
-- 'account' (an account, any address: a delay, never a lockout).
CREATE TABLE sign_in_throttle (
    kind TEXT NOT NULL,
    username TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (kind, username, source_ip)
);
CREATE INDEX sign_in_throttle_by_user ON sign_in_throttle (username);
CREATE INDEX sign_in_throttle_by_window ON sign_in_throttle (window_start);
DROP TABLE login_failures;
