//! Boards with their columns and cards: the epoch a board's writer holds (its fencing
//! token), cards read back whole (assignees, checklist, comments), and the writers of a card
//! and of a column change that the request path and both group commits share.

use super::*;

#[derive(sqlx::FromRow)]
struct BoardRow {
    id: Uuid,
    org_id: Uuid,
    name: String,
    template: String,
    epoch: i64,
    last_seq: i64,
    archived_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl BoardRow {
    fn into_board(self, columns: Vec<Column>) -> StoreResult<Board> {
        Ok(Board {
            id: self.id,
            org_id: self.org_id,
            name: self.name,
            template: Template::parse(&self.template)
                .ok_or_else(|| StoreError::Corrupt(format!("template {:?}", self.template)))?,
            archived: self.archived_at.is_some(),
            epoch: self.epoch,
            last_seq: self.last_seq,
            created_at: self.created_at,
            columns,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ColumnRow {
    board_id: Uuid,
    id: Uuid,
    name: String,
    position: String,
    is_done: bool,
    color: Option<String>,
}

fn group_columns(rows: Vec<ColumnRow>) -> HashMap<Uuid, Vec<Column>> {
    let mut by_board: HashMap<Uuid, Vec<Column>> = HashMap::new();
    for r in rows {
        by_board.entry(r.board_id).or_default().push(Column {
            id: r.id,
            name: r.name,
            position: r.position,
            is_done: r.is_done,
            color: r.color,
        });
    }
    by_board
}

/// What makes an insert of a column an upsert: the write-behind writes a column's whole state.
const COLUMN_UPSERT: &str = " ON CONFLICT (id) DO UPDATE SET name = excluded.name, position = excluded.position, \
     is_done = excluded.is_done, color = excluded.color, deleted_at = NULL, updated_at = excluded.updated_at \
     WHERE board_columns.board_id = excluded.board_id";

const BOARD_COLS: &str = "id, org_id, name, template, epoch, last_seq, archived_at, created_at";

#[derive(sqlx::FromRow)]
struct CardRow {
    id: Uuid,
    org_id: Uuid,
    board_id: Uuid,
    column_id: Uuid,
    position: String,
    title: String,
    description: String,
    customer_id: Option<Uuid>,
    labels: Json<Vec<String>>,
    due_at: Option<DateTime<Utc>>,
    priority: Option<String>,
    estimate_minutes: Option<i32>,
    version: i64,
    archived: bool,
}

#[derive(sqlx::FromRow)]
struct AssigneeRow {
    card_id: Uuid,
    user_id: Uuid,
}

#[derive(sqlx::FromRow)]
struct ChecklistRow {
    card_id: Uuid,
    id: Uuid,
    title: String,
    done: bool,
    position: String,
}

#[derive(sqlx::FromRow)]
struct CommentRow {
    card_id: Uuid,
    id: Uuid,
    author_id: Option<Uuid>,
    body: String,
    mentions: Json<Vec<Uuid>>,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct CardLocationRow {
    org_id: Uuid,
    board_id: Uuid,
    id: Uuid,
    customer_id: Option<Uuid>,
}

/// What makes an insert of a card an upsert: the write-behind writes a card's whole state, but
/// never moves a card id to another board.
const CARD_UPSERT: &str = " ON CONFLICT (id) DO UPDATE SET column_id = excluded.column_id, position = excluded.position, \
     title = excluded.title, description = excluded.description, customer_id = excluded.customer_id, \
     labels = excluded.labels, due_at = excluded.due_at, version = excluded.version, \
     priority = excluded.priority, estimate_minutes = excluded.estimate_minutes, \
     archived = excluded.archived, updated_at = excluded.updated_at \
     WHERE cards.board_id = excluded.board_id";

macro_rules! boards_sql {
    ($m:ident, $Db:ty) => {
        pub(super) mod $m {
            use super::*;
            type Pool = sqlx::Pool<$Db>;
            type Conn = <$Db as sqlx::Database>::Connection;
            use crate::store::sql::insert::$m::insert_rows;

            /// One column change of the write-behind: upserted (and brought back when it was
            /// deleted) or marked deleted. A column id taken by another board is left alone.
            pub async fn write_column_change(conn: &mut Conn, ch: &RowChange, t: DateTime<Utc>) -> StoreResult<()> {
                match ch {
                    RowChange::UpsertColumn { org_id, board_id, column } => {
                        insert_columns(conn, *org_id, *board_id, std::slice::from_ref(column), t, COLUMN_UPSERT).await
                    }
                    RowChange::DeleteColumn { board_id, column_id } => {
                        sqlx::query("UPDATE board_columns SET deleted_at = $3, updated_at = $3 WHERE id = $1 AND board_id = $2")
                            .bind(column_id)
                            .bind(board_id)
                            .bind(t)
                            .execute(conn)
                            .await?;
                        Ok(())
                    }
                    RowChange::UpsertCard(_) => Ok(()),
                }
            }

            async fn insert_columns(
                conn: &mut Conn,
                org_id: Uuid,
                board_id: Uuid,
                columns: &[Column],
                t: DateTime<Utc>,
                tail: &str,
            ) -> StoreResult<()> {
                insert_rows(
                    conn,
                    "INSERT INTO board_columns (id, org_id, board_id, name, position, is_done, created_at, updated_at, color) ",
                    columns,
                    tail,
                    |mut b, c| {
                        b.push_bind(c.id)
                            .push_bind(org_id)
                            .push_bind(board_id)
                            .push_bind(&c.name)
                            .push_bind(&c.position)
                            .push_bind(c.is_done)
                            .push_bind(t)
                            .push_bind(t)
                            .push_bind(&c.color);
                    },
                )
                .await
                .map_err(|e| map_err(e, "column"))
            }

            async fn columns_of(pool: &Pool, board_ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Vec<Column>>> {
                let mut rows = Vec::new();
                for id in board_ids {
                    let mut part: Vec<ColumnRow> = sqlx::query_as(
                        "SELECT board_id, id, name, position, is_done, color FROM board_columns \
                         WHERE board_id = $1 AND deleted_at IS NULL ORDER BY position",
                    )
                    .bind(id)
                    .fetch_all(pool)
                    .await?;
                    rows.append(&mut part);
                }
                Ok(group_columns(rows))
            }

            async fn boards_from_rows(pool: &Pool, rows: Vec<BoardRow>) -> StoreResult<Vec<Board>> {
                let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
                let mut cols = columns_of(pool, &ids).await?;
                rows.into_iter()
                    .map(|r| {
                        let c = cols.remove(&r.id).unwrap_or_default();
                        r.into_board(c)
                    })
                    .collect()
            }

            pub async fn create_board(pool: &Pool, b: NewBoard) -> StoreResult<Board> {
                let t = now();
                let id = new_id();
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO boards (id, org_id, name, template, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(id)
                .bind(b.org_id)
                .bind(&b.name)
                .bind(b.template.as_str())
                .bind(t)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_err(e, "board"))?;
                insert_columns(&mut *tx, b.org_id, id, &b.columns, t, "").await?;
                tx.commit().await?;
                let mut columns = b.columns;
                columns.sort_by(|x, y| x.position.cmp(&y.position));
                Ok(Board {
                    id,
                    org_id: b.org_id,
                    name: b.name,
                    template: b.template,
                    archived: false,
                    epoch: 0,
                    last_seq: 0,
                    created_at: t,
                    columns,
                })
            }

            pub async fn get_board(pool: &Pool, board_id: Uuid) -> StoreResult<Option<Board>> {
                let row: Option<BoardRow> =
                    sqlx::query_as(&format!("SELECT {BOARD_COLS} FROM boards WHERE id = $1"))
                        .bind(board_id)
                        .fetch_optional(pool)
                        .await?;
                match row {
                    None => Ok(None),
                    Some(r) => Ok(boards_from_rows(pool, vec![r]).await?.pop()),
                }
            }

            pub async fn list_boards(pool: &Pool, org_id: Uuid, filter: BoardFilter) -> StoreResult<Vec<Board>> {
                let base = format!("SELECT {BOARD_COLS} FROM boards b WHERE b.org_id = $1 AND b.archived_at IS NULL");
                let rows: Vec<BoardRow> = match filter {
                    BoardFilter::Nothing => Vec::new(),
                    BoardFilter::All => {
                        sqlx::query_as(&format!("{base} ORDER BY b.created_at, b.id"))
                            .bind(org_id)
                            .fetch_all(pool)
                            .await?
                    }
                    BoardFilter::AssignedTo(user_id) => {
                        sqlx::query_as(&format!(
                            "{base} AND EXISTS (SELECT 1 FROM card_assignees a JOIN cards c ON c.id = a.card_id \
                             WHERE a.board_id = b.id AND a.user_id = $2 AND c.archived = $3) ORDER BY b.created_at, b.id"
                        ))
                        .bind(org_id)
                        .bind(user_id)
                        .bind(false)
                        .fetch_all(pool)
                        .await?
                    }
                    BoardFilter::OfCustomer(customer_id) => {
                        sqlx::query_as(&format!(
                            "{base} AND EXISTS (SELECT 1 FROM cards c WHERE c.board_id = b.id \
                             AND c.customer_id = $2 AND c.archived = $3) ORDER BY b.created_at, b.id"
                        ))
                        .bind(org_id)
                        .bind(customer_id)
                        .bind(false)
                        .fetch_all(pool)
                        .await?
                    }
                };
                boards_from_rows(pool, rows).await
            }

            pub async fn archive_board(pool: &Pool, org_id: Uuid, board_id: Uuid) -> StoreResult<Option<Board>> {
                let sql = "UPDATE boards SET archived_at = $3, updated_at = $3 \
                     WHERE org_id = $1 AND id = $2 AND archived_at IS NULL";
                stamp::$m::stamp_once(pool, sql, org_id, board_id, now()).await?;
                Ok(get_board(pool, board_id).await?.filter(|b| b.org_id == org_id))
            }

            pub async fn claim_board(pool: &Pool, board_id: Uuid) -> StoreResult<Option<(i64, i64)>> {
                let row: Option<(i64, i64)> = sqlx::query_as(
                    "UPDATE boards SET epoch = epoch + 1, updated_at = $2 WHERE id = $1 RETURNING epoch, last_seq",
                )
                .bind(board_id)
                .bind(now())
                .fetch_optional(pool)
                .await?;
                Ok(row)
            }

            pub async fn claim_board_at_least(pool: &Pool, board_id: Uuid, floor: i64) -> StoreResult<Option<(i64, i64)>> {
                let row: Option<(i64, i64)> = sqlx::query_as(
                    "UPDATE boards SET epoch = CASE WHEN epoch + 1 > $3 THEN epoch + 1 ELSE $3 END, \
                     updated_at = $2 WHERE id = $1 RETURNING epoch, last_seq",
                )
                .bind(board_id)
                .bind(now())
                .bind(floor)
                .fetch_optional(pool)
                .await?;
                Ok(row)
            }

            pub async fn create_card(pool: &Pool, card: &Card) -> StoreResult<()> {
                let mut tx = pool.begin().await?;
                write_card(&mut tx, card, now(), false).await?;
                tx.commit().await?;
                Ok(())
            }

            /// A card written whole: its row, assignees, checklist and comments. `upsert` (the
            /// write-behind) writes over the stored card, replaces its assignees and checklist
            /// and skips comments already stored; otherwise the card is new and any clash is a
            /// conflict.
            pub async fn write_card(conn: &mut Conn, card: &Card, t: DateTime<Utc>, upsert: bool) -> StoreResult<()> {
                let (card_tail, comment_tail) = if upsert {
                    (CARD_UPSERT, " ON CONFLICT (id) DO NOTHING")
                } else {
                    ("", "")
                };
                insert_rows(
                    &mut *conn,
                    "INSERT INTO cards (id, org_id, board_id, column_id, position, title, description, \
                     customer_id, labels, due_at, version, archived, created_at, updated_at, priority, estimate_minutes) ",
                    std::slice::from_ref(card),
                    card_tail,
                    |mut b, c| {
                        b.push_bind(c.id)
                            .push_bind(c.org_id)
                            .push_bind(c.board_id)
                            .push_bind(c.column_id)
                            .push_bind(&c.position)
                            .push_bind(&c.title)
                            .push_bind(&c.description)
                            .push_bind(c.customer_id)
                            .push_bind(Json(&c.labels))
                            .push_bind(c.due_at)
                            .push_bind(c.version)
                            .push_bind(c.archived)
                            .push_bind(t)
                            .push_bind(t)
                            .push_bind(&c.priority)
                            .push_bind(c.estimate_minutes);
                    },
                )
                .await
                .map_err(|e| map_err(e, "card"))?;
                if upsert {
                    for table in ["card_assignees", "checklist_items"] {
                        sqlx::query(&format!("DELETE FROM {table} WHERE card_id = $1 AND board_id = $2"))
                            .bind(card.id)
                            .bind(card.board_id)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                insert_rows(
                    &mut *conn,
                    "INSERT INTO card_assignees (org_id, board_id, card_id, user_id) ",
                    &card.assignees,
                    "",
                    |mut b, user_id| {
                        b.push_bind(card.org_id).push_bind(card.board_id).push_bind(card.id).push_bind(user_id);
                    },
                )
                .await
                .map_err(|e| map_err(e, "assignee"))?;
                insert_rows(
                    &mut *conn,
                    "INSERT INTO checklist_items (id, org_id, board_id, card_id, title, done, position, created_at, updated_at) ",
                    &card.checklist,
                    "",
                    |mut b, item| {
                        b.push_bind(item.id)
                            .push_bind(card.org_id)
                            .push_bind(card.board_id)
                            .push_bind(card.id)
                            .push_bind(&item.title)
                            .push_bind(item.done)
                            .push_bind(&item.position)
                            .push_bind(t)
                            .push_bind(t);
                    },
                )
                .await
                .map_err(|e| map_err(e, "checklist item"))?;
                insert_rows(
                    conn,
                    "INSERT INTO comments (id, org_id, board_id, card_id, author_id, body, mentions, created_at) ",
                    &card.comments,
                    comment_tail,
                    |mut b, cm| {
                        b.push_bind(cm.id)
                            .push_bind(card.org_id)
                            .push_bind(card.board_id)
                            .push_bind(card.id)
                            .push_bind(cm.author_id)
                            .push_bind(&cm.body)
                            .push_bind(Json(&cm.mentions))
                            .push_bind(cm.created_at);
                    },
                )
                .await
                .map_err(|e| map_err(e, "comment"))
            }

            pub async fn list_cards(pool: &Pool, board_id: Uuid) -> StoreResult<Vec<Card>> {
                let rows: Vec<CardRow> = sqlx::query_as(
                    "SELECT id, org_id, board_id, column_id, position, title, description, customer_id, \
                     labels, due_at, priority, estimate_minutes, version, archived FROM cards WHERE board_id = $1 ORDER BY position, id",
                )
                .bind(board_id)
                .fetch_all(pool)
                .await?;
                let assignees: Vec<AssigneeRow> = sqlx::query_as(
                    "SELECT card_id, user_id FROM card_assignees WHERE board_id = $1 ORDER BY user_id",
                )
                .bind(board_id)
                .fetch_all(pool)
                .await?;
                let items: Vec<ChecklistRow> = sqlx::query_as(
                    "SELECT card_id, id, title, done, position FROM checklist_items WHERE board_id = $1 ORDER BY position, id",
                )
                .bind(board_id)
                .fetch_all(pool)
                .await?;
                let comments: Vec<CommentRow> = sqlx::query_as(
                    "SELECT card_id, id, author_id, body, mentions, created_at FROM comments \
                     WHERE board_id = $1 ORDER BY created_at, id",
                )
                .bind(board_id)
                .fetch_all(pool)
                .await?;
                let mut cards: Vec<Card> = rows
                    .into_iter()
                    .map(|r| Card {
                        id: r.id,
                        org_id: r.org_id,
                        board_id: r.board_id,
                        column_id: r.column_id,
                        position: r.position,
                        title: r.title,
                        description: r.description,
                        assignees: Vec::new(),
                        customer_id: r.customer_id,
                        labels: r.labels.0,
                        due_at: r.due_at,
                        priority: r.priority,
                        estimate_minutes: r.estimate_minutes,
                        checklist: Vec::new(),
                        comments: Vec::new(),
                        version: r.version,
                        archived: r.archived,
                    })
                    .collect();
                let index: HashMap<Uuid, usize> = cards.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
                for a in assignees {
                    if let Some(&i) = index.get(&a.card_id) {
                        cards[i].assignees.push(a.user_id);
                    }
                }
                for it in items {
                    if let Some(&i) = index.get(&it.card_id) {
                        cards[i].checklist.push(ChecklistItem { id: it.id, title: it.title, done: it.done, position: it.position });
                    }
                }
                for c in comments {
                    if let Some(&i) = index.get(&c.card_id) {
                        cards[i].comments.push(Comment {
                            id: c.id,
                            author_id: c.author_id,
                            body: c.body,
                            mentions: c.mentions.0,
                            created_at: c.created_at,
                        });
                    }
                }
                Ok(cards)
            }

            pub async fn card_location(pool: &Pool, card_id: Uuid) -> StoreResult<Option<CardLocation>> {
                let row: Option<CardLocationRow> =
                    sqlx::query_as("SELECT org_id, board_id, id, customer_id FROM cards WHERE id = $1")
                        .bind(card_id)
                        .fetch_optional(pool)
                        .await?;
                let Some(r) = row else { return Ok(None) };
                let assignees: Vec<(Uuid,)> =
                    sqlx::query_as("SELECT user_id FROM card_assignees WHERE card_id = $1 ORDER BY user_id")
                        .bind(card_id)
                        .fetch_all(pool)
                        .await?;
                Ok(Some(CardLocation {
                    org_id: r.org_id,
                    board_id: r.board_id,
                    card_id: r.id,
                    assignees: assignees.into_iter().map(|a| a.0).collect(),
                    customer_id: r.customer_id,
                }))
            }
        }
    };
}

boards_sql!(pg, sqlx::Postgres);
boards_sql!(sqlite, sqlx::Sqlite);
