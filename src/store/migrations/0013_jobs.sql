-- Bulk rotations and scheduled changes (issue 15): one row per run, one per domain of
-- the run. A run with a "not before" time waits until then; the runner that holds the
-- run's lease (`leases`, name `bulk:<id>`) advances it one step at a time, so that a
-- restart or another replica carries on from what is stored.
CREATE TABLE bulk_runs (
    id TEXT PRIMARY KEY,
    actor TEXT NOT NULL,
    old_certificate_arn TEXT NOT NULL,
    new_certificate_arn TEXT NOT NULL,
    wave_size BIGINT NOT NULL,
    continue_on_failure BIGINT NOT NULL,
    not_before BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX bulk_runs_state ON bulk_runs (state, not_before);
CREATE TABLE bulk_items (
    run_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    pool_id TEXT NOT NULL,
    domain TEXT NOT NULL,
    phase TEXT NOT NULL,
    detail TEXT,
    propagation_id TEXT,
    PRIMARY KEY (run_id, position)
);
