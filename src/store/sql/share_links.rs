//! Share links: a customer's view of one card without an account, found by token hash.

use super::*;

#[derive(sqlx::FromRow)]
struct ShareListRow {
    #[sqlx(flatten)]
    link: ShareLink,
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
                let sql = format!("SELECT {SHARE_COLS} FROM share_links WHERE token_hash = $1");
                Ok(sqlx::query_as(&sql).bind(token_hash).fetch_optional(pool).await?)
            }

            pub async fn get_share_link(pool: &Pool, id: Uuid) -> StoreResult<Option<ShareLink>> {
                let sql = format!("SELECT {SHARE_COLS} FROM share_links WHERE id = $1");
                Ok(sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?)
            }

            pub async fn list_share_links(
                pool: &Pool,
                org_id: Uuid,
                card_id: Option<Uuid>,
                limit: i64,
            ) -> StoreResult<Vec<(ShareLink, String)>> {
                const COLS: &str = "s.id, s.org_id, s.board_id, s.card_id, s.created_by, s.expires_at, \
                     s.revoked_at, s.created_at, c.title";
                // One query for both: a card filter left out matches every card.
                let rows: Vec<ShareListRow> = sqlx::query_as(&format!(
                    "SELECT {COLS} FROM share_links s JOIN cards c ON c.id = s.card_id \
                     WHERE s.org_id = $1 AND ($2 IS NULL OR s.card_id = $2) \
                     ORDER BY s.created_at DESC, s.id DESC LIMIT $3"
                ))
                .bind(org_id)
                .bind(card_id)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                Ok(rows.into_iter().map(|r| (r.link, r.title)).collect())
            }

            pub async fn revoke_share_link(pool: &Pool, org_id: Uuid, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
                let sql = "UPDATE share_links SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL";
                Ok(stamp::$m::stamp_once(pool, sql, org_id, id, at).await?)
            }
        }
    };
}

share_links_sql!(pg, sqlx::Postgres);
share_links_sql!(sqlite, sqlx::Sqlite);
