-- Audit log (issue 13.2): every change that is not a board op (members, roles, API keys,
-- share links, org settings, logins), one row each. Board ops are not copied here: they are
-- already durable in board_events (actor, kind, data, at) and the audit endpoint reads both.
CREATE TABLE audit_log (
    id           BLOB PRIMARY KEY,          -- UUIDv7: time-ordered
    org_id       BLOB NOT NULL REFERENCES organizations(id),
    at           TEXT NOT NULL,
    kind         text NOT NULL,             -- e.g. member.role_changed, login.failed
    actor_kind   text NOT NULL,             -- user | api_key | anonymous
    actor_id     BLOB,                      -- null when nobody could be identified
    actor_name   text NOT NULL DEFAULT '',
    ip           text,                      -- the client's address (ClientIp), as text
    board_id     BLOB,
    target_id    BLOB,                      -- the member, key, link... the change is about
    old_value    TEXT,                      -- JSON
    new_value    TEXT                       -- JSON
);
CREATE INDEX audit_log_org ON audit_log (org_id, at DESC, id DESC);

-- The client address an op came from (nullable: rows from before, and ops whose path does
-- not carry it yet). The org index serves the org-wide audit listing of board ops.
ALTER TABLE board_events ADD COLUMN ip text;
CREATE INDEX board_events_org_at ON board_events (org_id, at DESC);
