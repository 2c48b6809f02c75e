-- origuard: court-order use counts shared by several instances.
-- Applied by `serve` at connect (every statement is idempotent); apply it
-- by hand with `psql -f deploy/postgres/schema.sql` to review it first.
-- Migration 1 (origuard 0.1): one row per order identity (a slow hash of
-- the order's court, case and subject: it names nobody).
CREATE TABLE IF NOT EXISTS origuard_schema_migrations (
    version integer PRIMARY KEY,
    applied timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS origuard_court_order_uses (
    identity text PRIMARY KEY,
    used integer NOT NULL DEFAULT 0 CHECK (used >= 0),
    max_uses integer NOT NULL CHECK (max_uses > 0),
    ids text[] NOT NULL DEFAULT '{}',
    updated timestamptz NOT NULL DEFAULT now(),
    CHECK (used <= max_uses)
);
INSERT INTO origuard_schema_migrations (version) VALUES (1) ON CONFLICT DO NOTHING;
