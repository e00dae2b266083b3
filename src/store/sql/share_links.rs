//! Share links: a customer's view of one card without an account, found by token hash.

use super::*;

#[derive(sqlx::FromRow)]
struct ShareRow {
    id: Uuid,
    org_id: Uuid,
    board_id: Uuid,
    card_id: Uuid,
    created_by: Uuid,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<ShareRow> for ShareLink {
    fn from(r: ShareRow) -> Self {
        ShareLink {
            id: r.id,
            org_id: r.org_id,
            board_id: r.board_id,
            card_id: r.card_id,
            created_by: r.created_by,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ShareListRow {
    #[sqlx(flatten)]
    link: ShareRow,
    title: String,
}

const SHARE_COLS: &str =
    "id, org_id, board_id, card_id, created_by, expires_at, revoked_at, created_at";

macro_rules! share_links_sql {
    ($m:ident, $Db:ty) => {
        pub(super) mod $m {
            use super::*;
            type Pool = sqlx::Pool<$Db>;

            pub async fn create_share_link(pool: &Pool, l: NewShareLink) -> StoreResult<ShareLink> {
                let t = now();
                let link = ShareLink {
                    id: new_id(),
                    org_id: l.org_id,
                    board_id: l.board_id,
                    card_id: l.card_id,
                    created_by: l.created_by,
                    expires_at: l.expires_at,
                    revoked_at: None,
                    created_at: t,
                };
                sqlx::query(
                    "INSERT INTO share_links (id, org_id, board_id, card_id, token_hash, created_by, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(link.id)
                .bind(link.org_id)
                .bind(link.board_id)
                .bind(link.card_id)
                .bind(&l.token_hash)
                .bind(link.created_by)
                .bind(link.expires_at)
                .bind(t)
                .execute(pool)
                .await
                .map_err(|e| map_err(e, "share link"))?;
                Ok(link)
            }

            pub async fn find_share_link(pool: &Pool, token_hash: &[u8]) -> StoreResult<Option<ShareLink>> {
                let row: Option<ShareRow> =
                    sqlx::query_as(&format!("SELECT {SHARE_COLS} FROM share_links WHERE token_hash = $1"))
                        .bind(token_hash)
                        .fetch_optional(pool)
                        .await?;
                Ok(row.map(ShareLink::from))
            }

            pub async fn get_share_link(pool: &Pool, id: Uuid) -> StoreResult<Option<ShareLink>> {
                let row: Option<ShareRow> =
                    sqlx::query_as(&format!("SELECT {SHARE_COLS} FROM share_links WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(pool)
                        .await?;
                Ok(row.map(ShareLink::from))
            }

            pub async fn list_share_links(
                pool: &Pool,
                org_id: Uuid,
                card_id: Option<Uuid>,
                limit: i64,
            ) -> StoreResult<Vec<(ShareLink, String)>> {
                const COLS: &str = "s.id, s.org_id, s.board_id, s.card_id, s.created_by, s.expires_at, \
                     s.revoked_at, s.created_at, c.title";
                let rows: Vec<ShareListRow> = match card_id {
                    Some(card) => sqlx::query_as(&format!(
                        "SELECT {COLS} FROM share_links s JOIN cards c ON c.id = s.card_id \
                         WHERE s.org_id = $1 AND s.card_id = $2 ORDER BY s.created_at DESC, s.id DESC LIMIT $3"
                    ))
                    .bind(org_id)
                    .bind(card)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?,
                    None => sqlx::query_as(&format!(
                        "SELECT {COLS} FROM share_links s JOIN cards c ON c.id = s.card_id \
                         WHERE s.org_id = $1 ORDER BY s.created_at DESC, s.id DESC LIMIT $2"
                    ))
                    .bind(org_id)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?,
                };
                Ok(rows.into_iter().map(|r| (ShareLink::from(r.link), r.title)).collect())
            }

            pub async fn revoke_share_link(pool: &Pool, org_id: Uuid, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE share_links SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL",
                )
                .bind(org_id)
                .bind(id)
                .bind(at)
                .execute(pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

share_links_sql!(pg, sqlx::Postgres);
share_links_sql!(sqlite, sqlx::Sqlite);
