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

macro_rules! cards_sql {
    ($m:ident, $Db:ty) => {
        pub(super) mod $m {
            use super::*;
            type Pool = sqlx::Pool<$Db>;

            pub async fn create_card(pool: &Pool, card: &Card) -> StoreResult<()> {
                let t = now();
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO cards (id, org_id, board_id, column_id, position, title, description, \
                     customer_id, labels, due_at, version, archived, created_at, updated_at, priority, estimate_minutes) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15)",
                )
                .bind(card.id)
                .bind(card.org_id)
                .bind(card.board_id)
                .bind(card.column_id)
                .bind(&card.position)
                .bind(&card.title)
                .bind(&card.description)
                .bind(card.customer_id)
                .bind(Json(&card.labels))
                .bind(card.due_at)
                .bind(card.version)
                .bind(card.archived)
                .bind(t)
                .bind(&card.priority)
                .bind(card.estimate_minutes)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_err(e, "card"))?;
                for user_id in &card.assignees {
                    sqlx::query(
                        "INSERT INTO card_assignees (org_id, board_id, card_id, user_id) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(card.org_id)
                    .bind(card.board_id)
                    .bind(card.id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_err(e, "assignee"))?;
                }
                for item in &card.checklist {
                    sqlx::query(
                        "INSERT INTO checklist_items (id, org_id, board_id, card_id, title, done, position, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                    )
                    .bind(item.id)
                    .bind(card.org_id)
                    .bind(card.board_id)
                    .bind(card.id)
                    .bind(&item.title)
                    .bind(item.done)
                    .bind(&item.position)
                    .bind(t)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_err(e, "checklist item"))?;
                }
                for c in &card.comments {
                    sqlx::query(
                        "INSERT INTO comments (id, org_id, board_id, card_id, author_id, body, mentions, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(c.id)
                    .bind(card.org_id)
                    .bind(card.board_id)
                    .bind(card.id)
                    .bind(c.author_id)
                    .bind(&c.body)
                    .bind(Json(&c.mentions))
                    .bind(c.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_err(e, "comment"))?;
                }
                tx.commit().await?;
                Ok(())
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
