-- The phase timeline of each propagation, and what the last probe saw.
CREATE TABLE propagation_events (
    propagation_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    phase TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX propagation_events_by_propagation ON propagation_events (propagation_id, at_ms);
ALTER TABLE propagations ADD COLUMN served_subject TEXT;
ALTER TABLE propagations ADD COLUMN served_not_after TEXT;
ALTER TABLE propagations ADD COLUMN probe_error TEXT;
ALTER TABLE propagations ADD COLUMN cloudfront_distribution TEXT;
