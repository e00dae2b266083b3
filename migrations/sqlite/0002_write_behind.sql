-- Idempotency of ops: one row per applied op, holding the answer a retry gets back.
CREATE TABLE applied_ops (
    org_id     BLOB NOT NULL,
    board_id   BLOB NOT NULL,
    op_id      BLOB NOT NULL,
    epoch      INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    result_id  BLOB,
    at         TEXT NOT NULL,
    PRIMARY KEY (board_id, op_id),
    FOREIGN KEY (org_id, board_id) REFERENCES boards(org_id, id)
);
-- Seq keeps rising across epochs, so the log is read by seq alone.
CREATE UNIQUE INDEX board_events_seq ON board_events (board_id, seq);
