//! Cards read back whole (assignees, checklist, comments) and written outside the write-behind.

use super::*;

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

macro_rules! cards_sql {
    ($m:ident, $Db:ty) => {
        pub(super) mod $m {
            use super::*;
            type Pool = sqlx::Pool<$Db>;
            type Conn = <$Db as sqlx::Database>::Connection;
            use crate::store::sql::insert::$m::insert_rows;

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

cards_sql!(pg, sqlx::Postgres);
cards_sql!(sqlite, sqlx::Sqlite);
