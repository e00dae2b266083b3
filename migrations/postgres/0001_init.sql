-- Boardroom schema, Postgres. Every tenant table carries org_id; child rows reference their
-- parents through composite (org_id, id) keys so that a row can never point across tenants.
-- Ids are UUIDv7 made by the server (time-ordered, so b-tree inserts stay append-mostly).

CREATE TABLE organizations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    email          text NOT NULL UNIQUE,   -- stored lower-cased
    name           text NOT NULL,
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

CREATE TABLE memberships (
    org_id          uuid NOT NULL REFERENCES organizations(id),
    user_id         uuid NOT NULL REFERENCES users(id),
    role            text NOT NULL CHECK (role IN ('owner','admin','member','worker','customer')),
    deactivated_at  timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE customers (
    id          uuid NOT NULL,
    org_id      uuid NOT NULL REFERENCES organizations(id),
    name        text NOT NULL,
    email       text,
    phone       text,
    user_id     uuid,
    deleted_at  timestamptz,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships(org_id, user_id)
);
CREATE INDEX customers_org ON customers (org_id, name) WHERE deleted_at IS NULL;
CREATE INDEX customers_user ON customers (org_id, user_id) WHERE user_id IS NOT NULL;

CREATE TABLE boards (
    id          uuid NOT NULL,
    org_id      uuid NOT NULL REFERENCES organizations(id),
    name        text NOT NULL,
    template    text NOT NULL CHECK (template IN ('kanban','jobs')),
    -- Fencing token: raised each time a node takes ownership; writes from an older epoch are refused.
    epoch       bigint NOT NULL DEFAULT 0,
    -- Last event seq committed in the current epoch.
    last_seq    bigint NOT NULL DEFAULT 0,
    archived_at timestamptz,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (org_id, id)
);
CREATE INDEX boards_org ON boards (org_id, created_at) WHERE archived_at IS NULL;

CREATE TABLE board_columns (
    id          uuid NOT NULL,
    org_id      uuid NOT NULL,
    board_id    uuid NOT NULL,
    name        text NOT NULL,
    position    text COLLATE "C" NOT NULL,
    is_done     boolean NOT NULL DEFAULT false,
    deleted_at  timestamptz,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (org_id, board_id, id),
    FOREIGN KEY (org_id, board_id) REFERENCES boards(org_id, id)
);
CREATE INDEX board_columns_board ON board_columns (board_id, position);

CREATE TABLE cards (
    id           uuid NOT NULL,
    org_id       uuid NOT NULL,
    board_id     uuid NOT NULL,
    column_id    uuid NOT NULL,
    position     text COLLATE "C" NOT NULL,
    title        text NOT NULL,
    description  text NOT NULL DEFAULT '',
    customer_id  uuid,
    labels       jsonb NOT NULL DEFAULT '[]',
    due_at       timestamptz,
    version      bigint NOT NULL DEFAULT 1,
    archived     boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (org_id, board_id, id),
    FOREIGN KEY (org_id, board_id) REFERENCES boards(org_id, id),
    FOREIGN KEY (org_id, board_id, column_id) REFERENCES board_columns(org_id, board_id, id),
    FOREIGN KEY (org_id, customer_id) REFERENCES customers(org_id, id)
);
CREATE INDEX cards_board ON cards (board_id, column_id, position);
CREATE INDEX cards_customer ON cards (org_id, customer_id) WHERE customer_id IS NOT NULL;

CREATE TABLE card_assignees (
    org_id    uuid NOT NULL,
    board_id  uuid NOT NULL,
    card_id   uuid NOT NULL,
    user_id   uuid NOT NULL,
    PRIMARY KEY (card_id, user_id),
    FOREIGN KEY (org_id, board_id, card_id) REFERENCES cards(org_id, board_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships(org_id, user_id)
);
CREATE INDEX card_assignees_user ON card_assignees (org_id, user_id);

CREATE TABLE checklist_items (
    id         uuid NOT NULL,
    org_id     uuid NOT NULL,
    board_id   uuid NOT NULL,
    card_id    uuid NOT NULL,
    title      text NOT NULL,
    done       boolean NOT NULL DEFAULT false,
    position   text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (org_id, board_id, card_id) REFERENCES cards(org_id, board_id, id)
);
CREATE INDEX checklist_items_card ON checklist_items (card_id, position);

CREATE TABLE comments (
    id         uuid NOT NULL,
    org_id     uuid NOT NULL,
    board_id   uuid NOT NULL,
    card_id    uuid NOT NULL,
    author_id  uuid,              -- null when written by an API key
    body       text NOT NULL,
    mentions   jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (org_id, board_id, card_id) REFERENCES cards(org_id, board_id, id)
);
CREATE INDEX comments_card ON comments (card_id, created_at);

-- The board's history and audit trail, appended by the write-behind; (board_id, op_id) makes
-- a retried op idempotent.
CREATE TABLE board_events (
    org_id     uuid NOT NULL,
    board_id   uuid NOT NULL,
    epoch      bigint NOT NULL,
    seq        bigint NOT NULL,
    op_id      uuid NOT NULL,
    kind       text NOT NULL,
    data       jsonb NOT NULL,
    actor      jsonb NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (board_id, epoch, seq),
    FOREIGN KEY (org_id, board_id) REFERENCES boards(org_id, id)
);
CREATE INDEX board_events_op ON board_events (board_id, op_id);

CREATE TABLE notifications (
    id         uuid NOT NULL,
    org_id     uuid NOT NULL,
    user_id    uuid NOT NULL,
    kind       text NOT NULL,
    board_id   uuid,
    card_id    uuid,
    title      text NOT NULL,
    body       text NOT NULL,
    actor      jsonb NOT NULL,
    read_at    timestamptz,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships(org_id, user_id)
);
CREATE INDEX notifications_user ON notifications (user_id, created_at DESC);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;

CREATE TABLE api_keys (
    id            uuid NOT NULL,
    org_id        uuid NOT NULL REFERENCES organizations(id),
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin','member','worker','customer')),
    key_hash      bytea NOT NULL UNIQUE,   -- SHA-256 of the whole key; the key itself is never stored
    prefix        text NOT NULL,           -- first characters, to tell keys apart in lists
    boards        jsonb,                   -- board scope (array of ids) or null = every board
    created_by    uuid NOT NULL,
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, created_by) REFERENCES memberships(org_id, user_id)
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at);

CREATE TABLE refresh_tokens (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users(id),
    family_id    uuid NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    expires_at   timestamptz NOT NULL,
    spent_at     timestamptz,     -- rotated: presenting it again means theft -> revoke family
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE share_links (
    id          uuid NOT NULL,
    org_id      uuid NOT NULL,
    board_id    uuid NOT NULL,
    card_id     uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    created_by  uuid NOT NULL,
    expires_at  timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (org_id, board_id, card_id) REFERENCES cards(org_id, board_id, id),
    FOREIGN KEY (org_id, created_by) REFERENCES memberships(org_id, user_id)
);
CREATE INDEX share_links_card ON share_links (org_id, card_id);
