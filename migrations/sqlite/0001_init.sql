-- Boardroom schema, SQLite (the embedded store): the same tables as postgres/, with SQLite's
-- types: uuid -> BLOB (16 bytes), timestamps -> TEXT (RFC 3339), json -> TEXT. Text compares
-- bytewise by default (BINARY collation), as positions need.
-- Every tenant table carries org_id; child rows reference their
-- parents through composite (org_id, id) keys so that a row can never point across tenants.
-- Ids are UUIDv7 made by the server (time-ordered, so b-tree inserts stay append-mostly).

CREATE TABLE organizations (
    id          BLOB PRIMARY KEY,
    name        text NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE users (
    id             BLOB PRIMARY KEY,
    email          text NOT NULL UNIQUE,   -- stored lower-cased
    name           text NOT NULL,
    password_hash  text NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE memberships (
    org_id          BLOB NOT NULL REFERENCES organizations(id),
    user_id         BLOB NOT NULL REFERENCES users(id),
    role            text NOT NULL CHECK (role IN ('owner','admin','member','worker','customer')),
    deactivated_at  TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE customers (
    id          BLOB NOT NULL,
    org_id      BLOB NOT NULL REFERENCES organizations(id),
    name        text NOT NULL,
    email       text,
    phone       text,
    user_id     BLOB,
    deleted_at  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships(org_id, user_id)
);
CREATE INDEX customers_org ON customers (org_id, name) WHERE deleted_at IS NULL;
CREATE INDEX customers_user ON customers (org_id, user_id) WHERE user_id IS NOT NULL;

CREATE TABLE boards (
    id          BLOB NOT NULL,
    org_id      BLOB NOT NULL REFERENCES organizations(id),
    name        text NOT NULL,
    template    text NOT NULL CHECK (template IN ('kanban','jobs')),
    -- Fencing token: raised each time a node takes ownership; writes from an older epoch are refused.
    epoch       INTEGER NOT NULL DEFAULT 0,
    -- Last event seq committed in the current epoch.
    last_seq    INTEGER NOT NULL DEFAULT 0,
    archived_at TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (org_id, id)
);
CREATE INDEX boards_org ON boards (org_id, created_at) WHERE archived_at IS NULL;

CREATE TABLE board_columns (
    id          BLOB NOT NULL,
    org_id      BLOB NOT NULL,
    board_id    BLOB NOT NULL,
    name        text NOT NULL,
    position    text NOT NULL,
    is_done     INTEGER NOT NULL DEFAULT 0,
    deleted_at  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (org_id, board_id, id),
    FOREIGN KEY (org_id, board_id) REFERENCES boards(org_id, id)
);
CREATE INDEX board_columns_board ON board_columns (board_id, position);

CREATE TABLE cards (
    id           BLOB NOT NULL,
    org_id       BLOB NOT NULL,
    board_id     BLOB NOT NULL,
    column_id    BLOB NOT NULL,
    position     text NOT NULL,
    title        text NOT NULL,
    description  text NOT NULL DEFAULT '',
    customer_id  BLOB,
    labels       TEXT NOT NULL DEFAULT '[]',
    due_at       TEXT,
    version      INTEGER NOT NULL DEFAULT 1,
    archived     INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (org_id, board_id, id),
    FOREIGN KEY (org_id, board_id) REFERENCES boards(org_id, id),
    FOREIGN KEY (org_id, board_id, column_id) REFERENCES board_columns(org_id, board_id, id),
    FOREIGN KEY (org_id, customer_id) REFERENCES customers(org_id, id)
);
CREATE INDEX cards_board ON cards (board_id, column_id, position);
CREATE INDEX cards_customer ON cards (org_id, customer_id) WHERE customer_id IS NOT NULL;

CREATE TABLE card_assignees (
    org_id    BLOB NOT NULL,
    board_id  BLOB NOT NULL,
    card_id   BLOB NOT NULL,
    user_id   BLOB NOT NULL,
    PRIMARY KEY (card_id, user_id),
    FOREIGN KEY (org_id, board_id, card_id) REFERENCES cards(org_id, board_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships(org_id, user_id)
);
CREATE INDEX card_assignees_user ON card_assignees (org_id, user_id);

CREATE TABLE checklist_items (
    id         BLOB NOT NULL,
    org_id     BLOB NOT NULL,
    board_id   BLOB NOT NULL,
    card_id    BLOB NOT NULL,
    title      text NOT NULL,
    done       INTEGER NOT NULL DEFAULT 0,
    position   text NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (org_id, board_id, card_id) REFERENCES cards(org_id, board_id, id)
);
CREATE INDEX checklist_items_card ON checklist_items (card_id, position);

CREATE TABLE comments (
    id         BLOB NOT NULL,
    org_id     BLOB NOT NULL,
    board_id   BLOB NOT NULL,
    card_id    BLOB NOT NULL,
    author_id  BLOB,              -- null when written by an API key
    body       text NOT NULL,
    mentions   TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (org_id, board_id, card_id) REFERENCES cards(org_id, board_id, id)
);
CREATE INDEX comments_card ON comments (card_id, created_at);

-- The board's history and audit trail, appended by the write-behind; (board_id, op_id) makes
-- a retried op idempotent.
CREATE TABLE board_events (
    org_id     BLOB NOT NULL,
    board_id   BLOB NOT NULL,
    epoch      INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    op_id      BLOB NOT NULL,
    kind       text NOT NULL,
    data       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    at         TEXT NOT NULL,
    PRIMARY KEY (board_id, epoch, seq),
    FOREIGN KEY (org_id, board_id) REFERENCES boards(org_id, id)
);
CREATE INDEX board_events_op ON board_events (board_id, op_id);

CREATE TABLE notifications (
    id         BLOB NOT NULL,
    org_id     BLOB NOT NULL,
    user_id    BLOB NOT NULL,
    kind       text NOT NULL,
    board_id   BLOB,
    card_id    BLOB,
    title      text NOT NULL,
    body       text NOT NULL,
    actor      TEXT NOT NULL,
    read_at    TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships(org_id, user_id)
);
CREATE INDEX notifications_user ON notifications (user_id, created_at DESC);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;

CREATE TABLE api_keys (
    id            BLOB NOT NULL,
    org_id        BLOB NOT NULL REFERENCES organizations(id),
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin','member','worker','customer')),
    key_hash      BLOB NOT NULL UNIQUE,   -- SHA-256 of the whole key; the key itself is never stored
    prefix        text NOT NULL,           -- first characters, to tell keys apart in lists
    boards        TEXT,                   -- board scope (array of ids) or null = every board
    created_by    BLOB NOT NULL,
    expires_at    TEXT,
    last_used_at  TEXT,
    revoked_at    TEXT,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, created_by) REFERENCES memberships(org_id, user_id)
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at);

CREATE TABLE refresh_tokens (
    id           BLOB PRIMARY KEY,
    user_id      BLOB NOT NULL REFERENCES users(id),
    family_id    BLOB NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,
    expires_at   TEXT NOT NULL,
    spent_at     TEXT,     -- rotated: presenting it again means theft -> revoke family
    revoked_at   TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE share_links (
    id          BLOB NOT NULL,
    org_id      BLOB NOT NULL,
    board_id    BLOB NOT NULL,
    card_id     BLOB NOT NULL,
    token_hash  BLOB NOT NULL UNIQUE,
    created_by  BLOB NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (org_id, board_id, card_id) REFERENCES cards(org_id, board_id, id),
    FOREIGN KEY (org_id, created_by) REFERENCES memberships(org_id, user_id)
);
CREATE INDEX share_links_card ON share_links (org_id, card_id);
