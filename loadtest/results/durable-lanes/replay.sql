-- Replays one 512-op group commit built from the kept run's own rows (new seqs and op ids).
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_analyze = on;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_wal = on;
SET auto_explain.log_timing = on;
SET auto_explain.log_buffers = on;
SET client_min_messages = log;
\timing on
CREATE TEMP TABLE bb AS SELECT row_number() OVER (ORDER BY id)::int4 AS g, id, epoch, last_seq FROM boards WHERE id IN (SELECT board_id FROM cards);
CREATE TEMP TABLE ev AS SELECT e.*, bb.g, row_number() OVER (PARTITION BY e.board_id ORDER BY e.seq) AS rn FROM (SELECT * FROM board_events ORDER BY seq DESC LIMIT 512) e JOIN bb ON bb.id = e.board_id;
UPDATE ev SET seq = (SELECT max(seq) FROM board_events) + 1000 * rn + 0, op_id = gen_random_uuid();
SELECT boardroom_group_commit(
  (SELECT array_agg(id ORDER BY g) FROM bb), (SELECT array_agg(epoch ORDER BY g) FROM bb), (SELECT array_agg(last_seq + 1000000 ORDER BY g) FROM bb), now(),
  c.g, c.id, c.org, c.board, c.col, c.pos, c.title, c.descr, c.cust, c.labels, c.due, c.ver, c.arch, c.prio, c.est,
  '{}', '{}', '{}', '{}', '{}',
  '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}',
  e.g, e.o, e.b, e.ep, e.s, e.op, e.k, e.d, e.a, e.at, e.ip,
  e.g, e.o, e.b, e.op, e.p, e.ep, e.s, e.r,
  '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}',
  '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')
FROM (SELECT array_agg(bb.g) g, array_agg(c.id) id, array_agg(c.org_id) org, array_agg(c.board_id) board, array_agg(c.column_id) col, array_agg(c.position) pos,
        array_agg(c.title) title, array_agg(c.description) descr, array_agg(c.customer_id) cust, array_agg(c.labels) labels, array_agg(c.due_at) due,
        array_agg(c.version + 1) ver, array_agg(c.archived) arch, array_agg(c.priority) prio, array_agg(c.estimate_minutes) est
      FROM cards c JOIN bb ON bb.id = c.board_id) c,
     (SELECT array_agg(g) g, array_agg(org_id) o, array_agg(board_id) b, array_agg(epoch) ep, array_agg(seq) s, array_agg(op_id) op, array_agg(kind) k,
        array_agg(data) d, array_agg(actor) a, array_agg(at) at, array_agg(ip) ip, array_agg(NULL::uuid) p, array_agg(NULL::uuid) r FROM ev) e;
