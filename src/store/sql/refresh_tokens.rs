//! Refresh tokens, rotated in families: reusing a spent one revokes its whole family.

use super::*;

#[derive(sqlx::FromRow)]
struct RefreshRow {
    id: Uuid,
    user_id: Uuid,
    family_id: Uuid,
    expires_at: DateTime<Utc>,
    spent_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

macro_rules! refresh_tokens_sql {
    ($m:ident, $Db:ty) => {
        pub(super) mod $m {
            use super::*;
            type Pool = sqlx::Pool<$Db>;

            pub async fn insert_refresh_token(pool: &Pool, t: &RefreshToken, token_hash: &[u8]) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(t.id)
                .bind(t.user_id)
                .bind(t.family_id)
                .bind(token_hash)
                .bind(t.expires_at)
                .bind(now())
                .execute(pool)
                .await
                .map_err(|e| map_err(e, "refresh token"))?;
                Ok(())
            }

            pub async fn find_refresh_token(pool: &Pool, token_hash: &[u8]) -> StoreResult<Option<RefreshToken>> {
                let row: Option<RefreshRow> = sqlx::query_as(
                    "SELECT id, user_id, family_id, expires_at, spent_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(pool)
                .await?;
                Ok(row.map(|r| RefreshToken {
                    id: r.id,
                    user_id: r.user_id,
                    family_id: r.family_id,
                    expires_at: r.expires_at,
                    spent_at: r.spent_at,
                    revoked_at: r.revoked_at,
                }))
            }

            pub async fn spend_refresh_token(pool: &Pool, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE refresh_tokens SET spent_at = $2 WHERE id = $1 AND spent_at IS NULL AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(at)
                .execute(pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            pub async fn revoke_refresh_family(pool: &Pool, family_id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                    .bind(family_id)
                    .bind(at)
                    .execute(pool)
                    .await?;
                Ok(())
            }

            pub async fn refresh_family_revoked(pool: &Pool, family_id: Uuid) -> StoreResult<bool> {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NOT NULL LIMIT 1) AS r",
                )
                .bind(family_id)
                .fetch_one(pool)
                .await?;
                Ok(n > 0)
            }
        }
    };
}

refresh_tokens_sql!(pg, sqlx::Postgres);
refresh_tokens_sql!(sqlite, sqlx::Sqlite);
