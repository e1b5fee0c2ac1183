-- Deliveries, jobs, runs, audit events. Shared by SQLite and PostgreSQL: {{id}} is the dialect's
-- auto-increment primary key, every other type name means the same in both.
CREATE TABLE deliveries (
    guid TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    action TEXT,
    installation_id BIGINT,
    repository TEXT,
    hook_id TEXT,
    state TEXT NOT NULL,            -- received | done | failed | ignored
    payload TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    error TEXT
);
CREATE INDEX deliveries_received ON deliveries (received_at);

CREATE TABLE jobs (
    id {{id}},
    kind TEXT NOT NULL,              -- self_improve | approve | guardrails
    idempotency_key TEXT NOT NULL UNIQUE,
    target_key TEXT NOT NULL,        -- owner/repo#number: one job at a time per target
    coalesce_key TEXT,               -- triggers with the same key join one waiting job (NULL: never)
    delivery_guid TEXT,
    installation_id BIGINT,
    repository TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,             -- queued | running | done | failed | cancelled
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until DOUBLE PRECISION,
    run_after DOUBLE PRECISION NOT NULL,
    last_error TEXT,
    coalesced INTEGER NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
-- A second diagnosis trigger by the same person for a target that already has one waiting joins it.
CREATE UNIQUE INDEX jobs_one_waiting ON jobs (coalesce_key) WHERE state = 'queued';
CREATE INDEX jobs_claimable ON jobs (state, run_after);
CREATE INDEX jobs_target ON jobs (target_key, state);
CREATE INDEX jobs_delivery ON jobs (delivery_guid);

CREATE TABLE runs (
    id {{id}},
    job_id BIGINT,
    repository TEXT NOT NULL,
    installation_id BIGINT,
    target_kind TEXT NOT NULL,       -- issue | pull_request
    target_number INTEGER NOT NULL,
    trigger TEXT NOT NULL,           -- JSON: event, action, label or command, comment id
    sender TEXT,
    role TEXT NOT NULL,
    state TEXT NOT NULL,             -- accepted | rejected | gathering | diagnosing | publishing | diagnosed | failed | approved | pr_opened
    detail TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    started_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION,
    snapshot TEXT,
    diagnosis TEXT,
    effects TEXT NOT NULL DEFAULT '{}'  -- JSON: check_run_id, comment_id, pr_number …: what this run already did
);
CREATE INDEX runs_repository ON runs (repository, id);
CREATE INDEX runs_target ON runs (repository, target_number, id);
CREATE UNIQUE INDEX runs_one_per_job ON runs (job_id);

CREATE TABLE audit_events (
    id {{id}},
    name TEXT NOT NULL,
    run_id BIGINT,
    repository TEXT,
    target TEXT,
    actor TEXT,
    data TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX audit_run ON audit_events (run_id);

CREATE TABLE installations (
    id BIGINT PRIMARY KEY,
    account TEXT,
    state TEXT NOT NULL,             -- active | suspended | deleted
    updated_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
