-- Incidences, their timeline, the customers behind them, and the bookkeeping that makes every
-- provider write happen exactly once. Kept in step with ../postgres/0002_incidences.sql.

-- Freshchat users as last fetched: who they are in the tenant's app, how to reach them.
CREATE TABLE customers (
    tenant_id          BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    freshchat_user_id  TEXT NOT NULL,
    user_id            TEXT,
    email              TEXT,
    phone              TEXT,
    name               TEXT,
    properties         TEXT NOT NULL,
    fetched_at         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, freshchat_user_id)
);
CREATE INDEX customers_user ON customers (tenant_id, user_id);

CREATE TABLE incidences (
    id                        BLOB PRIMARY KEY,
    tenant_id                 BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    channel                   TEXT NOT NULL,
    conversation_id           TEXT NOT NULL,
    user_id                   TEXT,
    provider_user_id          TEXT,
    order_id                  TEXT,
    stage                     TEXT NOT NULL,
    trigger                   TEXT NOT NULL,
    app_screen                TEXT,
    cart_value_minor          BIGINT,
    guest_count               INTEGER,
    event_type                TEXT,
    friction_score            INTEGER,
    outcome                   TEXT NOT NULL,
    issue_category            TEXT,
    root_cause                TEXT,
    resolution_type           TEXT,
    order_impact              TEXT NOT NULL,
    agent_id                  TEXT,
    priority                  TEXT NOT NULL,
    created_at                TEXT NOT NULL,
    resolved_at               TEXT,
    time_to_resolve_seconds   BIGINT,
    last_activity_at          TEXT NOT NULL,
    -- The domain's state (the columns above are derived from it, for queries).
    state                     TEXT NOT NULL,
    version                   BIGINT NOT NULL,
    -- Helpdesk and chat sync.
    freshdesk_ticket_id       BIGINT,
    ticket_create_started_at  TEXT,
    ticket_create_uncertain   BOOLEAN NOT NULL DEFAULT FALSE,
    ticket_status             INTEGER,
    chat_resolved             BOOLEAN,
    fields_synced             TEXT,
    updated_at                TEXT NOT NULL,
    UNIQUE (tenant_id, channel, conversation_id)
);
CREATE INDEX incidences_recent ON incidences (tenant_id, created_at, id);
CREATE INDEX incidences_user ON incidences (tenant_id, user_id, created_at);
CREATE INDEX incidences_outcome ON incidences (tenant_id, outcome, created_at);
CREATE UNIQUE INDEX incidences_ticket ON incidences (tenant_id, freshdesk_ticket_id) WHERE freshdesk_ticket_id IS NOT NULL;

CREATE TABLE timeline (
    id             BLOB PRIMARY KEY,
    tenant_id      BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    incidence_id   BLOB NOT NULL REFERENCES incidences(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    actor          TEXT NOT NULL,
    content        TEXT,
    metadata       TEXT NOT NULL,
    provider_ref   TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    UNIQUE (incidence_id, kind, provider_ref)
);
CREATE INDEX timeline_incidence ON timeline (incidence_id, created_at, id);

-- One row per provider write that must happen exactly once (a customer message as a ticket
-- note, an agent reply as a chat message). 'sending' is the intent recorded before the call:
-- after a crash, the provider is asked whether the write happened before it is tried again.
CREATE TABLE deliveries (
    id             BLOB PRIMARY KEY,
    tenant_id      BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    incidence_id   BLOB NOT NULL REFERENCES incidences(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    source_ref     TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    body           TEXT NOT NULL,
    state          TEXT NOT NULL,
    remote_id      TEXT,
    attempted_at   TEXT,
    sent_at        TEXT,
    created_at     TEXT NOT NULL,
    UNIQUE (incidence_id, kind, source_ref)
);
CREATE INDEX deliveries_queue ON deliveries (incidence_id, kind, state, seq);

-- "Not before": a provider's Retry-After, shared by every process of every worker.
CREATE TABLE provider_gates (
    tenant_id    BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,
    not_before   TEXT NOT NULL,
    reason       TEXT,
    PRIMARY KEY (tenant_id, provider)
);
