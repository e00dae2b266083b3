-- Notification preferences per org membership: the kinds a member does not want, and the
-- boards they muted. No row = everything on. A muted notification is never created, so it is
-- neither pushed nor counted as unread (and later kinds default to on, hence "muted" lists).
CREATE TABLE notification_preferences (
    org_id        BLOB NOT NULL,
    user_id       BLOB NOT NULL,
    muted_kinds   TEXT NOT NULL,   -- JSON array of notification kinds ("card.assigned", ...)
    muted_boards  TEXT NOT NULL,   -- JSON array of board ids
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id)
);
