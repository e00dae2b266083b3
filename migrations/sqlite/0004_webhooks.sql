-- Outbound webhooks (PROTOCOL.md, "Webhooks"). The committed board_events table is the outbox:
-- an event is in it exactly when the change it reports is, so the dispatcher reads events after
-- a durable cursor per (webhook, board) and turns them into deliveries in one transaction with
-- the cursor's advance. Nothing is lost (the cursor moves only with its deliveries) and nothing
-- is invented (only committed events are read).
CREATE TABLE webhooks (
    id           BLOB NOT NULL,
    org_id       BLOB NOT NULL REFERENCES organizations(id),
    url          text NOT NULL,
    description  text NOT NULL DEFAULT '',
    event_types  TEXT,               -- array of event kinds, or null = every kind
    boards       TEXT,               -- array of board ids, or null = every board
    active       BOOLEAN NOT NULL,
    -- The signing secret itself: the server must sign with it, so it cannot be a hash. Shown
    -- to the client once, at creation or rotation.
    secret       text NOT NULL,
    created_by   BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (org_id, id)
);
CREATE INDEX webhooks_org ON webhooks (org_id, created_at);

-- How far each webhook has read each board's events. A board with no row is read from seq 0
-- (boards that existed when the webhook was made get a row at their last seq then).
CREATE TABLE webhook_cursors (
    webhook_id  BLOB NOT NULL,
    board_id    BLOB NOT NULL,
    last_seq    INTEGER NOT NULL,
    PRIMARY KEY (webhook_id, board_id)
);

-- One row per event to send to one webhook (and per test event), with its latest attempt.
CREATE TABLE webhook_deliveries (
    id               BLOB NOT NULL,
    org_id           BLOB NOT NULL,
    webhook_id       BLOB NOT NULL,
    board_id         BLOB,            -- null for test events
    seq              INTEGER,          -- null for test events
    event_type       text NOT NULL,
    payload          text NOT NULL,   -- the exact body sent (and signed)
    status           text NOT NULL CHECK (status IN ('pending','delivered','failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER NOT NULL, -- unix milliseconds
    last_attempt_at  TEXT,
    response_code    INTEGER,
    latency_ms       INTEGER,
    error            text,
    created_at       TEXT NOT NULL,
    delivered_at     TEXT,
    PRIMARY KEY (id),
    UNIQUE (webhook_id, board_id, seq),
    FOREIGN KEY (org_id, webhook_id) REFERENCES webhooks(org_id, id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_ms);
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, created_at);

-- One dispatcher at a time in a cluster: the node holding this lease sends; see
-- src/webhooks/mod.rs.
CREATE TABLE webhook_lease (
    name      text PRIMARY KEY,
    holder    text NOT NULL,
    until_ms  INTEGER NOT NULL
);
INSERT INTO webhook_lease (name, holder, until_ms) VALUES ('dispatcher', '', 0);
