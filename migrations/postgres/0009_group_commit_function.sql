-- The whole group commit as one call, so that a commit is one round trip (and, sent outside a
-- transaction block, one implicit transaction: no BEGIN, no COMMIT round trips). Sampling
-- pg_stat_activity during `loadtest ops` at 1 000 ops/s (issue 12, BENCHMARKS.md) found the
-- flusher's backend idle in its transaction, waiting for the server's next statement, three
-- quarters of each commit: eight round trips a commit, each about a millisecond on a loaded
-- machine. The statements are the ones the server sent one by one before, in the same order
-- and with the same semantics (each sees the ones before it).
--
-- Rows come as parallel arrays, each row tagged with its group `g`: the 1-based position of
-- its (board, epoch) in b_id / b_epoch. The fencing UPDATE decides which groups are live;
-- rows of the others are not written. Returns the groups fenced.
-- Batches with column changes, or one card twice (on two boards: one statement cannot upsert
-- a row twice), take the statement-by-statement path in the server instead.
CREATE FUNCTION boardroom_group_commit(
    b_id uuid[], b_epoch int8[], b_last int8[], t timestamptz,
    c_g int4[], c_id uuid[], c_org uuid[], c_board uuid[], c_column uuid[], c_position text[],
    c_title text[], c_description text[], c_customer uuid[], c_labels jsonb[],
    c_due timestamptz[], c_version int8[], c_archived bool[], c_priority text[], c_estimate int4[],
    a_g int4[], a_org uuid[], a_board uuid[], a_card uuid[], a_user uuid[],
    i_g int4[], i_id uuid[], i_org uuid[], i_board uuid[], i_card uuid[], i_title text[],
    i_done bool[], i_position text[],
    e_g int4[], e_org uuid[], e_board uuid[], e_epoch int8[], e_seq int8[], e_op uuid[],
    e_kind text[], e_data jsonb[], e_actor jsonb[], e_at timestamptz[], e_ip text[],
    o_g int4[], o_org uuid[], o_board uuid[], o_op uuid[], o_principal uuid[], o_epoch int8[],
    o_seq int8[], o_result uuid[],
    n_g int4[], n_id uuid[], n_org uuid[], n_user uuid[], n_kind text[], n_board uuid[],
    n_card uuid[], n_title text[], n_body text[], n_actor jsonb[], n_created timestamptz[],
    m_g int4[], m_id uuid[], m_org uuid[], m_board uuid[], m_card uuid[], m_author uuid[],
    m_body text[], m_mentions jsonb[], m_created timestamptz[]
) RETURNS int4[] LANGUAGE plpgsql AS $$
DECLARE
    live int4[];
BEGIN
    -- Fencing: a board's rows are written only when it still has the epoch its writer holds.
    WITH u AS (
        UPDATE boards AS b SET last_seq = GREATEST(b.last_seq, v.last_seq), updated_at = t
        FROM UNNEST(b_id, b_epoch, b_last) WITH ORDINALITY AS v(id, epoch, last_seq, g)
        WHERE b.id = v.id AND b.epoch = v.epoch
        RETURNING v.g::int4 AS g
    )
    SELECT COALESCE(array_agg(u.g), '{}') INTO live FROM u;

    IF cardinality(c_id) > 0 THEN
        INSERT INTO cards (id, org_id, board_id, column_id, position, title, description,
            customer_id, labels, due_at, version, archived, created_at, updated_at, priority,
            estimate_minutes)
        SELECT v.id, v.org_id, v.board_id, v.column_id, v.position, v.title, v.description,
            v.customer_id, v.labels, v.due_at, v.version, v.archived, t, t, v.priority,
            v.estimate_minutes
        FROM UNNEST(c_g, c_id, c_org, c_board, c_column, c_position, c_title, c_description,
            c_customer, c_labels, c_due, c_version, c_archived, c_priority, c_estimate)
            AS v(g, id, org_id, board_id, column_id, position, title, description, customer_id,
                 labels, due_at, version, archived, priority, estimate_minutes)
        WHERE v.g = ANY(live)
        ON CONFLICT (id) DO UPDATE SET column_id = excluded.column_id,
            position = excluded.position, title = excluded.title,
            description = excluded.description, customer_id = excluded.customer_id,
            labels = excluded.labels, due_at = excluded.due_at, version = excluded.version,
            priority = excluded.priority, estimate_minutes = excluded.estimate_minutes,
            archived = excluded.archived, updated_at = excluded.updated_at
        WHERE cards.board_id = excluded.board_id;
        -- A card is written whole: its assignees and checklist are replaced.
        DELETE FROM card_assignees AS x USING UNNEST(c_g, c_id, c_board) AS v(g, card_id, board_id)
        WHERE v.g = ANY(live) AND x.card_id = v.card_id AND x.board_id = v.board_id;
        DELETE FROM checklist_items AS x USING UNNEST(c_g, c_id, c_board) AS v(g, card_id, board_id)
        WHERE v.g = ANY(live) AND x.card_id = v.card_id AND x.board_id = v.board_id;
        INSERT INTO card_assignees (org_id, board_id, card_id, user_id)
        SELECT v.o, v.b, v.c, v.u FROM UNNEST(a_g, a_org, a_board, a_card, a_user) AS v(g, o, b, c, u)
        WHERE v.g = ANY(live);
        INSERT INTO checklist_items (id, org_id, board_id, card_id, title, done, position,
            created_at, updated_at)
        SELECT v.i, v.o, v.b, v.c, v.ti, v.d, v.p, t, t
        FROM UNNEST(i_g, i_id, i_org, i_board, i_card, i_title, i_done, i_position)
            AS v(g, i, o, b, c, ti, d, p)
        WHERE v.g = ANY(live);
        -- A card's comments are append-only: the new ones are added, the others kept.
        INSERT INTO comments (id, org_id, board_id, card_id, author_id, body, mentions, created_at)
        SELECT v.i, v.o, v.b, v.c, v.au, v.bo, v.me, v.cr
        FROM UNNEST(m_g, m_id, m_org, m_board, m_card, m_author, m_body, m_mentions, m_created)
            AS v(g, i, o, b, c, au, bo, me, cr)
        WHERE v.g = ANY(live)
        ON CONFLICT (id) DO NOTHING;
    END IF;

    INSERT INTO board_events (org_id, board_id, epoch, seq, op_id, kind, data, actor, at, ip)
    SELECT v.o, v.b, v.e, v.s, v.op, v.k, v.d, v.a, v.at, v.ip
    FROM UNNEST(e_g, e_org, e_board, e_epoch, e_seq, e_op, e_kind, e_data, e_actor, e_at, e_ip)
        AS v(g, o, b, e, s, op, k, d, a, at, ip)
    WHERE v.g = ANY(live);

    INSERT INTO applied_ops (org_id, board_id, op_id, principal_id, epoch, seq, result_id, at)
    SELECT v.o, v.b, v.i, v.p, v.e, v.s, v.r, t
    FROM UNNEST(o_g, o_org, o_board, o_op, o_principal, o_epoch, o_seq, o_result)
        AS v(g, o, b, i, p, e, s, r)
    WHERE v.g = ANY(live)
    ON CONFLICT (board_id, op_id) DO NOTHING;

    IF cardinality(n_id) > 0 THEN
        INSERT INTO notifications (id, org_id, user_id, kind, board_id, card_id, title, body,
            actor, created_at)
        SELECT v.i, v.o, v.u, v.k, v.b, v.c, v.ti, v.bo, v.a, v.cr
        FROM UNNEST(n_g, n_id, n_org, n_user, n_kind, n_board, n_card, n_title, n_body, n_actor,
            n_created) AS v(g, i, o, u, k, b, c, ti, bo, a, cr)
        WHERE v.g = ANY(live)
        ON CONFLICT (id) DO NOTHING;
    END IF;

    RETURN ARRAY(SELECT g::int4 FROM generate_subscripts(b_id, 1) AS g WHERE NOT g = ANY(live));
END
$$;
