-- The latest inventory snapshot, so that a restart serves pages at once.
CREATE TABLE inventory_snapshot (
    id INTEGER PRIMARY KEY,
    taken_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
