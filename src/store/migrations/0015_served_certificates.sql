-- What each custom domain's edge served at its last probe (sweep or change), for every
-- replica: the expiry timeline's "effective expiry", the served-certificate metric and
-- the notification that the edge serves an expiring certificate read it.
CREATE TABLE served_certificates (
    domain TEXT PRIMARY KEY,
    serial TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- Unix seconds; NULL when the certificate's date could not be read.
    not_after BIGINT,
    -- 1 when the served serial is the configured certificate's, 0 when it differs,
    -- NULL when the configured certificate's serial was not known.
    matches INTEGER,
    probed_at BIGINT NOT NULL
);
