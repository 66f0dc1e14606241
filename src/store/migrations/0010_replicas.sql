-- Several replicas on one database (PRODUCT.md §11): leases (the inventory reader, and
-- each propagation's watcher), the replicas' heartbeats (the quota share), a version
-- of the stored snapshot that followers load, and one outcome per propagation.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
ALTER TABLE propagations ADD COLUMN lease_holder TEXT;
ALTER TABLE propagations ADD COLUMN lease_expires BIGINT;
ALTER TABLE inventory_snapshot ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
CREATE TABLE propagation_outcomes (
    propagation_id TEXT PRIMARY KEY,
    phase TEXT NOT NULL,
    audit_id BIGINT NOT NULL
);
-- Custom domains whose edge was last seen serving another certificate than the one
-- configured, shared by the replicas (the inventory's reader sweeps the edges).
CREATE TABLE served_differs (
    domain TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
