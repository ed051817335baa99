-- Customer context: live context (persisted), friction signals, callback requests, orders.
-- Kept in step with ../sqlite/0003_context.sql: same tables, columns and indexes.

-- The in-process context store writes every change through to this table (a restart loses
-- nothing); the Redis store does not use it.
CREATE TABLE customer_contexts (
    tenant_id   UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    context     JSONB NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX customer_contexts_expiry ON customer_contexts (expires_at);

-- Every friction signal the app reports, as sent (analytics: top friction screens).
CREATE TABLE friction_signals (
    id           BIGSERIAL PRIMARY KEY,
    tenant_id    UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    signal_type  TEXT NOT NULL,
    value        JSONB,
    screen       TEXT,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX friction_signals_session ON friction_signals (tenant_id, user_id, session_id, created_at);
CREATE INDEX friction_signals_recent ON friction_signals (tenant_id, created_at);

-- Customers asking to be called back (SPEC §7); money in minor units of `currency`.
CREATE TABLE callback_requests (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL,
    phone         TEXT,
    reason        TEXT,
    state         TEXT NOT NULL,
    claimed_by    TEXT,
    cart_value    BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    routing       JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    claimed_at    TIMESTAMPTZ,
    completed_at  TIMESTAMPTZ,
    cancelled_at  TIMESTAMPTZ,
    updated_at    TIMESTAMPTZ NOT NULL
);
-- At most one pending request per customer: a repeated request returns the pending one.
CREATE UNIQUE INDEX callback_requests_one_pending ON callback_requests (tenant_id, user_id) WHERE state = 'pending';
CREATE INDEX callback_requests_queue ON callback_requests (tenant_id, state, created_at, id);

-- Orders reported by the tenant's backend (SPEC §9); value in minor units of `currency`.
CREATE TABLE orders (
    tenant_id     UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    order_id      TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    value         BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    status        TEXT NOT NULL,
    placed_at     TIMESTAMPTZ NOT NULL,
    incidence_id  UUID,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, order_id)
);
CREATE INDEX orders_user ON orders (tenant_id, user_id, placed_at);
CREATE INDEX orders_placed ON orders (tenant_id, placed_at);
