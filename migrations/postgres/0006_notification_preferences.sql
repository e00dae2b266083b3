-- Notification preferences per org membership: the kinds a member does not want, and the
-- boards they muted. No row = everything on. A muted notification is never created, so it is
-- neither pushed nor counted as unread (and later kinds default to on, hence "muted" lists).
CREATE TABLE notification_preferences (
    org_id        uuid NOT NULL,
    user_id       uuid NOT NULL,
    muted_kinds   jsonb NOT NULL,   -- array of notification kinds ("card.assigned", ...)
    muted_boards  jsonb NOT NULL,   -- array of board ids
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (org_id, user_id),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id)
);
