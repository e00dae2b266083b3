-- Samples what the benchmark's backends wait on, every :interval seconds for :n samples.
CREATE TABLE IF NOT EXISTS durable_waits (run text, t timestamptz, pid int, state text, wet text, we text, q text);
CREATE OR REPLACE PROCEDURE durable_sample(run text, n int, iv float8) LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..n LOOP
    INSERT INTO durable_waits
      SELECT run, clock_timestamp(), pid, state, wait_event_type, wait_event, left(regexp_replace(query, '\s+', ' ', 'g'), 60)
      FROM pg_stat_activity WHERE datname LIKE 'br_ops_%' AND backend_type = 'client backend' AND pid <> pg_backend_pid();
    PERFORM pg_stat_clear_snapshot();
    PERFORM pg_sleep(iv);
  END LOOP;
END $$;
