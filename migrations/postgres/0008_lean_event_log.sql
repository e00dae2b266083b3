-- The group commit's cost per op, found by EXPLAIN (ANALYZE, WAL) of a 512-op batch (issue 12,
-- BENCHMARKS.md "Lean event log"): inserting the events took 15-17 ms and the applied ops 6 ms,
-- of which the foreign-key triggers (one lookup of the board row per inserted row) were 4-5 ms
-- and 4 ms, and two redundant indexes on board_events another 5 ms.
--
-- The foreign keys guarded nothing the commit does not already guarantee: the group commit
-- writes a board's events and applied ops only after the fencing UPDATE of that board's row,
-- in the same transaction, returned it (so the board exists with the writer's epoch), and
-- boards are archived, never deleted. tests/store_conformance.rs
-- (`a_batch_for_a_missing_board_writes_nothing`) holds that on both stores.
ALTER TABLE board_events DROP CONSTRAINT board_events_org_id_board_id_fkey;
ALTER TABLE applied_ops DROP CONSTRAINT applied_ops_org_id_board_id_fkey;

-- Seq rises across epochs (0002), so (board_id, seq) alone is unique and is what every reader
-- uses; the old key (board_id, epoch, seq) was a second copy of it. It becomes the key.
ALTER TABLE board_events DROP CONSTRAINT board_events_pkey;
ALTER TABLE board_events ADD CONSTRAINT board_events_pkey PRIMARY KEY USING INDEX board_events_seq;

-- No query of the server looks events up by op id (retries are answered from applied_ops,
-- whose key is (board_id, op_id)).
DROP INDEX board_events_op;
