\timing on
CREATE TEMP TABLE src AS SELECT org_id, board_id, epoch, seq, op_id, kind, data::text AS data, actor::text AS actor, at, ip FROM board_events ORDER BY seq DESC LIMIT 512;
\echo === events, as is (x3)
BEGIN;
EXPLAIN (ANALYZE, WAL) INSERT INTO board_events SELECT org_id, board_id, epoch, seq + 1000000, gen_random_uuid(), kind, data::jsonb, actor::jsonb, at, ip FROM src;
ROLLBACK;
BEGIN;
EXPLAIN (ANALYZE, WAL) INSERT INTO board_events SELECT org_id, board_id, epoch, seq + 1000000, gen_random_uuid(), kind, data::jsonb, actor::jsonb, at, ip FROM src;
ROLLBACK;
\echo === events, no FK trigger (replica role)
BEGIN; SET LOCAL session_replication_role = replica;
EXPLAIN (ANALYZE, WAL) INSERT INTO board_events SELECT org_id, board_id, epoch, seq + 1000000, gen_random_uuid(), kind, data::jsonb, actor::jsonb, at, ip FROM src;
ROLLBACK;
BEGIN; SET LOCAL session_replication_role = replica;
EXPLAIN (ANALYZE, WAL) INSERT INTO board_events SELECT org_id, board_id, epoch, seq + 1000000, gen_random_uuid(), kind, data::jsonb, actor::jsonb, at, ip FROM src;
ROLLBACK;
\echo === events, no FK, no pk(board,epoch,seq), no op index
BEGIN; SET LOCAL session_replication_role = replica; ALTER TABLE board_events DROP CONSTRAINT board_events_pkey; DROP INDEX board_events_op;
EXPLAIN (ANALYZE, WAL) INSERT INTO board_events SELECT org_id, board_id, epoch, seq + 1000000, gen_random_uuid(), kind, data::jsonb, actor::jsonb, at, ip FROM src;
ROLLBACK;
\echo === events, no FK, data as text not parsed (cast cost)
BEGIN; SET LOCAL session_replication_role = replica;
EXPLAIN (ANALYZE) SELECT data::jsonb, actor::jsonb FROM src;
ROLLBACK;
\echo === applied ops, as is / no FK
BEGIN;
EXPLAIN (ANALYZE, WAL) INSERT INTO applied_ops (org_id, board_id, op_id, principal_id, epoch, seq, result_id, at) SELECT org_id, board_id, gen_random_uuid(), NULL, epoch, seq + 1000000, NULL, at FROM src;
ROLLBACK;
BEGIN; SET LOCAL session_replication_role = replica;
EXPLAIN (ANALYZE, WAL) INSERT INTO applied_ops (org_id, board_id, op_id, principal_id, epoch, seq, result_id, at) SELECT org_id, board_id, gen_random_uuid(), NULL, epoch, seq + 1000000, NULL, at FROM src;
ROLLBACK;
