-- Platform: tenants, credentials, API keys, durable jobs, webhook inbox.
-- Kept in step with ../sqlite/0001_platform.sql: same tables, columns and indexes.

CREATE TABLE tenants (
    id          UUID PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    currency    TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    settings    JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- Provider credentials, AES-256-GCM sealed; the AAD binds tenant id and kind.
CREATE TABLE tenant_credentials (
    tenant_id   UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    nonce       BYTEA NOT NULL,
    ciphertext  BYTEA NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, kind)
);

CREATE TABLE api_keys (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    key_hash      BYTEA NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

CREATE TABLE jobs (
    id            BIGSERIAL PRIMARY KEY,
    tenant_id     UUID REFERENCES tenants(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    payload       JSONB NOT NULL,
    priority      INTEGER NOT NULL,
    state         TEXT NOT NULL,
    run_at        TIMESTAMPTZ NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL,
    locked_until  TIMESTAMPTZ,
    locked_by     TEXT,
    unique_key    TEXT UNIQUE,
    ordering_key  TEXT,
    last_error    TEXT,
    progress      JSONB,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ
);
CREATE INDEX jobs_ready ON jobs (priority DESC, run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_ordering ON jobs (ordering_key, id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_tenant_state ON jobs (tenant_id, state, id);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state IN ('done', 'cancelled');

-- Every webhook body, stored before it is answered 2xx; processed by a job.
CREATE TABLE inbox_events (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    provider      TEXT NOT NULL,
    dedupe_key    TEXT NOT NULL,
    headers       JSONB NOT NULL,
    body          BYTEA NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL,
    state         TEXT NOT NULL,
    error         TEXT,
    processed_at  TIMESTAMPTZ,
    UNIQUE (tenant_id, provider, dedupe_key)
);
CREATE INDEX inbox_events_received ON inbox_events (provider, received_at);
CREATE INDEX inbox_events_tenant_state ON inbox_events (tenant_id, state, received_at);
